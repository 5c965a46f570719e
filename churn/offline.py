"""Offline scoring of a CSV file: streamed, vectorized, one output row per input row, in input order.

The engine behind `campaign.py score INPUT.csv --offline`. The input is cut into blocks of whole
lines; Arrow's C++ reader parses each block (on two threads: Arrow releases the GIL), the
validator's own rules (normalization, number parsing, allowed flags) run once per distinct value of
a block rather than once per cell, plain decimal numbers are converted by Arrow, and scoring is
column-wise with the model's weights summed in Scorer's order. A row that fails any check is
handed, as the dict csv.DictReader would give, to CustomerValidator.validate, so its error is
exactly the one ChurnService.score_rows reports. Memory is bounded by a few blocks.

The output bytes are those the chunked campaign path writes (churn.rowio.output_row through
csv.writer): the same float text (repr), true/false, percentile with 4 decimals, reasons joined
with ";", "<code>: <message>" errors and csv.writer's quoting. tests/test_offline.py compares them.

A block Arrow would not read exactly as csv.reader does (a quote character anywhere, a bare carriage
return, a row with another number of cells than the header, bytes that are not UTF-8) stops the
fast path there: `FastRun.finished` stays False and the caller carries on from `rows_done` with the
Python reader, which then gives those rows their usual treatment (and their usual errors).
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from churn import features
from churn.errors import Code
from churn.report import Summary
from churn.rowio import OUTPUT_COLUMNS
from churn.schemas import MAX_ID_LENGTH, FieldError, InvalidCustomer, parse_number
from churn.scoring import sigmoids
from churn.service import ChurnService

CHUNK_BYTES = 4 << 20  # ~30,000 Telco rows per block: bounded memory, few Python calls per row
WORKERS = 2  # blocks parsed and scored at once (the machines this runs on have 2 cores)
PLAIN_DECIMAL = r"^[0-9]{1,15}(\.[0-9]{1,15})?$"  # text Arrow's cast and Python's float() read alike
BOM = b"\xef\xbb\xbf"
MANY_VALUES = 64  # a number column with more distinct values in a block is converted by Arrow, not parse()


def csv_special_characters() -> str:
    """The characters that make csv.writer (excel dialect, "\\n" line ends) quote a field, asked of it."""
    out = ""
    for c in ',"\n\r\t;':
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow([f"a{c}b"])
        if text.getvalue().startswith('"'):
            out += c
    return out


QUOTED = csv_special_characters()
NEEDS_QUOTES = "[" + "".join("\\n" if c == "\n" else "\\r" if c == "\r" else c for c in QUOTED) + "]"


def score_csv(
    input_path: Path | str,
    output_path: Path | str,
    service: ChurnService,
    *,
    explain: int = 0,
    chunk_bytes: int = CHUNK_BYTES,
) -> Summary:
    """Score every row of input_path into output_path (header included); the threshold is the service's.

    Raises ValueError where the fast path cannot read the file (campaign.py then uses the Python reader).
    """
    run = FastRun(Path(input_path), service, explain, chunk_bytes)
    with open(output_path, "wb") as out:
        out.write((",".join(OUTPUT_COLUMNS) + "\n").encode())
        for _, data in run.blocks():
            out.write(data)
    if not run.finished:
        raise ValueError(f"{input_path}: {run.stopped}")
    return run.summary


class FastRun:
    """One pass of the fast path over a CSV file: yields (rows, output bytes) per block, in order."""

    def __init__(self, path: Path, service: ChurnService, explain: int, chunk_bytes: int | None = None):
        self.path = path
        self.service = service
        self.explain = explain
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        self.summary = Summary()
        self.rows_done = 0
        self.bytes_done = 0  # of the input, header included: the progress bar's share
        self.finished = False
        self.stopped = ""  # why the fast path stopped early

    def blocks(self) -> Iterator[tuple[int, bytes]]:
        with self.path.open("rb") as f:
            header = read_header(f)
            self.bytes_done = f.tell()
            if isinstance(header, str):
                self.stopped = header
                return
            chunk = Chunk(self.service, {features.normalize(h): h for h in header}, self.explain, header)
            if len(chunk.names) != len(header):
                self.stopped = "the header names a column twice (after normalizing case and spaces)"
                return
            yield from self.in_order(chunk, whole_lines(f, self.chunk_bytes))

    def in_order(self, chunk: Chunk, blocks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
        for size, result in scored_in_order(chunk, blocks):
            if isinstance(result, str):
                self.stopped = result
                return
            rows, data, summary = result
            for key in ("rows", "scored", "rejected", "churners"):
                setattr(self.summary, key, getattr(self.summary, key) + getattr(summary, key))
            self.rows_done += rows
            self.bytes_done += size
            yield rows, data
        self.finished = True


BlockResult = tuple[int, bytes, Summary] | str


def scored_in_order(chunk: Chunk, blocks: Iterator[bytes]) -> Iterator[tuple[int, BlockResult]]:
    """Each block's size and result in input order, WORKERS blocks in flight (plus the one being read)."""
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="offline")
    pending: deque[tuple[int, Future[BlockResult]]] = deque()
    try:
        for block in blocks:
            pending.append((len(block), pool.submit(chunk.block, block)))
            if len(pending) > WORKERS:
                size, future = pending.popleft()
                yield size, future.result()
        while pending:
            size, future = pending.popleft()
            yield size, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_header(f: io.BufferedReader) -> list[str] | str:
    """The header line's names, or why the fast path leaves this file to the Python reader."""
    line = f.readline()
    if line.startswith(BOM):
        line = line[len(BOM) :]
    if not line.endswith(b"\n") or b'"' in line or line.count(b"\r") != line.count(b"\r\n"):
        return "the header line is not plain"
    try:
        names = line.decode("utf-8").rstrip("\n").removesuffix("\r").split(",")
    except UnicodeDecodeError:
        return "the header is not UTF-8"
    if len(set(names)) != len(names) or not all(n.strip() for n in names):
        return "the header's names are not distinct and non-blank"
    return names


