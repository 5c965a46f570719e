"""The customer contract: each field described once, with the checks and the schema every path derives.

A field's description holds its name, its values (the model's vocabulary) or its numeric domain, the
range training saw and the wider range the service accepts, and what a blank or a null means. Every
path that judges a customer takes its verdict from here: the per-row validator (churn.core.validation),
the column-wise batch path (churn.core.columns), the offline CSV engine (churn.campaign.offline.block)
and the OpenAPI document (churn.server.openapi). A column path may take a value as valid only through
these checks (applied once per distinct value, or through their array forms, which state the same
bounds); any other value it leaves to the per-row validator, which alone writes error messages.

Plausibility: a number outside the training range but within RANGE_TOLERANCE training spans of it is
scored and flagged (outside_training_range); one farther out is refused (out_of_range), since the
model's answer there is an extrapolation with a probability of ~0 or 1. The accepted range is rounded
outwards to whole numbers and never goes below 0.

Missing values: a null (None), a float NaN (pandas' missing value, which pandas users send) and a blank
string (churn.core.grammar: nothing but the white space the field allows around a value) mean the
same, a value that is not there. A missing totalcharges is 0, as a blank is in training (a new
customer); any other missing field is refused (missing_field), a category as much as a number; a
missing customerid is no id. A field left out of a record is missing too, totalcharges included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churn.config import RANGE_TOLERANCE
from churn.core import features, grammar
from churn.errors import FieldCode, WarningCode

if TYPE_CHECKING:
    import numpy as np

MAX_ID_LENGTH = 200
MAX_ECHO = 60  # characters of a rejected value quoted back in its error message
_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", list: "array", dict: "object"}
# A customerid given as a number is an integer of at most 64 bits (what JSON parsers read exactly; orjson
# reads a longer one as a float, which has lost digits): a longer id is sent as a string.
ID_INTEGER_RANGE = (-(2**63), 2**64 - 1)
# orjson reads an integer below -2**63 as a float, which rounds to -2**63 itself for the first ones:
# a float id of exactly -2**63 is refused, as the integer it likely was. A longer one above rounds to
# 2**64 or more, out of range already.


class Absent:
    """The value of a field a record does not have (None is a null the caller sent)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = Absent()


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str
    allowed: tuple[Any, ...] | None = None
    range: tuple[float, float] | None = None  # the accepted range, for out_of_range

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "code": self.code, "message": self.message}
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        if self.range is not None:
            out["range"] = {"min": self.range[0], "max": self.range[1]}
        return out


@dataclass(frozen=True)
class FieldWarning:
    """A value that is accepted and scored, but that the model did not see in training."""

    field: str
    code: str
    message: str
    range: tuple[float, float]  # the training range

    def as_dict(self) -> dict[str, Any]:
        low, high = self.range
        return {"field": self.field, "code": self.code, "message": self.message, "range": {"min": low, "max": high}}


Checked = tuple[Any, FieldError | None]  # (canonical value, None) or (None, the reason it is refused)


class CategoryField:
    """A string field with a fixed vocabulary, in any spelling training would have normalized to it."""

    def __init__(self, name: str, values: Sequence[str]):
        self.name = name
        self.values = tuple(values)
        self.known = {v: v for v in self.values}

    def check(self, value: Any) -> Checked:
        canonical = self.known.get(value) if type(value) is str else None  # the common case, first
        if canonical is not None:
            return canonical, None
        spelling = read_category(self.name, value)
        if isinstance(spelling, FieldError):
            return None, spelling
        canonical = self.known.get(spelling)
        if canonical is not None:
            return canonical, None
        return None, unknown_category(self.name, value, self.values)

    def schema(self) -> dict[str, Any]:
        return {
            "description": f"{self.name}: one of {', '.join(self.values)}; any case, with spaces for '_' "
            "(raw CRM spellings)",
            "anyOf": [
                {"type": "string", "enum": list(self.values)},
                *({"type": "string", "pattern": grammar.spelling_pattern(v)} for v in self.values),
            ],
        }


