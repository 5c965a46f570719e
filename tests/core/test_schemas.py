"""Validation: every problem named, nothing silently changed, raw CRM spellings accepted."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.core import features
from churn.core.model import LoadedModel
from churn.core.validation import CustomerValidator, InvalidCustomer
from tests.conftest import make_customer
from tests.support import strategies


@pytest.fixture(scope="module")
def validator(model: LoadedModel) -> CustomerValidator:
    return CustomerValidator(model.contract())


ID_RANGE = {"min": -(2**63), "max": 2**64 - 1}


def problems(validator: CustomerValidator, record: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidCustomer) as info:
        validator.validate(record)
    return [(e.field, e.code) for e in info.value.errors]


BAD_RECORDS = [
    ("contract typo", make_customer(contract="montly"), [("contract", "unknown_category")]),
    ("contract not a string", make_customer(contract=2), [("contract", "wrong_type")]),
    ("contract null", make_customer(contract=None) | {"contract": None}, [("contract", "missing_field")]),
    ("contract missing", make_customer(contract=None), [("contract", "missing_field")]),
    ("senior citizen 2", make_customer(seniorcitizen=2), [("seniorcitizen", "unknown_category")]),
    ("senior citizen yes", make_customer(seniorcitizen="yes"), [("seniorcitizen", "invalid_number")]),
    ("senior citizen boolean", make_customer(seniorcitizen=True), [("seniorcitizen", "wrong_type")]),
    ("tenure negative", make_customer(tenure=-1), [("tenure", "negative_value")]),
    ("tenure text", make_customer(tenure="forty"), [("tenure", "invalid_number")]),
    ("tenure NaN string", make_customer(tenure="NaN"), [("tenure", "invalid_number")]),
    ("tenure inf string", make_customer(tenure="inf"), [("tenure", "invalid_number")]),
    ("tenure with an underscore", make_customer(tenure="4_1"), [("tenure", "invalid_number")]),
    ("tenure in Arabic-Indic digits", make_customer(tenure="\u0664\u0661"), [("tenure", "invalid_number")]),
    ("tenure in full-width digits", make_customer(tenure="\uff14\uff11"), [("tenure", "invalid_number")]),
    ("tenure in hex", make_customer(tenure="0x29"), [("tenure", "invalid_number")]),
    ("tenure with an exponent", make_customer(tenure="4.1e1"), [("tenure", "invalid_number")]),
    ("tenure padded with a no-break space", make_customer(tenure="41\u00a0"), [("tenure", "invalid_number")]),
    ("tenure far above training", make_customer(tenure=10_000), [("tenure", "out_of_range")]),
    ("tenure 1e308", make_customer(tenure=1e308), [("tenure", "out_of_range")]),
    ("tenure as a huge numeral", make_customer(tenure="1" * 400), [("tenure", "not_finite")]),
    ("charges far above training", make_customer(monthlycharges=1e6), [("monthlycharges", "out_of_range")]),
    ("total charges far above training", make_customer(totalcharges="1000000000"), [("totalcharges", "out_of_range")]),
    ("senior citizen 1e0", make_customer(seniorcitizen="1e0"), [("seniorcitizen", "invalid_number")]),
    ("tenure NaN (missing)", make_customer(tenure=float("nan")), [("tenure", "missing_field")]),
    ("tenure null", make_customer() | {"tenure": None}, [("tenure", "missing_field")]),
    ("totalcharges left out", {k: v for k, v in make_customer().items() if k != "totalcharges"},
     [("totalcharges", "missing_field")]),
    ("contract NaN (missing)", make_customer(contract=float("nan")), [("contract", "missing_field")]),
    ("seniorcitizen NaN (missing)", make_customer(seniorcitizen=float("nan")), [("seniorcitizen", "missing_field")]),
    ("tenure infinite", make_customer(tenure=float("inf")), [("tenure", "not_finite")]),
    ("customerid 1.5", make_customer(customerid=1.5), [("customerid", "wrong_type")]),
    ("customerid beyond 64 bits", make_customer(customerid=2**64), [("customerid", "out_of_range")]),
    ("tenure infinite", make_customer(tenure=float("inf")), [("tenure", "not_finite")]),
    ("tenure huge integer", make_customer(tenure=10**400), [("tenure", "not_finite")]),
    ("tenure blank", make_customer(tenure=" "), [("tenure", "missing_field")]),
    ("tenure boolean", make_customer(tenure=False), [("tenure", "wrong_type")]),
    ("tenure list", make_customer(tenure=[41]), [("tenure", "wrong_type")]),
    ("charges negative", make_customer(monthlycharges="-5"), [("monthlycharges", "negative_value")]),
    ("total charges object", make_customer(totalcharges={"v": 1}), [("totalcharges", "wrong_type")]),
    ("customerid object", make_customer(customerid={"id": 1}), [("customerid", "wrong_type")]),
    ("customerid too long", make_customer(customerid="x" * 201), [("customerid", "too_long")]),
    ("two spellings disagree", make_customer() | {"Contract": "Two year"}, [("contract", "ambiguous_field")]),
    ("not an object", ["female", 0], [("", "not_an_object")]),
    ("null record", None, [("", "not_an_object")]),
    ("empty record", {}, [("", "no_known_fields")]),
    ("only unknown fields", {"note": "x", "Churn": "No"}, [("", "no_known_fields")]),
    ("only an id", {"customerID": "7590-VHVEG"}, [("", "no_known_fields")]),
    ("only a bad id", {"customerid": ["x"]}, [("customerid", "wrong_type"), ("", "no_known_fields")]),
    ("three spellings disagree", make_customer() | {"Contract": "Two year", "CONTRACT": "x"},
     [("contract", "ambiguous_field"), ("contract", "unknown_category")]),
]  # fmt: skip


@pytest.mark.parametrize(("record", "expected"), [c[1:] for c in BAD_RECORDS], ids=[c[0] for c in BAD_RECORDS])
def test_bad_records_are_refused_with_a_stable_code(
    validator: CustomerValidator, record: Any, expected: list[tuple[str, str]]
) -> None:
    assert problems(validator, record) == expected


def test_out_of_range_says_the_accepted_range(validator: CustomerValidator, model: LoadedModel) -> None:
    with pytest.raises(InvalidCustomer) as info:
        validator.validate(make_customer(tenure=10_000))
    (error,) = info.value.details()
    training = model.metadata["numeric_ranges"]["tenure"]
    low, high = error["range"]["min"], error["range"]["max"]
    assert low <= training["min"] and high >= training["max"] + 8  # tenure 80 (next years' customers) is scored
    assert "10000" in error["message"] and str(int(high)) in error["message"]
    assert validator.validate(make_customer(tenure=high))[0]["tenure"] == high
    with pytest.raises(InvalidCustomer):
        validator.validate(make_customer(tenure=high + 0.01))


@pytest.mark.parametrize(
    "customerid",
    [2**64, -(2**63) - 1, 10**20, 1e20, -(2.0**63), math.inf, -math.inf, 10**5000],
    ids=["2**64", "-2**63-1", "10**20", "1e20", "-2.0**63", "inf", "-inf", "10**5000"],
)
def test_a_numeric_customerid_beyond_64_bits_is_out_of_range_with_the_range(
    validator: CustomerValidator, customerid: Any
) -> None:
    """However far beyond (an infinity is how the service reads an integer too long for a double)."""
    with pytest.raises(InvalidCustomer) as info:
        validator.validate(make_customer(customerid=customerid))
    (error,) = info.value.details()
    assert (error["field"], error["code"], error["range"]) == ("customerid", "out_of_range", ID_RANGE)
    assert orjson.loads(orjson.dumps(error))["range"] == ID_RANGE  # JSON holds both bounds exactly


def test_the_tolerance_sets_how_far_values_are_accepted(model: LoadedModel) -> None:
    training = model.metadata["numeric_ranges"]["tenure"]
    strict = CustomerValidator(model.contract(tolerance=0))
    assert strict.validate(make_customer(tenure=training["max"]))[0]["tenure"] == training["max"]
    with pytest.raises(InvalidCustomer):
        strict.validate(make_customer(tenure=training["max"] + 1))
    wide = CustomerValidator(model.contract(tolerance=100))
    assert wide.validate(make_customer(tenure=7000))[0]["tenure"] == 7000


def test_all_missing_fields_are_named_at_once(validator: CustomerValidator) -> None:
    found = problems(validator, {"customerid": "a", "contract": "one_year"})
    assert {code for _, code in found} == {"missing_field"}
    assert len(found) == 18


def test_unknown_category_lists_the_allowed_values(validator: CustomerValidator) -> None:
    with pytest.raises(InvalidCustomer) as info:
        validator.validate(make_customer(paymentmethod="bitcoin", customerid="c-1"))
    (error,) = info.value.details()
    assert error["allowed"] == [
        "bank_transfer_(automatic)",
        "credit_card_(automatic)",
        "electronic_check",
        "mailed_check",
    ]
    assert "paymentmethod" in error["message"] and "'bitcoin'" in error["message"]
    assert info.value.customerid == "c-1"


def test_long_rejected_values_are_not_echoed_whole(validator: CustomerValidator) -> None:
    with pytest.raises(InvalidCustomer) as info:
        validator.validate(make_customer(contract="x" * 10_000))
    assert len(info.value.errors[0].message) < 200


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ({"contract": "Month-to-month"}, {"contract": "month-to-month"}),
        ({"contract": "One year"}, {"contract": "one_year"}),
        ({"contract": "  TWO YEAR "}, {"contract": "two_year"}),
        ({"paymentmethod": "Electronic check"}, {"paymentmethod": "electronic_check"}),
        ({"paymentmethod": "Bank transfer (automatic)"}, {"paymentmethod": "bank_transfer_(automatic)"}),
        ({"internetservice": "Fiber optic"}, {"internetservice": "fiber_optic"}),
        ({"seniorcitizen": "1"}, {"seniorcitizen": 1}),
        ({"seniorcitizen": 1.0}, {"seniorcitizen": 1}),
        ({"seniorcitizen": " +01.00 "}, {"seniorcitizen": 1}),
        ({"seniorcitizen": "-0"}, {"seniorcitizen": 0}),
        ({"tenure": "41"}, {"tenure": 41.0}),
        ({"tenure": "+41."}, {"tenure": 41.0}),
        ({"tenure": ".5"}, {"tenure": 0.5}),
        ({"tenure": "\t0041\n"}, {"tenure": 41.0}),
        ({"tenure": 80}, {"tenure": 80.0}),
        ({"tenure": 144}, {"tenure": 144.0}),
        ({"monthlycharges": " 79.85 "}, {"monthlycharges": 79.85}),
        ({"totalcharges": " "}, {"totalcharges": 0.0}),
        ({"totalcharges": ""}, {"totalcharges": 0.0}),
        ({"totalcharges": "\t\r\n"}, {"totalcharges": 0.0}),
    ],
)
def test_crm_spellings_are_normalized_as_training_did(
    validator: CustomerValidator, raw: dict[str, Any], canonical: dict[str, Any]
) -> None:
    customer, _ = validator.validate(make_customer(**raw))
    assert {k: customer[k] for k in canonical} == canonical
    assert type(customer["seniorcitizen"]) is int


@pytest.mark.parametrize("missing", [None, math.nan], ids=["null", "NaN"])
def test_a_null_or_nan_totalcharges_means_what_a_blank_means_in_training(
    validator: CustomerValidator, missing: Any
) -> None:
    """pandas reads a blank TotalCharges as NaN (the book's to_numeric(errors="coerce")), sent as null or NaN."""
    customer, _ = validator.validate(make_customer() | {"totalcharges": missing})
    assert customer == validator.validate(make_customer(totalcharges=" "))[0]
    assert customer["totalcharges"] == 0.0


@pytest.mark.parametrize(
    ("given", "passed_through"),
    [(12, 12), (12.0, 12), (-0.0, 0), (2**64 - 1, 2**64 - 1), (-(2**63), -(2**63)), (1e19, 10**19),
     (None, None), (math.nan, None), ("8879-zkjof", "8879-zkjof")],
)  # fmt: skip
def test_a_customerid_is_passed_through_as_the_integer_or_string_it_is(
    validator: CustomerValidator, given: Any, passed_through: Any
) -> None:
    _, customerid = validator.validate(make_customer() | {"customerid": given})
    assert customerid == passed_through and type(customerid) is type(passed_through)


def test_an_integer_id_below_64_bits_is_refused_though_orjson_reads_it_as_a_float_in_range(
    validator: CustomerValidator,
) -> None:
    for text in (b"-9223372036854775809", b"-9223372036854776000"):
        given = orjson.loads(text)
        assert given == -(2**63)  # a float: the digits sent are gone
        with pytest.raises(InvalidCustomer):
            validator.validate(make_customer() | {"customerid": given})


def test_crm_field_names_and_extra_fields(validator: CustomerValidator) -> None:
    record = {
        "customerID": "7590-VHVEG",
        "gender": "Female",
        "SeniorCitizen": "0",
        "Partner": "Yes",
        "Dependents": "No",
        "tenure": "1",
        "PhoneService": "No",
        "MultipleLines": "No phone service",
        "InternetService": "DSL",
        "OnlineSecurity": "No",
        "OnlineBackup": "Yes",
        "DeviceProtection": "No",
        "TechSupport": "No",
        "StreamingTV": "No",
        "StreamingMovies": "No",
        "Contract": "Month-to-month",
        "PaperlessBilling": "Yes",
        "PaymentMethod": "Electronic check",
        "MonthlyCharges": "29.85",
        "TotalCharges": "29.85",
        "Churn": "No",
        "campaign": "winter",
    }
    customer, customerid = validator.validate(record)
    assert customerid == "7590-VHVEG"
    assert customer["multiplelines"] == "no_phone_service"
    assert customer["totalcharges"] == 29.85
    assert "churn" not in customer and "campaign" not in customer


def test_same_value_under_two_spellings_is_accepted(validator: CustomerValidator) -> None:
    customer, _ = validator.validate(make_customer() | {"Contract": "One year"})
    assert customer["contract"] == "one_year"


def test_integer_customerid_passes_through(validator: CustomerValidator) -> None:
    assert validator.validate(make_customer(customerid=12345))[1] == 12345


ASCII_BLANKS = ["", " ", "\t", " \r\n ", "\x0b\x0c"]
OTHER_BLANKS = ["\u00a0", "\u3000 ", " \u2028\t"]  # white space a category's spelling may have around it


@pytest.mark.parametrize("blank", ASCII_BLANKS + OTHER_BLANKS)
@pytest.mark.parametrize("field", [f for f in features.CATEGORICAL if f not in features.FLAG_FIELDS])
def test_a_blank_category_is_a_missing_field(validator: CustomerValidator, field: str, blank: str) -> None:
    """docs/api.md: any blank, null or NaN other than totalcharges is a missing field, a category too."""
    for value in (blank, None, math.nan):
        with pytest.raises(InvalidCustomer) as info:
            validator.validate(make_customer() | {field: value})
        assert [(e.field, e.code) for e in info.value.errors] == [(field, "missing_field")], repr(value)


@pytest.mark.parametrize("blank", ASCII_BLANKS)
@pytest.mark.parametrize("field", [*features.FLAG_FIELDS, *features.NUMERICAL])
def test_a_blank_number_is_missing_except_totalcharges_which_is_0(
    validator: CustomerValidator, field: str, blank: str
) -> None:
    record = make_customer() | {field: blank}
    if field in features.BLANK_IS_ZERO:  # the Telco export's " " for a new customer, as in training
        assert validator.validate(record)[0][field] == 0.0
    else:
        assert problems(validator, record) == [(field, "missing_field")]


@pytest.mark.parametrize("blank", OTHER_BLANKS)
@pytest.mark.parametrize("field", features.NUMERICAL)
def test_a_number_padded_only_with_other_white_space_is_not_a_numeral(
    validator: CustomerValidator, field: str, blank: str
) -> None:
    """A numeral's padding is ASCII white space (docs/api.md), so this is not a blank number either."""
    assert problems(validator, make_customer() | {field: blank}) == [(field, "invalid_number")]


AGREEING = [
    ("tenure", 41, "41"),
    ("tenure", 41, 41.0),
    ("tenure", "41", " +41.00 "),
    ("seniorcitizen", 0, "0"),
    ("seniorcitizen", 1, 1.0),
    ("totalcharges", None, 0),
    ("totalcharges", "", None),
    ("totalcharges", " ", math.nan),
    ("contract", "one_year", "ONE YEAR"),
    ("contract", "", None),
    ("contract", math.nan, " "),
    ("customerid", 12, 12.0),
    ("customerid", None, math.nan),
]
DISAGREEING = [
    ("tenure", 41, "42"),
    ("tenure", 41, "x"),
    ("tenure", "abc", "xyz"),
    ("totalcharges", None, 1),
    ("contract", "one_year", "two_year"),
    ("contract", "montly", "weekly"),
    ("contract", "one_year", None),
    ("customerid", 12, "12"),
]


def both(field: str, first: Any, second: Any) -> dict[str, Any]:
    """A valid record with field given twice: under its own name, then in upper case."""
    record = make_customer() | {field: first}
    record[field.upper()] = second
    return record


def last_only(field: str, second: Any) -> dict[str, Any]:
    return make_customer() | {field: second}


def verdict(validator: CustomerValidator, record: Any) -> Any:
    try:
        return validator.validate(record)
    except InvalidCustomer as e:
        return e.details()


@pytest.mark.parametrize(("field", "first", "second"), AGREEING)
def test_two_values_that_agree_are_one_value(validator: CustomerValidator, field: str, first: Any, second: Any) -> None:
    for a, b in ((first, second), (second, first)):
        assert verdict(validator, both(field, a, b)) == verdict(validator, last_only(field, b))


@pytest.mark.parametrize(("field", "first", "second"), DISAGREEING)
def test_two_values_that_disagree_are_ambiguous(
    validator: CustomerValidator, field: str, first: Any, second: Any
) -> None:
    for a, b in ((first, second), (second, first)):
        assert (field, "ambiguous_field") in problems(validator, both(field, a, b))


def forms_of(value: Any) -> st.SearchStrategy[Any]:
    """Other ways to write a value: as text, as a float, respelled, padded; and the missing values."""
    forms: list[Any] = [value, None, math.nan, "", " "]
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e15:  # NaN is not
        forms += [str(value), float(value), f" {value!r} ", f"+{abs(value)}"]
    if isinstance(value, str):
        forms += [value.upper(), f" {value}\t", value.replace("_", " ")]
    return st.sampled_from(forms)


@pytest.mark.parametrize("field", [*features.FIELDS, features.ID_FIELD])
def test_two_values_agree_exactly_when_the_field_reads_them_alike(validator: CustomerValidator, field: str) -> None:
    """docs/api.md: accepted when both values agree: both accepted as the same value, both missing, or the
    same refused value twice; else ambiguous_field. Over each field's whole domain of values."""
    contract = validator.contract
    spec = contract.customerid if field == features.ID_FIELD else contract.fields[field]
    values = strategies.customerids() if field == features.ID_FIELD else strategies.values(spec)

    @settings(max_examples=150, deadline=None)
    @given(data=st.data())
    def check(data: Any) -> None:
        first = data.draw(values)
        second = data.draw(st.one_of(values, forms_of(first)))
        agree = agreement(spec, first, second)
        found = verdict(validator, both(field, first, second))
        if agree:
            assert found == verdict(validator, last_only(field, second)), (first, second)
        else:
            assert isinstance(found, list) and {"field": field, "code": "ambiguous_field"} in [
                {"field": d["field"], "code": d["code"]} for d in found
            ], (first, second)

    check()


def agreement(spec: Any, first: Any, second: Any) -> bool:
    """The documented rule, from the field's own check."""
    (one, error_one), (two, error_two) = spec.check(first), spec.check(second)
    missing = {"missing_field"}
    if error_one is None or error_two is None:
        return error_one is None and error_two is None and one == two
    if {error_one.code, error_two.code} == missing:
        return True
    return missing.isdisjoint({error_one.code, error_two.code}) and same_refused(first, second)


def same_refused(a: Any, b: Any) -> bool:
    """The same refused value given twice (a text in any spelling training would normalize alike)."""
    if isinstance(a, str) and isinstance(b, str):
        return features.normalize(a) == features.normalize(b)
    return type(a) is type(b) and bool(a == b)