def whole_lines(f: io.BufferedReader, size: int) -> Iterator[bytes]:
    """The rest of a binary file in blocks of about `size` bytes that end at a line end."""
    rest = b""
    while True:
        data = f.read(size)
        if not data:
            if rest:
                yield rest
            return
        data = rest + data if rest else data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        yield data[:cut]
        rest = data[cut:]


class Chunk:
    """Validate, score and format one block of rows."""

    def __init__(self, service: ChurnService, names: dict[str, str], explain: int, header: list[str] | None = None):
        self.service = service
        self.scorer = service.scorer
        self.explainer = service.model.explainer
        self.names = names  # canonical field -> the input's header
        self.header = header or list(names.values())
        self.explain = explain
        self.flags = service.validator.flag_values
        self.fields = self.scorer.fields
        self.name_rank = np.argsort(np.argsort(np.array(self.fields)))  # tie-break of reasons: by field name
        few_values = [self.names[f] for f in self.fields if f in self.names and f not in features.NUMERICAL]
        types = dict.fromkeys(self.header, pa.string()) | dict.fromkeys(
            few_values, pa.dictionary(pa.int32(), pa.string())
        )
        self.convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)

    def block(self, data: bytes) -> tuple[int, bytes, Summary] | str:
        """One block of input lines to output lines, or why the Python reader must take this block."""
        if b'"' in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
            return "a quote or a bare carriage return (the Python reader takes it from here)"
        read = pacsv.ReadOptions(column_names=self.header, use_threads=False, block_size=len(data) + 1)
        try:
            table = pacsv.read_csv(io.BytesIO(data), read_options=read, convert_options=self.convert)
        except pa.ArrowInvalid as e:
            return f"a block Arrow does not read as csv.reader would ({e})"
        batch = table.combine_chunks().to_batches()
        if not batch:
            return 0, b"", Summary()
        summary = Summary()
        return batch[0].num_rows, self.score(batch[0], summary), summary

    def score(self, batch: pa.RecordBatch, summary: Summary) -> bytes:
        n = batch.num_rows
        bad = np.zeros(n, dtype=bool)
        terms: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for field in self.fields:
            terms[field], codes[field], invalid = self.column(batch, field)
            bad |= invalid
        bad |= self.bad_ids(batch)
        categorical = np.array([terms[f] for f in self.scorer.categorical]).reshape(len(self.scorer.categorical), n)
        probabilities = sigmoids(self.scorer.logits_from_columns(categorical, terms))
        good = ~bad
        churn = probabilities >= self.service.threshold
        summary.rows += n
        summary.scored += int(good.sum())
        summary.rejected += int(bad.sum())
        summary.churners += int((churn & good).sum())
        reasons = self.reasons(terms, codes, good) if self.explain else None
        columns = OutputColumns(
            self.customerids(batch), probabilities, churn, self.explainer.percentiles(probabilities)
        )
        return columns.csv(bad, reasons, self.errors(batch, np.flatnonzero(bad)))

    def column(self, batch: pa.RecordBatch, field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A field's term per row (weight, or value for numbers), its reason code per row, and bad rows."""
        n = batch.num_rows
        header = self.names.get(field)
        if header is None:  # the column is missing: every row fails (missing_field)
            return np.zeros(n), np.full(n, "", dtype=object), np.ones(n, dtype=bool)
        encoded = pc.dictionary_encode(batch.column(batch.schema.get_field_index(header)))
        term, code, invalid = self.distinct(field, encoded.dictionary)
        at = numpy_of(encoded.indices)
        return term[at], code[at] if self.explain else code, invalid[at]  # codes serve only the reasons

    def distinct(self, field: str, dictionary: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each distinct value's term, reason code and validity, by the validator's rules."""
        if field in features.NUMERICAL and len(dictionary) > MANY_VALUES:
            return self.numbers(field, dictionary)
        parsed = [self.parse(field, value) for value in dictionary.to_pylist()]
        term = np.array([p[0] for p in parsed] or [0.0], dtype=np.float64)
        code = np.array([p[1] for p in parsed] or [""], dtype=object)
        invalid = np.array([p[2] for p in parsed] or [True], dtype=bool)
        return term, code, invalid

    def numbers(self, field: str, values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Plain decimals converted by Arrow (exactly as float() reads them); any other text by parse()."""
        n = len(values)
        plain = pc.match_substring_regex(values, PLAIN_DECIMAL)
        mask = numpy_of(pc.cast(plain, pa.uint8())).view(bool)
        term, invalid = np.zeros(n), np.zeros(n, dtype=bool)
        term[mask] = numpy_of(pc.cast(values.filter(plain), pa.float64()))
        odd = np.flatnonzero(~mask).tolist()
        for i, value in zip(odd, values.filter(pc.invert(plain)).to_pylist(), strict=True):
            term[i], _, invalid[i] = self.parse(field, value)
        code = np.full(n, "", dtype=object)
        if self.explain:
            mean = self.explainer.means.get(field)
            high = term > mean if mean is not None else np.zeros(n, dtype=bool)
            code = np.where(high, f"{field}=high", f"{field}=low").astype(object)
        return term, code, invalid

    def parse(self, field: str, value: str) -> tuple[float, str, bool]:
        """One distinct cell value: (weight or number, reason code, invalid), by the validator's rules."""
        table = self.scorer.categorical.get(field)
        if table is not None:
            canonical = (table.get(value) is not None and value) or features.normalize(value)
            if canonical in table:
                return table[canonical], f"{field}={canonical}", False
            return 0.0, "", True
        errors: list[FieldError] = []
        number = parse_number(field, value, errors)
        if number is None:
            return 0.0, "", True
        allowed = self.flags.get(field)
        if allowed is not None:
            return (float(int(number)), f"{field}={int(number)}", False) if number in allowed else (0.0, "", True)
        high = number > self.explainer.means[field] if field in self.explainer.means else False
        return number, f"{field}={'high' if high else 'low'}", False

    def bad_ids(self, batch: pa.RecordBatch) -> np.ndarray:
        header = self.names.get(features.ID_FIELD)
        if header is None:
            return np.zeros(batch.num_rows, dtype=bool)
        lengths = pc.utf8_length(batch.column(batch.schema.get_field_index(header)))
        return np.asarray(numpy_of(lengths) > MAX_ID_LENGTH)

    def customerids(self, batch: pa.RecordBatch) -> pa.Array:
        """The ids as the output shows them: "" where absent or too long (the validator drops such an id)."""
        header = self.names.get(features.ID_FIELD)
        if header is None:
            return pa.array([""] * batch.num_rows, pa.string())
        ids = batch.column(batch.schema.get_field_index(header))
        too_long = pc.greater(pc.utf8_length(ids), MAX_ID_LENGTH)
        return pc.if_else(too_long, "", ids)

    def errors(self, batch: pa.RecordBatch, bad: np.ndarray) -> dict[int, str]:
        """The per-row validator's error for each bad row, as "<code>: <message>"."""
        out: dict[int, str] = {}
        if len(bad):
            for i, row in zip(bad.tolist(), batch.take(arrow_of(bad)).to_pylist(), strict=True):
                try:
                    self.service.validator.validate(row)
                except InvalidCustomer as e:
                    out[i] = f"{Code.VALIDATION_FAILED}: {e}"
                else:  # cannot happen: the chunk's checks are the validator's; fail loudly rather than guess
                    raise AssertionError(f"row {i} was rejected column-wise but passes the validator")
        return out

    def reasons(self, terms: dict[str, np.ndarray], codes: dict[str, np.ndarray], good: np.ndarray) -> pa.Array:
        """The `explain` codes raising the risk most, as Explainer.reasons orders them, joined with ";"."""
        contributions = np.stack(
            [self.term(f, terms[f]) - base for f, base in zip(self.fields, self.explainer.baseline, strict=True)],
            axis=1,
        )
        ranks = np.broadcast_to(self.name_rank, contributions.shape)
        order = np.lexsort((ranks, contributions), axis=1)[:, ::-1][:, : self.explain]
        chosen = np.take_along_axis(contributions, order, axis=1)
        code_matrix = np.stack([codes[f] for f in self.fields], axis=1)
        chosen_codes = np.take_along_axis(code_matrix, order, axis=1)
        # Sorted from the largest contribution down, the positive ones are a prefix of each row.
        positive = (chosen > 0) & good[:, None]
        offsets = np.concatenate(([0], np.cumsum(positive.sum(axis=1)))).astype(np.int32)
        codes_list = pa.ListArray.from_arrays(arrow_of(offsets), pa.array(chosen_codes[positive], pa.string()))
        return pc.binary_join(codes_list, ";")

    def term(self, field: str, values: np.ndarray) -> np.ndarray:
        """A field's term in the log-odds, as Scorer.contributions computes it."""
        weight = self.scorer.numeric.get(field)
        return values if weight is None else weight * values


@dataclass
class OutputColumns:
    """A block's results, turned into the campaign's CSV lines without a Python loop over clean rows."""

    ids: pa.Array
    probabilities: np.ndarray
    churn: np.ndarray
    percentiles: np.ndarray

    def csv(self, bad: np.ndarray, reasons: pa.Array | None, errors: dict[int, str]) -> bytes:
        n = len(self.probabilities)
        empty = pa.repeat(pa.scalar("", pa.string()), n)
        fields = [
            quoted(self.ids),
            float_text(self.probabilities),
            pc.if_else(arrow_of(self.churn), "true", "false"),
            fixed4_text(self.percentiles),
            quoted(reasons) if reasons is not None else empty,
            empty,
        ]
        if bad.any():  # a rejected row shows its id and its error only
            mask = arrow_of(bad)
            fields[1:5] = [pc.if_else(mask, "", f) for f in fields[1:5]]
            text: list[str | None] = [None] * n
            for i, message in errors.items():
                text[i] = quote_one(message)
            fields[5] = pc.fill_null(pa.array(text, pa.string()), "")
        fields[5] = pc.binary_join_element_wise(fields[5], "", "\n")  # the line end, after the last field
        return text_bytes(pc.binary_join_element_wise(*fields, ","))


NUMPY_TYPES = {"int32": np.int32, "int64": np.int64, "uint8": np.uint8, "double": np.float64}


def numpy_of(array: pa.Array) -> np.ndarray:
    """A null-free numeric array's values, without a copy."""
    if array.null_count:
        raise ValueError("unexpected nulls")
    dtype = np.dtype(NUMPY_TYPES[str(array.type)])
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


ARROW_TYPES = {np.dtype(np.int32): pa.int32(), np.dtype(np.int64): pa.int64(), np.dtype(np.float64): pa.float64()}


def arrow_of(values: np.ndarray) -> pa.Array:
    """A numpy array as an Arrow array around the same memory (no copy, no type inference)."""
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(ARROW_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])


def text_bytes(lines: pa.Array) -> bytes:
    """The concatenated values of a string array: its data buffer between the first and last offsets."""
    if not len(lines):
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    return bytes(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])


