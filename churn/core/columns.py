"""Column-wise validation and scoring of batches, with the per-row validator as the only judge of bad rows.

Profiling /v1/predict showed the per-row validator and per-row scoring spending most of a batch's time in
Python (docs/performance.md). Most rows of a real batch are already clean: exact canonical categories, JSON numbers, an
optional string id. Such rows are checked here a column at a time and scored from the same weights.
A value is taken as valid only by churn.core.contract's own checks: categories among the canonical values
the contract accepts (one dict lookup per cell, in C loops), numbers by the contract's array form of
its range check. Any row that is not plainly clean (raw CRM spellings, a missing field, a wrong type,
a number out of range...) goes through CustomerValidator.validate, so its canonical values and every
error message are exactly what the per-row path gives.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import contains, itemgetter
from typing import Any, overload

import numpy as np

from churn.core import features
from churn.core.contract import FieldWarning
from churn.core.scoring import Scorer
from churn.core.validation import CustomerValidator, InvalidCustomer

NAN = math.nan
_KNOWN_KEYS = frozenset((*features.FIELDS, features.ID_FIELD))
_NUMBER_TYPES = frozenset((int, float))
_DICT = frozenset((dict,))


@dataclass
class ValidatedBatch:
    """The outcome of validating rows: valid customers in input order, and each bad row's error."""

    valid_index: list[int]  # input positions of the valid rows
    customers: Sequence[dict[str, Any]]  # canonical customers, as CustomerValidator.validate returns them
    customerids: list[Any]
    logits: np.ndarray  # one per valid row
    rejected: dict[int, InvalidCustomer]  # input position -> error, in input order
    warnings: dict[int, list[FieldWarning]]  # input position -> warnings, for the valid rows that have any


