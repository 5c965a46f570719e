"""A key repeated in a JSON object is never silently dropped: the validator refuses it like two spellings."""

from __future__ import annotations

import datetime
import json
import math
import pickle
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn.core import jsonkeys
from tests.conftest import make_customer
from tests.server.test_fastpath import call
from tests.support import strategies

SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab:{}"\\é ,'), max_size=5)
)  # fmt: skip
KEYS = st.text(alphabet="ab:{", max_size=3)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=12
)


def dumps(value: Any) -> bytes:
    """JSON text (integers beyond 64 bits too, which orjson cannot write)."""
    return json.dumps(value, ensure_ascii=False).encode()


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types, all the way down (1 and 1.0 and True are not the same here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES)
def test_a_document_without_repeated_keys_reads_as_orjson_reads_it(value: Any) -> None:
    body = dumps(value)
    assert same(jsonkeys.loads(body), orjson.loads(body))
    # The exact parse (taken when the counts differ) reads every value as orjson does, integers included.
    exact = json.loads(body, object_pairs_hook=jsonkeys.object_from_pairs, parse_int=jsonkeys.int_as_orjson_reads)
    assert same(exact, orjson.loads(body))


def with_repeat(value: Any, key: str, first: Any) -> bytes:
    """The object's JSON text with `key` given once more, first, with another value."""
    inner = dumps(value)[1:]
    return b"{" + dumps(key) + b":" + dumps(first) + (b"," if inner != b"}" else b"") + inner


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(alphabet="ab:", max_size=3), JSON_VALUES, min_size=1, max_size=4), st.data())
def test_every_repeated_key_is_kept_as_another_spelling(value: dict[str, Any], data: Any) -> None:
    key = data.draw(st.sampled_from(list(value)))
    first = data.draw(JSON_VALUES)
    parsed = jsonkeys.loads(with_repeat(value, key, first))
    assert len(parsed) == len(value) + 1
    assert jsonkeys.repeated(parsed, key)
    spellings = [k for k in parsed if k.rstrip(" ") == key.rstrip(" ")]
    as_read = orjson.loads(dumps([first, value[key]]))  # as orjson reads them (a 65-bit integer as a float)
    assert same(parsed[key], as_read[0]) and same(parsed[spellings[-1]], as_read[1])  # the last value last


def test_repeated_keys_inside_rows_and_deeper_are_found() -> None:
    body = b'{"customers": [{"a": 1, "b": {"c": 1, "c": 2}}, {"d": 1, "d": 1}]}'
    parsed = jsonkeys.loads(body)
    inner, row = parsed["customers"][0]["b"], parsed["customers"][1]
    assert len(inner) == len(row) == 2 and jsonkeys.repeated(inner, "c") and jsonkeys.repeated(row, "d")


def test_a_repeated_key_survives_pickling_and_json() -> None:
    parsed = jsonkeys.loads(b'{"contract": "one_year", "contract": "two_year"}')
    again = pickle.loads(pickle.dumps(parsed))  # noqa: S301 - our own object (an RQ job's argument)
    assert again == parsed and jsonkeys.repeated(again, "contract")
    assert json.loads(json.dumps(parsed)) == {"contract": "one_year", "contract ": "two_year"}


def test_a_deeply_nested_document_is_refused_not_crashed_on() -> None:
    body = b'{"a": "x:y", "b": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    with pytest.raises(ValueError, match="nests too deeply"):
        jsonkeys.loads(body)


def body_with(key: str, first: Any, record: dict[str, Any]) -> bytes:
    return with_repeat(record, key, first)


REPEATS = [
    ("a category", "contract", "one_year", make_customer(contract="month-to-month")),
    ("a category under a CRM name", "Contract", "One year", make_customer(contract=None, Contract="Month-to-month")),
    ("a number", "tenure", 1, make_customer(tenure=41)),
    ("the id", "customerid", "a", make_customer(customerid="b")),
]