class FlagField:
    """A 0/1 field (seniorcitizen): one of the whole numbers training saw, as a number or a numeric string."""

    def __init__(self, name: str, values: Sequence[int]):
        self.name = name
        self.values = tuple(int(v) for v in values)

    def check(self, value: Any) -> Checked:
        number = read_number(self.name, value, blank=None)
        if isinstance(number, FieldError):
            return None, number
        if number in self.values:
            return int(number), None
        if not math.isfinite(number) or number < 0:
            return None, not_a_domain_number(self.name, number)
        return None, unknown_category(self.name, value, self.values)

    def schema(self) -> dict[str, Any]:
        return {
            "description": f"{self.name}: one of {list(self.values)}, as a number or a numeric string",
            "anyOf": [
                {"type": "number", "enum": list(self.values)},
                {"type": "string", "pattern": grammar.numeral_pattern([(v, v) for v in self.values], whole=True)},
            ],
        }


class NumberField:
    """A number field: finite, within the accepted range; flagged outside the training range."""

    def __init__(self, name: str, training: Mapping[str, float], tolerance: float):
        self.name = name
        self.training = (float(training["min"]), float(training["max"]))
        low, high = self.training
        margin = tolerance * (high - low)
        self.accepted = (float(max(0, math.floor(low - margin))), float(math.ceil(high + margin)))
        # training turned blank totalcharges (new customers) into 0; other blanks are missing values
        self.blank = 0.0 if name in features.BLANK_IS_ZERO else None

    def check(self, value: Any) -> Checked:
        low, high = self.accepted
        if (type(value) is float or type(value) is int) and low <= value <= high:  # the common case, first
            return float(value), None
        number = read_number(self.name, value, self.blank)
        if isinstance(number, FieldError):
            return None, number
        if low <= number <= high:
            return number, None
        if not math.isfinite(number) or number < 0:
            return None, not_a_domain_number(self.name, number)
        message = (
            f"{self.name} {quote(value)} is outside the accepted range {shown(low)} to {shown(high)} "
            f"(training saw {shown(self.training[0])} to {shown(self.training[1])})"
        )
        return None, FieldError(self.name, FieldCode.OUT_OF_RANGE, message, range=self.accepted)

    def accepts_array(self, values: np.ndarray) -> np.ndarray:
        """check()'s verdict on many floats at once: within the accepted range (NaN and infinities are not)."""
        low, high = self.accepted
        within: np.ndarray = (values >= low) & (values <= high)
        return within

    def warning(self, number: float) -> FieldWarning | None:
        low, high = self.training
        if low <= number <= high:
            return None
        message = f"{self.name} {shown(number)} is outside the training range {shown(low)} to {shown(high)}"
        return FieldWarning(self.name, WarningCode.OUTSIDE_TRAINING_RANGE, message, self.training)

    def outside_training(self, values: np.ndarray) -> np.ndarray:
        """warning()'s verdict on many accepted floats at once."""
        low, high = self.training
        outside: np.ndarray = (values < low) | (values > high)
        return outside

    def schema(self) -> dict[str, Any]:
        low, high = self.accepted
        branches: list[dict[str, Any]] = [
            {"type": "number", "minimum": low, "maximum": high},
            {"type": "string", "pattern": grammar.numeral_pattern([(int(low), int(high))])},
        ]
        blank = ""
        if self.blank is not None:
            branches[0]["nullable"] = True
            branches.append({"type": "string", "pattern": grammar.BLANK_PATTERN})
            blank = "; a blank string, null or NaN means 0 (a new customer), as in training"
        return {
            "description": f"{self.name}: a number from {shown(low)} to {shown(high)} (training saw "
            f"{shown(self.training[0])} to {shown(self.training[1])}), or a numeric string{blank}",
            "anyOf": branches,
        }