def float_text(values: np.ndarray) -> pa.Array:
    """repr() of each float: Arrow's shortest round-trip text, identical to repr in [1e-4, 1e16) for non-integers."""
    text = pc.cast(arrow_of(values), pa.string())
    odd = (values < 1e-4) | (values >= 1e16) | (values == np.floor(values))
    if not odd.any():
        return text
    fixed: list[str | None] = [None] * len(values)
    for i in np.flatnonzero(odd).tolist():
        fixed[i] = repr(float(values[i]))
    return pc.if_else(arrow_of(odd), pa.array(fixed, pa.string()), text)


def fixed4_text(values: np.ndarray) -> pa.Array:
    """f"{v:.4f}" of each non-negative float; values within a hair of a rounding tie are left to Python."""
    scaled = values * 10_000.0
    units = np.rint(scaled)
    near_tie = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6
    odd = near_tie | ~np.isfinite(values) | (values < 0) | (values >= 1e9)
    units[odd] = 0
    whole = units.astype(np.int64)
    integer, fraction = np.divmod(whole, 10_000)
    text = pc.binary_join_element_wise(
        pc.cast(arrow_of(integer), pa.string()), pc.utf8_lpad(pc.cast(arrow_of(fraction), pa.string()), 4, "0"), "."
    )
    if not odd.any():
        return text
    fixed: list[str | None] = [None] * len(values)
    for i in np.flatnonzero(odd).tolist():
        fixed[i] = f"{float(values[i]):.4f}"
    return pc.if_else(arrow_of(odd), pa.array(fixed, pa.string()), text)


def quoted(column: pa.Array) -> pa.Array:
    """csv.writer's minimal quoting, applied to the values that need it."""
    column = pc.fill_null(column, "")
    needs = pc.match_substring_regex(column, NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return column
    wrapped = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, wrapped, column)


def quote_one(text: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([text])
    value = out.getvalue()
    return value if value != '""' else ""