class BatchScorer:
    """Validate and score many rows at once; bit-identical to validate() + Scorer row by row."""

    def __init__(self, validator: CustomerValidator, scorer: Scorer):
        self.validator = validator
        self.contract = contract = validator.contract
        self.scorer = scorer
        # What a plainly clean cell may hold: values the contract itself accepts as they are, each by its
        # code (its position in categories[f]); a cell's weight is its code's, and the drift bins count codes.
        self.categories = {
            f: tuple(v for v in table if contract.fields[f].check(v) == (v, None))
            for f, table in scorer.categorical.items()
        }
        self.codes = {f: {v: i for i, v in enumerate(values)} for f, values in self.categories.items()}
        # the weight of each code, then NaN: the weight of code -1, which a cell that is not clean gets
        self.weights = {
            f: np.array([*(scorer.categorical[f][v] for v in values), NAN]) for f, values in self.categories.items()
        }
        self.flags = {f.name: frozenset(v for v in f.values if f.check(v) == (v, None)) for f in contract.flags}
        self.numbers = {f.name: f for f in contract.numbers}
        self.order = tuple(contract.fields)  # the key order CustomerValidator.validate gives a customer

    def run(self, rows: Sequence[Any]) -> ValidatedBatch:
        n = len(rows)
        table = exact_columns(rows, self.order)
        if table is not None:  # the usual batch: every row is plainly clean
            clean, fast_rows = np.ones(n, dtype=bool), list(rows)
        else:
            clean = np.fromiter((type(r) is dict and _KNOWN_KEYS.issuperset(r) for r in rows), dtype=bool, count=n)
            fast_rows = [r for r, ok in zip(rows, clean.tolist(), strict=True) if ok]
            table = transpose(fast_rows, self.order)
        ok, logits, customers, numbers = self.columns(fast_rows, table)
        clean[clean] = ok
        return self.assemble(rows, clean, logits, customers, numbers)

    def columns(
        self, rows: list[dict[str, Any]], table: dict[str, list[Any]]
    ) -> tuple[np.ndarray, np.ndarray, CustomerColumns, dict[str, np.ndarray]]:
        """For plainly clean rows (and their columns): which passed, their logits, their canonical customers
        and number columns."""
        n = len(rows)
        ids = [r.get(features.ID_FIELD) for r in rows]
        ok = np.ones(n, dtype=bool)
        if not self.contract.customerid.all_as_given(ids):  # 12.0 or NaN: the validator gives the id
            ok = np.fromiter(map(self.contract.customerid.as_given, ids), dtype=bool, count=n)
        codes = np.empty((len(self.scorer.categorical), n), dtype=np.int64)
        terms = np.empty((len(self.scorer.categorical), n))
        for i, field in enumerate(self.scorer.categorical):
            codes[i] = category_codes(table[field], self.codes[field])
            terms[i] = self.weights[field][codes[i]]
        ok &= ~np.isnan(terms).any(axis=0)
        values: dict[str, np.ndarray] = {}
        for field in self.scorer.numeric:
            allowed = self.flags.get(field)
            if allowed is not None:
                values[field], good = flag_values(table[field], allowed)
            else:
                values[field] = number_values(table[field])
                good = self.numbers[field].accepts_array(values[field])
                table[field] = values[field].tolist()  # canonical numbers are floats, as the validator gives
            ok &= good
        keep = np.flatnonzero(ok).tolist()
        picked = [table[f] if len(keep) == n else [table[f][i] for i in keep] for f in self.order]
        kept_codes = {f: codes[i, ok] for i, f in enumerate(self.scorer.categorical)}
        customers = CustomerColumns(self.order, picked, CategoryCodes(self.categories, kept_codes))
        valid = {f: v[ok] for f, v in values.items()}
        logits = self.scorer.logits_from_columns(terms[:, ok], valid)
        return ok, logits, customers, valid

    def assemble(
        self,
        rows: Sequence[Any],
        clean: np.ndarray,
        logits: np.ndarray,
        clean_customers: CustomerColumns,
        clean_numbers: dict[str, np.ndarray],
    ) -> ValidatedBatch:
        """Merge the clean rows with the per-row validator's verdict on every other row, in input order."""
        clean_warnings = self.contract.column_warnings(clean_numbers)
        if clean.all():
            clean_ids = [r.get(features.ID_FIELD) for r in rows]
            return ValidatedBatch(list(range(len(rows))), clean_customers, clean_ids, logits, {}, clean_warnings)
        all_logits = np.empty(len(rows))
        all_logits[clean] = logits
        customers: list[dict[str, Any] | None] = [None] * len(rows)
        ids: list[Any] = [None] * len(rows)
        clean_index = np.flatnonzero(clean).tolist()
        warnings = {clean_index[i]: w for i, w in clean_warnings.items()}
        for i, customer in zip(clean_index, clean_customers, strict=True):
            customers[i], ids[i] = customer, rows[i].get(features.ID_FIELD)
        rejected: dict[int, InvalidCustomer] = {}
        slow_valid: list[int] = []
        for i in np.flatnonzero(~clean).tolist():
            try:
                customers[i], ids[i] = self.validator.validate(rows[i])
            except InvalidCustomer as e:
                rejected[i] = e
                continue
            slow_valid.append(i)
            if found := self.contract.warnings(customers[i]):  # type: ignore[arg-type]
                warnings[i] = found
        if slow_valid:
            all_logits[slow_valid] = self.scorer.logits([customers[i] for i in slow_valid])  # type: ignore[misc]
        valid_index = [i for i, c in enumerate(customers) if c is not None]
        return ValidatedBatch(
            valid_index,
            [customers[i] for i in valid_index],  # type: ignore[misc]
            [ids[i] for i in valid_index],
            all_logits[valid_index],
            rejected,
            dict(sorted(warnings.items())),
        )


@dataclass(frozen=True)
class CategoryCodes:
    """Each categorical column of clean customers as codes: row r's value is categories[f][codes[f][r]]."""

    categories: Mapping[str, tuple[str, ...]]
    codes: Mapping[str, np.ndarray]


