"""JSON documents whose repeated keys are kept, not silently dropped.

orjson (like most parsers) keeps the last value of a key given twice in one object, so
{"contract": "one_year", ..., "contract": "month-to-month"} would be scored as month-to-month. Here
a repeated key is kept as a second spelling of its name, followed by spaces (which names ignore: the
validator strips them), as a RepeatedKey. The validator's two-spellings rule then judges it like
"Contract" beside "contract": accepted when both values agree, ambiguous_field otherwise. It stays a
plain dict, so it survives being sent on as JSON (the campaign client) or pickled (jobs).

The fast path stays fast: orjson parses, and a count proves in most documents that no key repeats;
only the others are parsed again, exactly, by the standard library.

Numbers: every number JSON allows is read (RFC 8259 sets no limit on size or precision), as orjson
reads the ones it can: an integer within 64 bits as an int, any other number as the nearest double,
and one beyond the largest double (1e309, a 400-digit integer) as an infinity, which orjson refuses.
NaN, Infinity and -Infinity are read as the floats they name, as Python's json and pandas write them
(`json.dumps` of a record with a missing value, MLflow's own client): strictly they are not JSON, and
orjson refuses them too. A document orjson refuses for one of these is read by the standard library,
held to everything else orjson demands. So a number is never the reason a whole document is refused:
each value is judged where it stands (churn.core.contract: a NaN is a missing value, an infinity is
not_finite, a number in a field the model does not use is ignored).

dumps() writes what loads() reads back as the same values: the campaign client sends rows with it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

NUMPY_COUNT_BYTES = 1 << 13  # from this size numpy counts a byte faster than bytes.count
INT64_MIN, UINT64_END = -(2**63), 2**64
INT64_TEXT = len(str(INT64_MIN))  # JSON has no leading zeros: a longer integer is beyond 64 bits
# What orjson refuses and the standard library reads: the literals, and numbers beyond a double (309
# integer digits, or an exponent of 3 digits; a superset, which only costs a second parse of a document
# that is invalid anyway). The look-behind starts a digit run's match at its first digit only, so the
# search stays linear however long the runs.
STANDARD_ONLY = re.compile(rb"NaN|Infinity|(?<![0-9])[0-9]{309}|[eE][-+]?[0-9]{3}")


class RepeatedKey(str):
    """A key given again in one object, spelled as `original` followed by spaces."""

    original: str

    def __new__(cls, original: str, spelling: str) -> RepeatedKey:
        key = super().__new__(cls, spelling)
        key.original = original
        return key

    def __reduce__(self) -> tuple[Any, ...]:
        return RepeatedKey, (self.original, str(self))


def loads(body: bytes) -> Any:
    """orjson's reading of body, each repeated key kept as a RepeatedKey. Raises ValueError."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        not_utf8(body)  # orjson says "surrogates not allowed" for any byte that is not UTF-8
        if STANDARD_ONLY.search(body) is None:
            raise
        return exact(body, checked=True)
    colons = count_byte(body, b":")
    if (type(value) is dict and colons == len(value)) or colons == counted_keys(value):
        return value
    return exact(body)


def not_utf8(body: bytes) -> None:
    """ValueError naming the first byte that is not UTF-8, if there is one."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"the body is not UTF-8 text (byte {e.start} is 0x{body[e.start]:02x})") from None


def exact(body: bytes, checked: bool = False) -> Any:
    """The standard library's reading, repeated keys kept and numbers as orjson reads them. With checked,
    the document orjson did not read is also held to what orjson would take but for its numbers and
    literals (UTF-8, no lone surrogate in a string, no deeper nesting than orjson writes back)."""
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=object_from_pairs, parse_int=int_as_orjson_reads)
    except RecursionError:
        raise ValueError("the document nests too deeply to be checked for repeated keys") from None
    if checked:
        try:
            orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)  # a RepeatedKey is a str subclass
        except orjson.JSONEncodeError as e:
            raise ValueError(f"the document cannot be read back: {e}") from None
    return value


def counted_keys(value: Any) -> int:
    """The keys of the top-level object and of the objects directly in it (or in its arrays).

    Every key of a JSON text is followed by a ':', and every other ':' lies inside a string, so a
    document has at least as many ':' as keys, and at least as many keys as its parsed objects hold
    (fewer only when a key repeats). A ':' count equal to these keys therefore proves that no key
    repeats; a deeper object, or a ':' inside a string, makes the counts differ, and the exact parse
    decides.
    """
    if type(value) is list:
        return keys_of_objects(value)
    if type(value) is not dict:
        return 0
    keys = len(value)
    for item in value.values():
        if type(item) is dict:
            keys += len(item)
        elif type(item) is list:
            keys += keys_of_objects(item)
    return keys


def keys_of_objects(items: list[Any]) -> int:
    if set(map(type, items)) <= {dict}:
        return sum(map(len, items))
    return sum(len(item) for item in items if type(item) is dict)


def count_byte(data: bytes, byte: bytes) -> int:
    if len(data) < NUMPY_COUNT_BYTES:
        return data.count(byte)
    import numpy as np  # noqa: PLC0415 - loaded already where bodies are large; the campaign's JSON Lines reader needs none

    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == byte[0]))


def object_from_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: a dict, with a key given again kept as a RepeatedKey."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    obj = {}
    for key, value in pairs:
        spelling = key
        while spelling in obj:
            spelling = RepeatedKey(key, spelling + " ")
        obj[spelling] = value
    return obj


def int_as_orjson_reads(text: str) -> int | float:
    """An integer as orjson reads it: beyond 64 bits, the nearest double (an infinity past the largest).

    A long one never becomes an int: Python refuses to convert more than 4,300 digits
    (sys.get_int_max_str_digits), and the conversion's time grows with the square of their number.
    """
    if len(text) > INT64_TEXT:
        return float(text)
    number = int(text)
    return number if INT64_MIN <= number < UINT64_END else float(text)


def dumps(value: Any) -> bytes:
    """JSON text of value that loads() reads back as the same values: NaN and +-Infinity as the literals it
    reads, an integer as all its digits (one beyond 64 bits reads back as the nearest double, as orjson
    reads it). Raises ValueError for what JSON text cannot hold (a lone surrogate, an integer of more
    digits than Python writes) and TypeError for what is not JSON (a datetime)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def repeated(obj: dict[str, Any], name: str) -> bool:
    """The key `name` is given more than once in obj."""
    return any(type(key) is RepeatedKey and key.original == name for key in obj)
