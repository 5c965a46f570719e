"""The campaign's output lines written by Arrow kernels: the bytes csv.writer and repr() would write.

churn.campaign.offline.engine scores a block of ~30,000 rows column-wise; turning the results into text one row at a
time in Python would cost more than the scoring. These helpers build each output column as an Arrow
string array (repr floats, 4-decimal percentiles, csv.writer's quoting) and join them into lines,
leaving to Python only the rare values where Arrow's text could differ (tests/campaign/test_offline.py
compares them with Python's on generated values).
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from churn.campaign.rows import FORMULA_STARTS


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
# A cell of a block the offline engine reads holds no delimiter, line end or quote (a block with a quote
# or a bare carriage return is left to the Python reader), so its text never needs quoting when these
# are all csv.writer quotes for.
PLAIN_CELLS_NEED_NO_QUOTES = set(QUOTED) <= set(',"\n\r')
FORMULA_FIRST_BYTE = np.zeros(256, dtype=bool)
FORMULA_FIRST_BYTE[list("".join(FORMULA_STARTS).encode("ascii"))] = True


@dataclass
class OutputColumns:
    """A block's results, turned into the campaign's CSV lines without a Python loop over clean rows."""

    ids: pa.Array  # the input's cells, which need no quoting (PLAIN_CELLS_NEED_NO_QUOTES)
    probabilities: np.ndarray
    churn: np.ndarray
    percentiles: np.ndarray

    def csv(self, bad: np.ndarray, reasons: pa.Array | None, errors: dict[int, str], warnings: dict[int, str]) -> bytes:
        """The lines of rowio.OUTPUT_COLUMNS; errors and warnings hold the (few) rows that have one."""
        n = len(self.probabilities)
        ids = neutralized(self.ids)
        fields: list[pa.Array | str] = [
            ids if PLAIN_CELLS_NEED_NO_QUOTES else quoted(ids),
            float_text(self.probabilities),
            pc.if_else(arrow_of(self.churn), "true", "false"),
            fixed4_text(self.percentiles),
        ]
        if bad.any():  # a rejected row shows its id and its error only
            mask = arrow_of(bad)
            fields[1:4] = [pc.if_else(mask, "", f) for f in fields[1:4]]
            reasons = pc.if_else(mask, "", reasons) if reasons is not None else None
        fields.append(quoted(reasons) if reasons is not None else "")
        fields += [error_text(n, errors) if errors else "", "\n"]  # "\n": the warnings, inserted below
        lines = pc.binary_join_element_wise(*merged(fields), ",")
        return inserted(lines, {i: quote_one(cell).encode() for i, cell in warnings.items()})


def error_text(n: int, errors: dict[int, str]) -> pa.Array:
    text = [""] * n
    for i, message in errors.items():
        text[i] = quote_one(message)
    return pa.array(text, pa.string())


def merged(fields: list[pa.Array | str]) -> list[pa.Array | str]:
    """Adjacent constant fields as one (joined with ","): fewer columns for Arrow to join."""
    out: list[pa.Array | str] = []
    for field in fields:
        if isinstance(field, str) and out and isinstance(out[-1], str):
            out[-1] = f"{out[-1]},{field}"
        else:
            out.append(field)
    return out


def inserted(lines: pa.Array, last_cells: dict[int, bytes]) -> bytes:
    """The lines' bytes, with each of the (few) given last cells put in its line, before the line end."""
    data = text_bytes(lines)
    if not last_cells:
        return data
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    view, parts, start = memoryview(data), list[bytes | memoryview](), 0
    for i in sorted(last_cells):
        cut = int(offsets[i + 1] - offsets[0]) - 1
        parts += [view[start:cut], last_cells[i]]
        start = cut
    parts.append(view[start:])
    return b"".join(parts)


def neutralized(cells: pa.Array) -> pa.Array:
    """rowio.neutralized of every cell: a ' before a cell that starts with one of rowio.FORMULA_STARTS.

    Each cell's first byte is read from the array's buffers (every formula start is one ASCII byte).
    """
    n = len(cells)
    data = cells.buffers()[2]
    if not n or data is None or not data.size:
        return cells
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int32, count=n + 1, offset=cells.offset * 4)
    text = np.frombuffer(data, dtype=np.uint8)
    starts = offsets[:-1]
    formula = FORMULA_FIRST_BYTE[text[np.minimum(starts, len(text) - 1)]] & (offsets[1:] > starts)
    if not formula.any():
        return cells
    return pc.if_else(arrow_of(formula), pc.binary_join_element_wise("'", cells, ""), cells)


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
    """repr() of each float.

    orjson writes a float64 array as JSON with the shortest text that reads back as the same double,
    as repr does; for non-integral values in [1e-4, 1e16) the two texts are identical (outside it repr
    switches to exponents, and integral values get ".0"), so those few go through repr itself. orjson
    is ~5x faster than Arrow's own double-to-string cast here.
    """
    odd = (values < 1e-4) | (values >= 1e16) | (values == np.floor(values)) | ~np.isfinite(values)
    text = strings_from_json_list(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY), len(values))
    return with_python_text(text, odd, [repr(v) for v in values[odd].tolist()])


def strings_from_json_list(document: bytes, n: int) -> pa.Array:
    """The n items of a JSON list of numbers (no nested commas), as a string array of their texts."""
    body = np.frombuffer(document, dtype=np.uint8)[1:-1]  # without the brackets
    commas = np.flatnonzero(body == ord(","))
    if len(commas) != max(n - 1, 0):
        raise ValueError(f"expected {n} items, found {len(commas) + 1}")
    # Item k starts just after comma k-1; without the commas, that is k characters earlier.
    offsets = np.empty(n + 1, dtype=np.int32)
    offsets[0] = 0
    offsets[1:n] = commas - np.arange(n - 1, dtype=np.int32)
    offsets[n] = len(body) - max(n - 1, 0)
    data = document[1:-1].replace(b",", b"")
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


@functools.cache
def fixed4_parts() -> tuple[pa.Array, pa.Array]:
    """The texts "0." to "100." and "0000" to "9999", from which fixed4_text assembles a percentile."""
    wholes = pc.binary_join_element_wise(pc.cast(arrow_of(np.arange(101)), pa.string()), ".", "")
    fractions = pc.utf8_lpad(pc.cast(arrow_of(np.arange(10_000)), pa.string()), 4, "0")
    return wholes, fractions


def fixed4_text(values: np.ndarray) -> pa.Array:
    """f"{v:.4f}" of each float in [0, 100] (percentiles); other values, and values within a hair of a
    rounding tie, are left to Python."""
    scaled = values * 10_000.0
    units = np.rint(scaled)
    near_tie = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6
    odd = near_tie | ~np.isfinite(values) | (values < 0) | (values > 100)
    units[odd] = 0
    whole, fraction = np.divmod(units.astype(np.int32), 10_000)
    wholes, fractions = fixed4_parts()
    text = pc.binary_join_element_wise(wholes.take(arrow_of(whole)), fractions.take(arrow_of(fraction)), "")
    return with_python_text(text, odd, [f"{v:.4f}" for v in values[odd].tolist()])


def with_python_text(text: pa.Array, odd: np.ndarray, fixed: list[str]) -> pa.Array:
    """text with the (few) odd positions replaced by Python's own text for them."""
    if not fixed:
        return text
    return pc.replace_with_mask(text, arrow_of(odd), pa.array(fixed, pa.string()))


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
