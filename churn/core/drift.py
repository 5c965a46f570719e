"""Drift signals: a window of recent inputs, binned as training was, and its population stability index.

The bins are the ones the training distribution in the model metadata was recorded with: one per
category and the training deciles of each number. A window only holds counts per bin, so windows of
several processes add up (the metrics sum them across server workers, then compute the PSI).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from churn.core import features
from churn.core.columns import CategoryCodes

# A share of 0 in either distribution would make the PSI infinite; the usual floor.
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class Bin:
    field: str
    label: str  # the category, or the decile's range such as "[2.0, 6.0)"
    expected: float  # share of training rows in this bin


class Bins:
    """Every field's bins laid out in one flat list, and the index of a customer's value in it."""

    def __init__(self, training_distribution: Mapping[str, Any], vocabulary: Mapping[str, Sequence[Any]]):
        self.bins: list[Bin] = []
        self.categorical: list[tuple[str, dict[Any, int]]] = []
        self.numerical: list[tuple[str, list[float], int]] = []
        self.code_slots: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        for field in features.CATEGORICAL:
            shares = training_distribution["categorical"][field]
            table = {value: self._add(field, str(value), shares.get(str(value), 0.0)) for value in vocabulary[field]}
            self.categorical.append((field, table))
        for field in features.NUMERICAL:
            recorded = training_distribution["numerical"][field]
            edges, shares = [float(e) for e in recorded["edges"]], recorded["shares"]
            offset = len(self.bins)
            for i, share in enumerate(shares):
                self._add(field, interval(edges, i), share)
            self.numerical.append((field, edges, offset))

    def _add(self, field: str, label: str, expected: float) -> int:
        self.bins.append(Bin(field, label, float(expected)))
        return len(self.bins) - 1

    def indexes(self, customer: Mapping[str, Any]) -> list[int]:
        """The bin of each field of a validated customer."""
        out = [table[customer[field]] for field, table in self.categorical]
        out.extend(offset + bisect_right(edges, customer[field]) for field, edges, offset in self.numerical)
        return out

    def counts(self, columns: Mapping[str, Sequence[Any]], rows: int, coded: CategoryCodes | None = None) -> list[int]:
        """How many customers fall in each bin, from validated values given column by column.

        The same bins as indexes() gives row by row (searchsorted "right" is bisect_right), in a few
        C loops per field, where row by row they would cost more than the batch's scoring. A categorical
        column that comes coded (churn.core.columns) is counted from its codes, without a lookup per value.
        """
        size = len(self.bins)
        total = np.zeros(size, dtype=np.int64)
        for field, table in self.categorical:
            if coded is not None and field in coded.codes:
                slots = self.slots_of_codes(field, table, coded.categories[field])[coded.codes[field]]
            else:
                slots = np.fromiter(map(table.__getitem__, columns[field]), dtype=np.int64, count=rows)
            total += np.bincount(slots, minlength=size)
        for field, edges, offset in self.numerical:
            values = np.asarray(columns[field], dtype=np.float64)
            total += np.bincount(offset + np.searchsorted(edges, values, side="right"), minlength=size)
        return [int(c) for c in total]

    def slots_of_codes(self, field: str, table: dict[Any, int], categories: tuple[str, ...]) -> np.ndarray:
        """The bin of each code of a field's categories (made once per field and categories)."""
        key = (field, categories)
        slots = self.code_slots.get(key)
        if slots is None:
            slots = self.code_slots[key] = np.array([table[value] for value in categories], dtype=np.int64)
        return slots

    def fields(self) -> list[str]:
        return [*features.CATEGORICAL, *features.NUMERICAL]


def interval(edges: list[float], i: int) -> str:
    low = f"{edges[i - 1]:g}" if i > 0 else "-inf"
    high = f"{edges[i]:g}" if i < len(edges) else "+inf"
    return f"[{low}, {high})"


class Window:
    """Counts over roughly the last chunk_rows * chunks rows: full chunks age out whole, oldest first."""

    def __init__(self, size: int, chunk_rows: int = 1000, chunks: int = 10):
        self.size = size
        self.chunk_rows = chunk_rows
        self.old: deque[list[int]] = deque(maxlen=chunks - 1)
        self.current = [0] * size
        self.rows = 0

    def add(self, slots: Iterable[int], rows: int) -> None:
        """Count one event in each slot given (repeats count again); rows says how far the window moves."""
        current = self.current
        for slot in slots:
            current[slot] += 1
        self.rows += rows
        if self.rows >= self.chunk_rows:
            self.old.append(current)
            self.current = [0] * self.size
            self.rows = 0

    def add_counts(self, counts: Sequence[int], rows: int) -> None:
        """add() given each slot's count rather than one entry per event."""
        self.current = [a + b for a, b in zip(self.current, counts, strict=False)] + self.current[len(counts) :]
        self.add((), rows)

    def bump(self, slot: int, count: int) -> None:
        self.current[slot] += count

    def totals(self) -> list[int]:
        return [sum(column) for column in zip(self.current, *self.old, strict=True)]


def psi(expected: Sequence[float], counts: Sequence[float]) -> float | None:
    """Population stability index of observed counts against expected shares; None without data."""
    total = sum(counts)
    if total <= 0:
        return None
    value = 0.0
    for share, count in zip(expected, counts, strict=True):
        e, a = max(share, PSI_FLOOR), max(count / total, PSI_FLOOR)
        value += (a - e) * math.log(a / e)
    return value


def psi_by_field(bins: Sequence[Bin], counts: Mapping[tuple[str, str], float]) -> dict[str, float]:
    """PSI per field from window counts keyed by (field, bin label); fields without data are left out."""
    grouped: dict[str, tuple[list[float], list[float]]] = {}
    for b in bins:
        expected, observed = grouped.setdefault(b.field, ([], []))
        expected.append(b.expected)
        observed.append(counts.get((b.field, b.label), 0.0))
    out = {}
    for field, (expected, observed) in grouped.items():
        value = psi(expected, observed)
        if value is not None:
            out[field] = value
    return out
