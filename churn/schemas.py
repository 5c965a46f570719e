"""Validation of customer records against the model's own vocabulary.

The book's DictVectorizer ignores unknown categories and zero-fills missing fields, so a typo
silently changes the score. Here every problem is refused, all problems of a record at once,
and raw CRM spellings are normalized exactly as training normalized them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from churn import features
from churn.errors import FieldCode

MAX_ID_LENGTH = 200
MAX_ECHO = 60  # characters of a rejected value quoted back in its error message
_KNOWN_KEYS = frozenset((*features.FIELDS, features.ID_FIELD))
_FIELD_ORDER = {f: i for i, f in enumerate((features.ID_FIELD, *features.FIELDS))}
_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", list: "array", dict: "object"}


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str
    allowed: tuple[Any, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "code": self.code, "message": self.message}
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        return out


class InvalidCustomer(Exception):
    """A record failed validation; errors lists every problem found, customerid is passed through."""

    def __init__(self, errors: list[FieldError], customerid: Any = None):
        by_code: dict[str, list[str]] = {}
        for e in errors:
            by_code.setdefault(e.code, []).append(e.field or "record")
        problems = "; ".join(f"{code}: {', '.join(fields)}" for code, fields in by_code.items())
        super().__init__(f"customer failed validation ({problems})")
        self.errors = errors
        self.customerid = customerid

    def details(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.errors]


class CustomerValidator:
    """Turn a caller's record into canonical field values the Scorer accepts, or explain why not."""

    def __init__(self, vocabulary: Mapping[str, Sequence[Any]]):
        missing = set(features.CATEGORICAL) - set(vocabulary)
        if missing:
            raise ValueError(f"vocabulary lacks {sorted(missing)}")
        self._strings = tuple(
            (f, {v: v for v in vocabulary[f]}, tuple(vocabulary[f]))
            for f in features.CATEGORICAL
            if f not in features.FLAG_FIELDS
        )
        self._flags = tuple((f, tuple(vocabulary[f])) for f in features.FLAG_FIELDS)

    @property
    def flag_values(self) -> dict[str, tuple[Any, ...]]:
        """The values each 0/1 flag field accepts (churn.batch checks clean rows against them)."""
        return dict(self._flags)

    def validate(self, raw: object) -> tuple[dict[str, Any], Any]:
        """Return (canonical customer, customerid) or raise InvalidCustomer naming every problem."""
        if type(raw) is not dict:
            raise InvalidCustomer(
                [FieldError("", FieldCode.NOT_AN_OBJECT, f"a customer must be an object, got {json_type(raw)}")]
            )
        errors: list[FieldError] = []
        record = raw if _KNOWN_KEYS.issuperset(raw) else canonical_keys(raw, errors)
        customerid = check_customerid(record.get(features.ID_FIELD), errors)
        customer: dict[str, Any] = {}
        for field, accepted, allowed in self._strings:
            value = record.get(field)
            if type(value) is str:
                canonical = accepted.get(value) or accepted.get(features.normalize(value))
                if canonical is not None:
                    customer[field] = canonical
                    continue
            errors.append(category_error(field, value, allowed))
        for field, allowed in self._flags:
            number = parse_number(field, record.get(field), errors)
            if number is not None and number in allowed:
                customer[field] = int(number)
            elif number is not None:
                errors.append(category_error(field, record[field], allowed))
        for field in features.NUMERICAL:
            number = parse_number(field, record.get(field), errors)
            if number is not None:
                customer[field] = number
        if errors:
            errors.sort(key=lambda e: _FIELD_ORDER.get(e.field, -1))
            raise InvalidCustomer(errors, customerid)
        return customer, customerid


def canonical_keys(raw: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    """Map CRM-style keys ("MonthlyCharges", "customerID") onto the model's names, as training did."""
    record: dict[str, Any] = {}
    for key, value in raw.items():
        name = features.normalize(key) if isinstance(key, str) else str(key)
        if name in record and name in _KNOWN_KEYS and not same_value(record[name], value):
            errors.append(FieldError(name, FieldCode.AMBIGUOUS_FIELD, f"{name} is given twice, with different values"))
        record[name] = value
    return record


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return features.normalize(a) == features.normalize(b)
    return bool(a == b)


def check_customerid(value: Any, errors: list[FieldError]) -> Any:
    """Pass an identifier through unchanged when it is a string or an integer."""
    if value is None or type(value) is int:
        return value
    if type(value) is not str:
        errors.append(
            FieldError(features.ID_FIELD, FieldCode.WRONG_TYPE, f"customerid must be a string, got {json_type(value)}")
        )
        return None
    if len(value) > MAX_ID_LENGTH:
        errors.append(
            FieldError(features.ID_FIELD, FieldCode.TOO_LONG, f"customerid is longer than {MAX_ID_LENGTH} characters")
        )
        return None
    return value


def category_error(field: str, value: Any, allowed: tuple[Any, ...]) -> FieldError:
    if value is None:
        return FieldError(field, FieldCode.MISSING_FIELD, f"{field} is required")
    if field in features.FLAG_FIELDS or type(value) is str:
        shown = ", ".join(str(a) for a in allowed)
        message = f"{quote(value)} is not a known value of {field}; allowed: {shown}"
        return FieldError(field, FieldCode.UNKNOWN_CATEGORY, message, allowed)
    return FieldError(field, FieldCode.WRONG_TYPE, f"{field} must be a string, got {json_type(value)}")


def parse_number(field: str, value: Any, errors: list[FieldError]) -> float | None:
    """A finite, non-negative number from a JSON number or a numeric string, else None and an error."""
    kind = type(value)
    if kind is float or kind is int:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
    elif kind is str:
        text = value.strip()
        if not text:
            if field in features.BLANK_IS_ZERO:
                return 0.0  # training turned blank totalcharges (new customers) into 0
            errors.append(FieldError(field, FieldCode.MISSING_FIELD, f"{field} is required, got a blank string"))
            return None
        try:
            number = float(text)
        except ValueError:
            errors.append(FieldError(field, FieldCode.INVALID_NUMBER, f"{field} must be a number, got {quote(value)}"))
            return None
    elif value is None:
        errors.append(FieldError(field, FieldCode.MISSING_FIELD, f"{field} is required"))
        return None
    else:
        errors.append(FieldError(field, FieldCode.WRONG_TYPE, f"{field} must be a number, got {json_type(value)}"))
        return None
    if not math.isfinite(number):
        errors.append(FieldError(field, FieldCode.NOT_FINITE, f"{field} must be a finite number"))
        return None
    if number < 0:
        errors.append(FieldError(field, FieldCode.NEGATIVE_VALUE, f"{field} must not be negative"))
        return None
    return number


def json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def quote(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "...")