class IdField:
    """customerid: optional, a string of at most MAX_ID_LENGTH characters or a 64-bit integer, passed through.

    An integer may be written as a JSON number with a zero fraction ("12.0" is the number 12, as JSON
    Schema says): it is passed through as the integer.
    """

    name = features.ID_FIELD
    max_length = MAX_ID_LENGTH

    def check(self, value: Any) -> Checked:
        kind = type(value)
        if kind is str:
            if len(value) > MAX_ID_LENGTH:
                return None, FieldError(
                    self.name, FieldCode.TOO_LONG, f"customerid is longer than {MAX_ID_LENGTH} characters"
                )
            return value, None
        if value is ABSENT or is_missing(value):
            return None, None
        # an infinity is where an integer too long for a double is read (churn.core.jsonkeys): out of range too
        if kind is int or (kind is float and (value.is_integer() or math.isinf(value))):
            low, high = ID_INTEGER_RANGE
            if low <= value <= high and (kind is int or value != low):
                return int(value), None
            return None, FieldError(
                self.name,
                FieldCode.OUT_OF_RANGE,
                "customerid as a number must be an integer of at most 64 bits: send a longer id as a string",
                range=ID_INTEGER_RANGE,
            )
        return None, FieldError(
            self.name, FieldCode.WRONG_TYPE, f"customerid must be a string or an integer, got {json_type(value)}"
        )

    def all_as_given(self, column: Sequence[Any]) -> bool:
        """check() passes every id of the column unchanged (decided for the common column of short strings at once)."""
        if set(map(type, column)) <= {str, type(None)}:
            return max((len(v) for v in column if v is not None), default=0) <= MAX_ID_LENGTH
        return all(self.as_given(v) for v in column)

    def as_given(self, value: Any) -> bool:
        """check() passes the value as it is, in the same type (12, not 12.0; None, not NaN)."""
        checked, error = self.check(value)
        return error is None and type(checked) is type(value) and (checked is None or checked == value)

    def schema(self) -> dict[str, Any]:
        low, high = ID_INTEGER_RANGE
        return {
            "description": "Passed through to batch results; never used for scoring. A number is an integer "
            "of at most 64 bits (send a longer id as a string)",
            "anyOf": [
                {"type": "string", "maxLength": MAX_ID_LENGTH, "nullable": True},
                {"type": "integer", "minimum": low, "maximum": high},
            ],
        }


Field = CategoryField | FlagField | NumberField


class Contract:
    """Every field of a model's customers, described from its vocabulary and training ranges."""

    def __init__(
        self,
        vocabulary: Mapping[str, Sequence[Any]],
        numeric_ranges: Mapping[str, Mapping[str, float]],
        tolerance: float = RANGE_TOLERANCE,
    ):
        missing_fields = (set(features.CATEGORICAL) - set(vocabulary)) | (set(features.NUMERICAL) - set(numeric_ranges))
        if missing_fields:
            raise ValueError(f"the model's metadata does not describe {sorted(missing_fields)}")
        self.tolerance = tolerance
        self.categories = tuple(
            CategoryField(f, vocabulary[f]) for f in features.CATEGORICAL if f not in features.FLAG_FIELDS
        )
        self.flags = tuple(FlagField(f, vocabulary[f]) for f in features.FLAG_FIELDS)
        self.numbers = tuple(NumberField(f, numeric_ranges[f], tolerance) for f in features.NUMERICAL)
        self.customerid = IdField()
        # The order of a canonical customer's keys: categories, flags, numbers.
        specs: tuple[Field, ...] = (*self.categories, *self.flags, *self.numbers)
        self.fields: dict[str, Field] = {f.name: f for f in specs}

    def warnings(self, customer: Mapping[str, Any]) -> list[FieldWarning]:
        """The warnings of one accepted customer."""
        return [w for spec in self.numbers if (w := spec.warning(customer[spec.name])) is not None]

    def column_warnings(
        self, columns: Mapping[str, np.ndarray], among: np.ndarray | None = None
    ) -> dict[int, list[FieldWarning]]:
        """warnings() of accepted customers given as number columns (only the rows `among`, when given),
        by row position; most rows have none, and only those that do are looked at one by one."""
        masks = [(spec, spec.outside_training(columns[spec.name])) for spec in self.numbers]
        anywhere = masks[0][1].copy()
        for _, mask in masks[1:]:
            anywhere |= mask
        if among is not None:
            anywhere &= among
        out: dict[int, list[FieldWarning]] = {}
        for i in anywhere.nonzero()[0].tolist():
            found = (spec.warning(float(columns[spec.name][i])) for spec, mask in masks if mask[i])
            out[i] = [w for w in found if w is not None]
        return out

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of one customer with the model's own names."""
        properties = {features.ID_FIELD: self.customerid.schema()}
        properties.update({name: self.fields[name].schema() for name in features.FIELDS})
        return {"type": "object", "required": list(features.FIELDS), "properties": properties}