@pytest.fixture
def both(app: Any) -> tuple[Any, Any]:
    fast = app.wsgi_app.app
    return fast, fast.flask_app


@pytest.mark.parametrize(("key", "first", "record"), [r[1:] for r in REPEATS], ids=[r[0] for r in REPEATS])
def test_a_repeated_field_with_another_value_is_ambiguous(
    both: tuple[Any, Any], key: str, first: Any, record: dict[str, Any]
) -> None:
    for wsgi in both:
        status, _, answer, _ = call(wsgi, body_with(key, first, record), "/predict")
        error = orjson.loads(answer)["error"]
        assert (status[:3], error["code"]) == ("422", "validation_failed")
        assert [(d["field"], d["code"]) for d in error["details"]] == [(key.lower(), "ambiguous_field")]
        batch = b'{"customers": [' + body_with(key, first, record) + b", " + orjson.dumps(record) + b"]}"
        status, _, answer, _ = call(wsgi, batch, "/v1/predict")
        rows = orjson.loads(answer)["predictions"]
        assert status[:3] == "200" and rows[0]["error"]["details"][0]["code"] == "ambiguous_field"
        assert "error" not in rows[1]


def test_a_repeated_field_with_the_same_value_is_accepted(both: tuple[Any, Any]) -> None:
    record = make_customer()
    for wsgi in both:
        status, _, answer, _ = call(wsgi, body_with("contract", "One year", record), "/predict")
        assert status[:3] == "200" and orjson.loads(answer) == orjson.loads(call(wsgi, orjson.dumps(record))[2])


def test_a_repeated_unknown_field_is_ignored_like_any_unknown_field(both: tuple[Any, Any]) -> None:
    for wsgi in both:
        status, *_ = call(wsgi, body_with("note", 1, make_customer(note=2)), "/predict")
        assert status[:3] == "200"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["customers", "explain", "explain_down"]), st.sampled_from([[], 1, "x"]))
def test_a_repeated_request_option_is_an_invalid_request(both: tuple[Any, Any], option: str, first: Any) -> None:
    body = with_repeat({"customers": [make_customer()], "explain": 1, "explain_down": 0}, option, first)
    for wsgi in both:
        status, _, answer, _ = call(wsgi, body, "/v1/predict")
        error = orjson.loads(answer)["error"]
        assert (status[:3], error["code"]) == ("422", "invalid_request") and option in error["message"]


@pytest.mark.parametrize(
    ("body", "read"),
    [(b'{"totalcharges": NaN}', {"totalcharges": math.nan}), (b"[Infinity, -Infinity]", [math.inf, -math.inf])],
)
def test_nan_and_infinity_are_read_as_python_and_pandas_write_them(body: bytes, read: Any) -> None:
    assert orjson.dumps(jsonkeys.loads(body)) == orjson.dumps(read)  # orjson writes NaN and inf as null
    assert str(jsonkeys.loads(body)) == str(read)


# What only the standard library's parse reads: the literals, and numbers beyond a double.
STANDARD_ONLY = [b"NaN", b"-Infinity", b"1e309", b"-1E999", b"1" * 401, b"9" * 5000]


@pytest.mark.parametrize("number", STANDARD_ONLY, ids=lambda b: b[:12].decode())
def test_a_document_orjson_refuses_for_a_number_keeps_its_repeated_keys_and_refuses_the_rest(number: bytes) -> None:
    value = jsonkeys.loads(b'{"contract": "one_year", "tenure": ' + number + b', "contract": "two_year"}')
    assert jsonkeys.repeated(value, "contract")
    refused = [
        b'{"gender": "\\ud800", "tenure": ' + number + b"}",  # a lone surrogate
        b"[" + number + b",]",
        b"[" + number + b", nan]",
        b"\xff " + number,  # not UTF-8
        b"[" * 300 + number + b"]" * 300,  # deeper than orjson writes back
        b"[" * 5000 + number + b"]" * 5000,  # deeper than Python's recursion limit
    ]
    for body in refused:
        with pytest.raises(ValueError):
            jsonkeys.loads(body)


