"""The campaign's output lines written by Arrow kernels: the bytes csv.writer and repr() would write.

churn.offline scores a block of ~30,000 rows column-wise; turning the results into text one row at a
time in Python would cost more than the scoring. These helpers build each output column as an Arrow
string array (repr floats, 4-decimal percentiles, csv.writer's quoting) and join them into lines,
leaving to Python only the rare values where Arrow's text could differ (tests/test_offline.py
compares them with Python's on generated values).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


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


@dataclass
class OutputColumns:
    """A block's results, turned into the campaign's CSV lines without a Python loop over clean rows."""

    ids: pa.Array  # the input's cells, which need no quoting (PLAIN_CELLS_NEED_NO_QUOTES)
    probabilities: np.ndarray
    churn: np.ndarray
    percentiles: np.ndarray

    def csv(self, bad: np.ndarray, reasons: pa.Array | None, errors: dict[int, str]) -> bytes:
        n = len(self.probabilities)
        empty = pa.repeat(pa.scalar("", pa.string()), n)
        ids = self.ids if PLAIN_CELLS_NEED_NO_QUOTES else quoted(self.ids)
        fields = [
            ids,
            float_text(self.probabilities),
            pc.if_else(arrow_of(self.churn), "true", "false"),
            fixed4_text(self.percentiles),
        ]
        if bad.any():  # a rejected row shows its id and its error only
            mask = arrow_of(bad)
            fields[1:4] = [pc.if_else(mask, "", f) for f in fields[1:4]]
            reasons = pc.if_else(mask, "", reasons) if reasons is not None else None
            text: list[str | None] = [None] * n
            for i, message in errors.items():
                text[i] = quote_one(message)
            fields += [quoted(reasons) if reasons is not None else empty, pc.fill_null(pa.array(text, pa.string()), "")]
            fields[-1] = pc.binary_join_element_wise(fields[-1], "", "\n")  # the line end, after the last field
        elif reasons is not None:
            fields += [quoted(reasons), "\n"]  # joined with ",": the empty error column, then the line end
        else:
            fields.append(",\n")  # joined with ",": the empty reasons and error columns and the line end
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