class CustomerColumns(Sequence[dict[str, Any]]):
    """Clean customers kept as columns; each is built as the validator's dict only when someone reads it.

    Building 1000 dicts costs more than validating and scoring them, and most batches (no explain, an
    observer that only counts) never read them. The categorical columns come with their codes too, from
    the lookup that found their weights, so that counting categories (the drift bins) needs no lookup again.
    """

    def __init__(self, fields: tuple[str, ...], columns: list[list[Any]], codes: CategoryCodes | None = None):
        self.fields = fields
        self.columns = columns
        self.size = len(columns[0]) if columns else 0
        self.codes = codes

    def __len__(self) -> int:
        return self.size

    def by_field(self) -> dict[str, list[Any]]:
        """The columns themselves, by field name (no dict per customer)."""
        return dict(zip(self.fields, self.columns, strict=True))

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        return dict(zip(self.fields, (column[index] for column in self.columns), strict=True))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for values in zip(*self.columns, strict=True):
            yield dict(zip(self.fields, values, strict=True))


def exact_columns(rows: Sequence[Any], fields: tuple[str, ...]) -> dict[str, list[Any]] | None:
    """The rows as columns when every row is an object of exactly these fields (the id too, or not); else None.

    Decided in C loops without looking a key up twice: taking every field from every row finds them all
    (the transposition needs them anyway), and the sizes leave room for no other key.
    """
    n = len(rows)
    if not _DICT.issuperset(map(type, rows)):
        return None
    sizes = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    with_id = np.fromiter(map(contains, rows, repeat(features.ID_FIELD)), dtype=np.int64, count=n)
    if not np.array_equal(sizes, len(fields) + with_id):
        return None
    try:
        return columns_of(list(map(itemgetter(*fields), rows)), fields)
    except KeyError:
        return None


def transpose(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, list[Any]]:
    """Rows to columns (None where a row lacks a field), in C loops when every row has every field."""
    try:
        tuples = list(map(itemgetter(*fields), rows))
    except KeyError:
        tuples = [tuple(r.get(f) for f in fields) for r in rows]
    return columns_of(tuples, fields)


def columns_of(tuples: list[tuple[Any, ...]], fields: tuple[str, ...]) -> dict[str, list[Any]]:
    if not tuples:
        return {f: [] for f in fields}
    return {f: list(column) for f, column in zip(fields, zip(*tuples, strict=True), strict=True)}


def category_codes(column: list[Any], table: dict[str, int]) -> np.ndarray:
    """Each value's code, -1 where the value is not exactly a known category."""
    try:
        return np.fromiter(map(table.get, column, repeat(-1)), dtype=np.int64, count=len(column))
    except TypeError:  # an unhashable value (a list or an object): its row goes to the per-row validator
        return np.array([table.get(v, -1) if type(v) is str else -1 for v in column], dtype=np.int64)


def number_values(column: list[Any]) -> np.ndarray:
    """JSON numbers as float64, NaN for anything else (which the contract's range check refuses, leaving
    the row to the validator)."""
    n = len(column)
    if _NUMBER_TYPES.issuperset(map(type, column)):
        try:
            return np.fromiter(column, dtype=np.float64, count=n)
        except OverflowError:
            pass
    return np.array([float_or_nan(v) for v in column], dtype=np.float64)


def float_or_nan(value: Any) -> float:
    if type(value) is float or type(value) is int:
        try:
            return float(value)
        except OverflowError:
            return NAN
    return NAN


def flag_values(column: list[Any], allowed: frozenset[int]) -> tuple[np.ndarray, np.ndarray]:
    """0/1 flags given as JSON integers; anything else (1.0, "1", true) is left to the validator."""
    good = np.fromiter((type(v) is int and v in allowed for v in column), dtype=bool, count=len(column))
    values = np.array([v if g else 0 for v, g in zip(column, good.tolist(), strict=True)], dtype=np.float64)
    return values, good


def by_field(customers: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> Mapping[str, Sequence[Any]]:
    """Validated customers as one list of values per field (kept columns are handed over as they are)."""
    if isinstance(customers, CustomerColumns):
        return customers.by_field()
    return {f: [c[f] for c in customers] for f in fields}


def codes_of(customers: Sequence[Mapping[str, Any]]) -> CategoryCodes | None:
    """The categorical columns' codes, where the customers came with them."""
    return customers.codes if isinstance(customers, CustomerColumns) else None