def reading(spec: Field | IdField, value: Any) -> tuple[Any, ...]:
    """What a field reads a value as: two values given for one field (under two spellings, or as a
    repeated key) agree exactly when their readings are equal.

    An accepted value reads as its canonical value (41, 41.0 and "41" as 41.0; "ONE YEAR" as one_year;
    for totalcharges a blank, a null and 0 as 0.0). A missing value reads as missing, whatever its form
    (a null, NaN, a blank). Any other refused value reads as itself (a string as training normalizes it):
    two such values agree only when they are the same value given twice, so that two different wrong
    values are reported as ambiguous as well as wrong.
    """
    canonical, error = spec.check(value)
    if error is None:
        return ("accepted", canonical)
    if error.code == FieldCode.MISSING_FIELD:
        return ("missing",)
    return ("refused", type(value), features.normalize(value) if type(value) is str else value)


def read_category(name: str, value: Any) -> str | FieldError:
    """A category's text as training normalizes it (churn.core.features.normalize), whatever the vocabulary;
    else the error: a blank string, a null or NaN is a missing value, any other non-string a wrong type."""
    if type(value) is str:
        return blank_string(name) if grammar.is_blank_spelling(value) else features.normalize(value)
    if value is ABSENT or is_missing(value):
        return missing(name, value)
    return FieldError(name, FieldCode.WRONG_TYPE, f"{name} must be a string, got {json_type(value)}")


def read_number(name: str, value: Any, blank: float | None) -> float | FieldError:
    """A JSON number or a numeric string (churn.core.grammar) as a float, possibly not finite; else the error."""
    kind = type(value)
    if kind is float and not math.isnan(value):
        return float(value)
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return math.inf
    if kind is str:
        if grammar.is_numeral(value):
            return float(value)
        if grammar.is_blank(value):
            return blank if blank is not None else blank_string(name)
        return FieldError(name, FieldCode.INVALID_NUMBER, f"{name} must be a plain decimal number, got {quote(value)}")
    if value is ABSENT:
        return missing(name)
    if is_missing(value):
        return blank if blank is not None else missing(name, value)
    return FieldError(name, FieldCode.WRONG_TYPE, f"{name} must be a number, got {json_type(value)}")


def not_a_domain_number(name: str, number: float) -> FieldError:
    if not math.isfinite(number):
        return FieldError(name, FieldCode.NOT_FINITE, f"{name} must be a finite number")
    return FieldError(name, FieldCode.NEGATIVE_VALUE, f"{name} must not be negative")


def is_missing(value: Any) -> bool:
    """None, or a float NaN: pandas' missing value, which its users send for a blank or absent cell."""
    return value is None or (type(value) is float and math.isnan(value))


def blank_string(name: str) -> FieldError:
    return FieldError(name, FieldCode.MISSING_FIELD, f"{name} is required, got a blank string")


def missing(name: str, value: Any = None) -> FieldError:
    got = ", got NaN (a missing value)" if type(value) is float else ""
    return FieldError(name, FieldCode.MISSING_FIELD, f"{name} is required{got}")


def unknown_category(name: str, value: Any, allowed: tuple[Any, ...]) -> FieldError:
    shown_allowed = ", ".join(str(a) for a in allowed)
    message = f"{quote(value)} is not a known value of {name}; allowed: {shown_allowed}"
    return FieldError(name, FieldCode.UNKNOWN_CATEGORY, message, allowed)


def json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def quote(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "...")


def shown(number: float) -> str:
    """A bound or a value in a message: 72 rather than 72.0, 118.65 as it is."""
    return str(int(number)) if number.is_integer() else repr(number)