def same_number(a: Any, b: Any) -> bool:
    """The same type and value; floats by repr, so that NaN is NaN and -0.0 is not 0.0."""
    return type(a) is type(b) and (repr(a) == repr(b) if type(a) is float else a == b)


@settings(max_examples=500, deadline=None)
@given(strategies.json_number_texts())
def test_every_json_number_is_read_as_orjson_reads_the_ones_it_can(text: str) -> None:
    want = strategies.number_read(text)
    try:
        assert same_number(orjson.loads(text), want)
    except orjson.JSONDecodeError:  # NaN, Infinity and numbers beyond a double, which it refuses
        assert not math.isfinite(want)
    number = text.encode()
    assert same_number(jsonkeys.loads(number), want)
    for other in (b"1", b"1e999", b"NaN"):  # a document orjson reads, and two it does not
        assert same_number(jsonkeys.loads(b"[" + number + b", " + other + b"]")[0], want)
        assert same_number(jsonkeys.loads(b'{"a": ' + number + b', "b": "x:y", "c": ' + other + b"}")["a"], want)


# Pieces of documents, valid or not, holding no number the fallback alone reads (an exponent is negative,
# so never beyond a double), with lone surrogates, control characters, bytes that are not UTF-8.
PIECES = [
    b"{", b"}", b"[", b"]", b",", b":", b" ", b'"a"', b'"b"', b"1", b"-", b".5", b"e-5", b"true", b"nul", b"null",
    b'"\\ud800"', b'"\\udc00x"', b'"\\ud83d\\ude00"', b'"\x01"', b'"\xc3\xa9"', b"\xff", b"\xed\xa0\x80", b"\\", b'"',
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map(b"".join), st.sampled_from(STANDARD_ONLY))
def test_a_number_orjson_refuses_never_makes_a_syntax_error_pass(doc: bytes, number: bytes) -> None:
    """Beside such a number, a document is read exactly when orjson reads it beside a plain 0, to the same value."""
    try:
        plain = jsonkeys.loads(b"[0," + doc + b"]")
    except ValueError:
        plain = None
    try:
        other = jsonkeys.loads(b"[" + number + b"," + doc + b"]")
    except ValueError:
        other = None
    assert (plain is None) == (other is None), doc
    if plain is not None and other is not None:
        assert same(plain[1:], other[1:])


NUMBERS = (
    st.floats() | st.integers() | st.integers(2**63 - 2, 2**1100) | st.integers(-(2**1100), -(2**63) + 2)
    | st.sampled_from([-0.0, 10**400, -(10**400)])
)  # fmt: skip
VALUES_WITH_NUMBERS = st.recursive(
    NUMBERS | st.text(max_size=3) | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


def as_read(value: Any) -> Any:
    """value as the service reads it: an integer beyond 64 bits as the nearest double (an infinity past it)."""
    if isinstance(value, list):
        return [as_read(v) for v in value]
    if isinstance(value, dict):
        return {k: as_read(v) for k, v in value.items()}
    if type(value) is int and not jsonkeys.INT64_MIN <= value < jsonkeys.UINT64_END:
        return strategies.number_read(str(value))
    return value


def same_read(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_read(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_read(x, y) for x, y in zip(a, b, strict=True))
    return same_number(a, b)


@settings(max_examples=500, deadline=None)
@given(VALUES_WITH_NUMBERS)
def test_dumps_writes_what_loads_reads_back_as_the_same_values(value: Any) -> None:
    assert same_read(jsonkeys.loads(jsonkeys.dumps(value)), as_read(value))


@pytest.mark.parametrize(
    ("value", "error"),
    [(10**5000, ValueError), ({"a": "\ud800"}, ValueError), ([datetime.date(2024, 1, 1)], TypeError)],
    ids=["an integer Python will not write", "a lone surrogate", "not JSON"],
)
def test_dumps_refuses_what_json_text_cannot_hold(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        jsonkeys.dumps(value)
