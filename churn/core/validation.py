"""Validation of one customer record at a time, by the field checks of churn.core.contract.

The book's DictVectorizer ignores unknown categories and zero-fills missing fields, so a typo
silently changes the score. Here every problem is refused, all problems of a record at once,
and raw CRM spellings are normalized exactly as training normalized them. This per-row path
is the reference every column-wise path is compared with, and the only one that writes errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from churn.core import features
from churn.core.contract import ABSENT, Contract, Field, FieldError, IdField, json_type, reading
from churn.errors import FieldCode

_KNOWN_KEYS = frozenset((*features.FIELDS, features.ID_FIELD))
_MODEL_FIELDS = frozenset(features.FIELDS)
_FIELD_ORDER = {f: i for i, f in enumerate((features.ID_FIELD, *features.FIELDS))}
NO_KNOWN_FIELDS = f"the record has none of the model's {len(features.FIELDS)} fields"


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

    def __init__(self, contract: Contract):
        self.contract = contract
        # Each field's check, with the values it accepts as they are (a category's vocabulary) looked up first.
        self._checks = tuple((name, getattr(spec, "known", {}), spec.check) for name, spec in contract.fields.items())
        self._specs: dict[str, Field | IdField] = {**contract.fields, features.ID_FIELD: contract.customerid}

    def validate(self, raw: object) -> tuple[dict[str, Any], Any]:
        """Return (canonical customer, customerid) or raise InvalidCustomer naming every problem."""
        if type(raw) is not dict:
            raise InvalidCustomer(
                [FieldError("", FieldCode.NOT_AN_OBJECT, f"a customer must be an object, got {json_type(raw)}")]
            )
        errors: list[FieldError] = []
        record = raw if _KNOWN_KEYS.issuperset(raw) else canonical_keys(raw, errors, self._specs)
        customerid, error = self.contract.customerid.check(record.get(features.ID_FIELD))
        if error is not None:
            errors.append(error)
        if _MODEL_FIELDS.isdisjoint(record):  # one error, not one per field: an empty row answers small
            raise InvalidCustomer([*errors, FieldError("", FieldCode.NO_KNOWN_FIELDS, NO_KNOWN_FIELDS)], customerid)
        customer: dict[str, Any] = {}
        get = record.get
        for name, known, check in self._checks:
            value = get(name, ABSENT)
            if type(value) is str and value in known:
                customer[name] = known[value]
                continue
            value, error = check(value)
            if error is None:
                customer[name] = value
            else:
                errors.append(error)
        if errors:
            errors.sort(key=lambda e: _FIELD_ORDER.get(e.field, -1))
            raise InvalidCustomer(errors, customerid)
        return customer, customerid


def canonical_keys(
    raw: dict[str, Any], errors: list[FieldError], specs: Mapping[str, Field | IdField]
) -> dict[str, Any]:
    """Map CRM-style keys ("MonthlyCharges", "customerID") onto the model's names, as training did.

    A name given twice (two spellings, or a repeated JSON key, which churn.core.jsonkeys turns into a
    second spelling) is accepted when both values agree as its field reads them (churn.core.contract's
    reading: 41 and "41" agree, "abc" and "xyz" do not), else ambiguous: reported once, whatever the count.
    """
    record: dict[str, Any] = {}
    ambiguous: set[str] = set()
    for key, value in raw.items():
        name = features.normalize(key) if isinstance(key, str) else str(key)
        spec = specs.get(name)
        if name in record and spec is not None and name not in ambiguous and not agree(spec, record[name], value):
            ambiguous.add(name)
            errors.append(FieldError(name, FieldCode.AMBIGUOUS_FIELD, f"{name} is given twice, with different values"))
        record[name] = value
    return record


def agree(spec: Field | IdField, a: Any, b: Any) -> bool:
    return a is b or reading(spec, a) == reading(spec, b)
