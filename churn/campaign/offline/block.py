"""Validate, score and format one block of CSV lines column-wise: the offline engine's inner loop.

Arrow's C++ reader parses the block (every cell as bytes: the block's UTF-8 is checked once, as a
whole). Every verdict is churn.core.contract's: a categorical field's cells are looked up among the
spellings already known to be valid (one hash lookup per cell, in C), and the contract's check runs
only for a spelling not seen before; number fields are checked once per distinct text, or, where the
text is a plain decimal, converted by Arrow and checked by the contract's array form of its range.
Scoring is column-wise with the model's weights summed in Scorer's order. A row that fails any check
is handed, as the dict csv.DictReader would give, to CustomerValidator.validate, so its error is
exactly the one ChurnService.score_rows reports; warnings come from the contract's column form.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from churn.campaign.arrowtext import arrow_of, numpy_of
from churn.campaign.facts import MONTHLY
from churn.campaign.output import OutputColumns, OutputText, from_predictions, warnings_cell
from churn.core import features
from churn.core.contract import MAX_ID_LENGTH, NumberField
from churn.core.scoring import sigmoids
from churn.core.service import ChurnService
from churn.core.validation import InvalidCustomer
from churn.errors import Code

PLAIN_DECIMAL = r"^[0-9]{1,15}(\.[0-9]{1,15})?$"  # text Arrow's cast and Python's float() read alike
MANY_VALUES = 64  # a number column with more distinct values in a block is converted by Arrow, not parse()
MAX_SPELLINGS = 256  # valid spellings remembered per categorical field (there are a handful in practice)

BlockResult = OutputText | str  # the block's output rows; or why the Python reader must take it


@dataclass(frozen=True)
class Spellings:
    """A categorical field's cell texts known to be valid, with each one's weight and reason code."""

    texts: pa.Array
    terms: np.ndarray
    codes: np.ndarray


class BlockScorer:
    """Validate, score and format blocks of one CSV file's lines (safe to call from several threads)."""

    def __init__(self, service: ChurnService, header: list[str], explain: int):
        self.service = service
        self.scorer = service.scorer
        self.explainer = service.model.explainer
        self.header = header
        self.names = {features.normalize(h): h for h in header}  # canonical field -> the input's header
        self.explain = explain
        self.contract = service.contract
        self.fields = self.scorer.fields
        # Only the model's fields and the id are converted (the validator ignores other columns), and
        # as bytes, not strings: the block's UTF-8 is checked once in block(), not once per column.
        used = [h for h in header if features.normalize(h) in (*self.fields, features.ID_FIELD)]
        self.columns = used
        self.convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(used, pa.binary()), include_columns=used, strings_can_be_null=False
        )
        self.spellings = {field: self.canonical_spellings(field) for field in self.scorer.categorical}
        self.learning = threading.Lock()

    def canonical_spellings(self, field: str) -> Spellings:
        """The values the contract accepts as they are (the model's vocabulary), to start with."""
        check = self.contract.fields[field].check
        table = {v: w for v, w in self.scorer.categorical[field].items() if check(v) == (v, None)}
        codes = np.array([self.explainer.code(field, value) for value in table], dtype=object)
        return Spellings(pa.array(list(table), pa.string()), np.array(list(table.values())), codes)

    def block(self, data: bytes) -> BlockResult:
        """One block of input lines to output lines, or why the Python reader must take this block."""
        if b'"' in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
            return "a quote or a bare carriage return (the Python reader takes it from here)"
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return "bytes that are not UTF-8 (the Python reader takes it from here)"
        read = pacsv.ReadOptions(column_names=self.header, use_threads=False, block_size=len(data) + 1)
        try:
            # A BufferReader hands Arrow the bytes themselves; a BytesIO would be copied into Arrow's buffers.
            table = pacsv.read_csv(pa.BufferReader(data), read_options=read, convert_options=self.convert)
        except pa.ArrowInvalid as e:
            return f"a block Arrow does not read as csv.reader would ({e})"
        batches = table.combine_chunks().to_batches()
        if not batches:  # no rows (blank lines only)
            return from_predictions([]).text()
        # The whole block is valid UTF-8, so every cell is: view the bytes as strings, without a copy.
        batch = pa.RecordBatch.from_arrays([c.view(pa.string()) for c in batches[0].columns], names=self.columns)
        return self.score(batch).text()

    def score(self, batch: pa.RecordBatch) -> OutputColumns:
        n = batch.num_rows
        bad = np.zeros(n, dtype=bool)
        terms: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for field in self.fields:
            terms[field], codes[field], invalid = self.column(batch, field)
            if invalid is not None:
                bad |= invalid
        ids, too_long = self.customerids(batch)
        bad |= too_long
        categorical = [terms[f] for f in self.scorer.categorical]
        probabilities = sigmoids(self.scorer.logits_from_columns(categorical, terms))
        good = ~bad
        return OutputColumns(
            customerids=ids,
            probabilities=probabilities,
            churn=probabilities >= self.service.threshold,
            percentiles=self.explainer.percentiles(probabilities),
            rejected=bad,
            errors=self.errors(batch, np.flatnonzero(bad)),
            warnings=self.warnings(terms, good),
            reasons=self.reasons(terms, codes, good) if self.explain else None,
            monthly_charges=terms[MONTHLY],
        )

    def warnings(self, terms: dict[str, np.ndarray], good: np.ndarray) -> dict[int, str]:
        """The warnings cell of each scored row that has any, by row position."""
        found = self.contract.column_warnings({f: terms[f] for f in features.NUMERICAL}, among=good)
        return {i: warnings_cell([w.as_dict() for w in ws]) for i, ws in found.items()}

    def column(self, batch: pa.RecordBatch, field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A field's term per row (weight, or value for numbers), its reason code per row, and its bad
        rows (None when there are none)."""
        n = batch.num_rows
        header = self.names.get(field)
        if header is None:  # the column is missing: every row fails (missing_field)
            return np.zeros(n), np.full(n, "", dtype=object), np.ones(n, dtype=bool)
        values = batch.column(batch.schema.get_field_index(header))
        if field in self.spellings:
            term, code, invalid, at = self.lookup(field, values)
        else:
            encoded = pc.dictionary_encode(values)
            term, code, invalid = self.distinct(field, encoded.dictionary)
            at = numpy_of(encoded.indices)
        # codes serve only the reasons; most blocks have no invalid cell, which spares a gather
        # take(), not term[at]: fancy indexing converts the int32 indices to intp first
        return term.take(at), code.take(at) if self.explain else code, invalid.take(at) if invalid.any() else None

    def lookup(self, field: str, values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A categorical column by its known spellings; texts not seen before are checked by parse()."""
        known = self.spellings[field]
        at = pc.index_in(values, value_set=known.texts)
        if not at.null_count:
            return known.terms, known.codes, np.zeros(len(known.terms), dtype=bool), numpy_of(at)
        new = pc.unique(values.filter(pc.is_null(at)))
        parsed = [self.parse(field, text) for text in new.to_pylist()]
        texts = pa.concat_arrays([known.texts, new])
        terms = np.concatenate([known.terms, [p[0] for p in parsed]])
        codes = np.concatenate([known.codes, np.array([p[1] for p in parsed], dtype=object)])
        invalid = np.concatenate([np.zeros(len(known.terms), dtype=bool), [p[2] for p in parsed]])
        self.learn(field, texts.filter(arrow_of(~invalid)), terms[~invalid], codes[~invalid])
        return terms, codes, invalid, numpy_of(pc.index_in(values, value_set=texts))

    def learn(self, field: str, texts: pa.Array, terms: np.ndarray, codes: np.ndarray) -> None:
        """Remember a field's valid spellings for the next blocks (a raw export repeats a handful)."""
        with self.learning:
            if len(self.spellings[field].texts) < len(texts) <= MAX_SPELLINGS:
                self.spellings[field] = Spellings(texts, terms, codes)

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
        """Plain decimals converted by Arrow (exactly as float() reads them) and range-checked by the
        contract; any other text by parse()."""
        n = len(values)
        plain = pc.match_substring_regex(values, PLAIN_DECIMAL)
        mask = numpy_of(pc.cast(plain, pa.uint8())).view(bool)
        term, invalid = np.zeros(n), np.zeros(n, dtype=bool)
        term[mask] = numpy_of(pc.cast(values.filter(plain), pa.float64()))
        spec = self.contract.fields[field]
        assert isinstance(spec, NumberField)  # noqa: S101 - only number fields have many distinct values
        invalid[mask] = ~spec.accepts_array(term[mask])
        odd = np.flatnonzero(~mask).tolist()
        for i, value in zip(odd, values.filter(pc.invert(plain)).to_pylist(), strict=True):
            term[i], _, invalid[i] = self.parse(field, value)
        code = self.explainer.codes(field, term) if self.explain else np.full(n, "", dtype=object)
        return term, code, invalid

    def parse(self, field: str, value: str) -> tuple[float, str, bool]:
        """One distinct cell value: (weight or number, reason code, invalid), by the contract's check."""
        canonical, error = self.contract.fields[field].check(value)
        if error is not None:
            return 0.0, "", True
        table = self.scorer.categorical.get(field)
        term = table[canonical] if table is not None else float(canonical)  # a number (or a flag) is its own term
        return term, self.explainer.code(field, canonical), False

    def customerids(self, batch: pa.RecordBatch) -> tuple[pa.Array, np.ndarray]:
        """The ids as the output shows them ("" where absent or too long: the validator drops such an id),
        and which rows have one too long."""
        n = batch.num_rows
        header = self.names.get(features.ID_FIELD)
        if header is None:
            return pa.repeat(pa.scalar("", pa.string()), n), np.zeros(n, dtype=bool)
        ids = batch.column(batch.schema.get_field_index(header))
        if numpy_of(pc.binary_length(ids)).max(initial=0) <= MAX_ID_LENGTH:  # bytes: no fewer than characters
            return ids, np.zeros(n, dtype=bool)
        too_long = np.asarray(numpy_of(pc.utf8_length(ids)) > MAX_ID_LENGTH)
        return pc.if_else(arrow_of(too_long), "", ids), too_long

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
        """The `explain` codes raising the risk most, in Explainer.ranked's order, joined with ";"."""
        contributions = np.stack(
            [self.term(f, terms[f]) - base for f, base in zip(self.fields, self.explainer.baseline, strict=True)],
            axis=1,
        )
        order = self.explainer.ranked(contributions)[:, : self.explain]
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
