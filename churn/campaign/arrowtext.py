"""Arrow kernels that write a column's cells as Python would: the campaign writer's text.

A block of ~30,000 results turned into text one row at a time in Python would cost more than the
scoring. These build each column as an Arrow string array (repr floats, 4-decimal percentiles,
csv quoting, the formula guard) and leave to Python only the rare values where Arrow's text
could differ (tests/campaign/test_output.py compares each with Python's own text on generated values).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# RFC 4180's minimal quoting: a cell holding one of these is written in quotes, its quotes doubled.
# (Python's csv.writer before 3.13 leaves a bare carriage return unquoted, and no reader then reads
# that cell back whole: the rule is stated here, not asked of csv.writer.)
QUOTED = ',"\n\r'
NEEDS_QUOTES = r'[,"\n\r]'
QUOTED_BYTES = tuple(c.encode("ascii") for c in QUOTED)
# What a spreadsheet would run as a formula (OWASP's CSV injection rule): a cell starting with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST_BYTE = np.zeros(256, dtype=bool)
FORMULA_FIRST_BYTE[list("".join(FORMULA_STARTS).encode("ascii"))] = True


def neutralized(cells: pa.Array) -> pa.Array:
    """A ' before every cell that starts with one of FORMULA_STARTS: a spreadsheet shows it as text.

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


def read_csv_file(path: Path, read: pacsv.ReadOptions, convert: pacsv.ConvertOptions) -> pa.Table:
    """Arrow's reading of a whole CSV file, whatever its name holds: Arrow takes a str path as UTF-8,
    which a name with bytes that are not (a surrogate in Python) cannot be, so it is handed the name's
    own bytes. Nor does Arrow then guess a compression from the name: the file is read as it is, as
    every other reader of the run reads it."""
    with pa.OSFile(os.fsencode(path)) as f:
        return pacsv.read_csv(f, read_options=read, convert_options=convert)


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


def offsets_of(strings: pa.Array) -> np.ndarray:
    """A string array's n + 1 offsets into its data buffer, without a copy."""
    if not len(strings):
        return np.zeros(1, dtype=np.int32)
    return np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4)


def text_view(lines: pa.Array) -> memoryview:
    """The concatenated values of a string array, without a copy: its data between the first and last offsets."""
    if not len(lines):
        return memoryview(b"")
    offsets = offsets_of(lines)
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def text_bytes(lines: pa.Array) -> bytes:
    """The concatenated values of a string array, as bytes."""
    return bytes(text_view(lines))


def float_text(values: np.ndarray) -> pa.Array:
    """repr() of each float.

    orjson writes a float64 array as JSON with the shortest text that reads back as the same double,
    as repr does; for non-integral values in [1e-4, 1e16) the two texts are identical (outside it repr
    switches to exponents, and integral values get ".0"), so those few go through repr itself. orjson
    is faster than Arrow's own double-to-string cast (docs/performance.md).
    """
    with np.errstate(invalid="ignore"):  # NaN: Python writes it (odd)
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
    with np.errstate(all="ignore"):  # huge, infinite or NaN values: Python writes those (odd)
        scaled = values * 10_000.0
        units = np.rint(scaled)
        near_tie = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6
        odd = near_tie | ~np.isfinite(values) | np.signbit(values) | (values > 100)  # "-0.0000" too
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
    """quote_one of every value, applied to the values that need it (nulls are empty cells)."""
    column = pc.fill_null(column, "")
    data = column.buffers()[2]
    if data is None or not holds_any(data, QUOTED_BYTES):  # the usual case
        return column
    needs = pc.match_substring_regex(column, NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return column
    wrapped = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, wrapped, column)


def holds_any(data: pa.Buffer, characters: tuple[bytes, ...]) -> bool:
    """Whether the buffer holds one of the (one-byte) characters: a byte search per character, as
    bytes.find does it (memchr), far cheaper than a table lookup per byte."""
    text = data.to_pybytes()
    return any(c in text for c in characters)


def quote_one(text: str) -> str:
    """One cell's text, quoted as QUOTED says."""
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in QUOTED) else text


def strings(texts: list[str]) -> pa.Array:
    """A string array of Python strs (a lone surrogate, which UTF-8 cannot hold, raises UnicodeEncodeError)."""
    return pa.array(texts, pa.string())


def sparse_text(n: int, cells: dict[int, str]) -> pa.Array | str:
    """A column of n cells, empty but for the (few) given ones, each quoted ("" if none)."""
    if not cells:
        return ""
    at = sorted(cells)
    encoded = [quote_one(cells[i]).encode() for i in at]
    lengths = np.zeros(n, dtype=np.int64)
    lengths[at] = [len(e) for e in encoded]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))


CENTS_FAST_LIMIT = 1e6  # below it, rint(value * 100) errs far less than the tie window: Arrow's text is Python's


@functools.cache
def cents_table(tails: tuple[str, ...]) -> pa.Array:
    """The texts ".00" to ".99", each followed by each tail in turn: entry 100 * k + c is cents c and tails[k]."""
    return pa.array([f".{c:02d}{tail}" for tail in tails for c in range(100)], pa.string())


def cents_text(
    values: np.ndarray, tails: tuple[str, ...] = ("",), which: np.ndarray | None = None, nan: str | None = None
) -> pa.Array:
    """f"{v:.2f}" of each value, followed by tails[which[i]] (tails[0] without `which`); a NaN's whole
    cell is `nan` when given. Values far from zero, not finite, or a hair from a rounding tie go through
    Python itself.

    The rest: the whole part cast by Arrow (with its sign), the cents and the tail taken from a table.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # huge, infinite and NaN values are odd: Python writes them
        scaled = np.abs(values) * 100.0
        odd = ~(scaled < CENTS_FAST_LIMIT * 100) | (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
        units = np.rint(np.where(odd, 0.0, scaled)).astype(np.int64)
    whole, cents = np.divmod(units, 100)
    negative = np.signbit(values) & ~odd
    np.negative(whole, out=whole, where=negative)
    if which is not None:
        cents += 100 * which.astype(np.int64)
    wholes = pc.cast(arrow_of(whole), pa.string())
    minus_zero = negative & (whole == 0)  # -0.004 is "-0.00": the integer cast has no -0
    if minus_zero.any():
        wholes = pc.if_else(arrow_of(minus_zero), "-0", wholes)
    text = pc.binary_join_element_wise(wholes, cents_table(tails).take(arrow_of(cents)), "")
    missing = np.isnan(values) if nan is not None else None
    if missing is not None and missing.any():
        text = pc.if_else(arrow_of(missing), nan, text)
        odd &= ~missing
    if not odd.any():
        return text
    at = np.flatnonzero(odd)
    chosen = which[at].tolist() if which is not None else [0] * len(at)
    fixed = [f"{v:.2f}{tails[k]}" for v, k in zip(values[at].tolist(), chosen, strict=True)]
    return with_python_text(text, odd, fixed)
