"""Tensors of the Open Inference Protocol: an input's values read from JSON or binary data, outputs written back.

An input holds one value per customer: its shape is [n] or [n, 1]. Its data is a JSON array (flat, or
nested as the shape), or, with Triton's binary tensor data extension (`parameters.binary_data_size`,
which tritonclient uses by default), bytes after the JSON header: little-endian numbers, and for BYTES
each element as a 4-byte little-endian length and its UTF-8 text. A value must be of its declared
datatype (a string in a BYTES tensor, an integer in an INT64 one); whether it is a valid value of its
field is the customer contract's to judge, row by row. A JSON null, in a tensor of any datatype, is
that row's value missing, not a value of the wrong type: the contract judges it as it judges a null on
every other route (totalcharges 0, any other field missing_field). Binary data has no null: a number is
sent missing as NaN in a float tensor, which the contract reads as it reads a null; an empty BYTES
element is a blank string, judged as a blank is on every route.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from churn.core.contract import json_type
from churn.errors import ApiError, Code

NUMPY_TYPES = {
    "BOOL": "<u1", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
}  # fmt: skip
DATATYPES = frozenset({*NUMPY_TYPES, "BYTES"})
LENGTH = struct.Struct("<I")


def invalid(message: str) -> ApiError:
    return ApiError(400, Code.INVALID_REQUEST, message)


def rows_of(name: str, shape: Any) -> int:
    """The number of values of a one-value-per-customer shape: [n] or [n, 1]."""
    if (
        type(shape) is not list
        or not 1 <= len(shape) <= 2
        or not all(type(d) is int and d >= 0 for d in shape)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise invalid(f"input {name}: the shape must be [n] or [n, 1] (one value per customer), got {shape!r}")
    n: int = shape[0]
    return n


def json_values(name: str, data: Any, shape: list[int]) -> list[Any]:
    """A JSON tensor's values in row-major order: a flat array, or for a shape [n, 1] an array of n
    one-value arrays (the protocol's data nested as the shape). Any other nesting is not of this shape:
    its inner arrays are left in place for check_json_values to refuse as values of the wrong type."""
    if type(data) is not list:
        raise invalid(f"input {name}: its data must be an array (flat, or nested as its shape), got {json_type(data)}")
    if len(shape) == 2 and data and all(type(v) is list and len(v) == 1 for v in data):
        return [v[0] for v in data]
    return data


def check_json_values(name: str, datatype: str, values: list[Any], count: int) -> list[Any]:
    """The `count` values of a JSON tensor, each of the JSON type its datatype names or null (missing)."""
    if len(values) != count:
        raise invalid(f"input {name}: its data holds {len(values)} values, its shape {count}")
    for position, value in enumerate(values):
        if value is not None and not holds(datatype, value):
            message = f"a {datatype} tensor holds {wanted(datatype)} (or null), got {json_type(value)} at {position}"
            raise invalid(f"input {name}: {message}")
    return values


def holds(datatype: str, value: Any) -> bool:
    """Whether a JSON value is of the kind a tensor of this datatype holds."""
    kind = type(value)
    if datatype == "BYTES":
        return kind is str
    if datatype == "BOOL":
        return kind is bool
    if datatype.startswith(("INT", "UINT")):
        # JSON has one number type: 1.0 is an integer, and so is one past 64 bits, which the parser reads
        # as the nearest double (or an infinity); its range is the contract's to judge, as on /predict.
        integral = kind is int or (kind is float and (value.is_integer() or math.isinf(value)))
        return integral and (datatype[0] == "I" or value >= 0)
    return kind is float or kind is int


def wanted(datatype: str) -> str:
    if datatype in ("BYTES", "BOOL"):
        return "strings" if datatype == "BYTES" else "booleans"
    return "numbers" if datatype.startswith("FP") else "non-negative integers" if datatype[0] == "U" else "integers"


def binary_values(name: str, datatype: str, data: bytes, count: int) -> list[Any]:
    """The values of a binary tensor of `count` elements."""
    if datatype == "BYTES":
        return byte_strings(name, data, count)
    dtype = np.dtype(NUMPY_TYPES[datatype])
    if len(data) != count * dtype.itemsize:
        raise invalid(f"input {name}: {len(data)} bytes do not hold {count} {datatype} values")
    array = np.frombuffer(data, dtype=dtype)
    if datatype == "BOOL":
        if (array > 1).any():
            raise invalid(f"input {name}: a BOOL tensor holds bytes 0 and 1 only")
        flags: list[Any] = array.astype(bool).tolist()
        return flags
    values: list[Any] = array.tolist()
    return values


def byte_strings(name: str, data: bytes, count: int) -> list[str]:
    out: list[str] = []
    offset = 0
    while offset < len(data) and len(out) < count:
        if offset + LENGTH.size > len(data):
            break
        (size,) = LENGTH.unpack_from(data, offset)
        offset += LENGTH.size
        if offset + size > len(data):
            break
        try:
            out.append(data[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise invalid(f"input {name}: element {len(out)} is not UTF-8 text") from None
        offset += size
    if len(out) != count or offset != len(data):
        raise invalid(f"input {name}: the binary data does not hold {count} length-prefixed BYTES elements")
    return out


def output_bytes(datatype: str, values: list[Any]) -> bytes:
    """An output's binary data (FP64 or BOOL here)."""
    return np.asarray(values, dtype=NUMPY_TYPES[datatype]).tobytes()
