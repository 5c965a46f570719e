"""Reason codes and percentiles: why a customer scores as it does, and where it ranks.

For a logistic regression the explanation is exact: a customer's log-odds is the intercept plus
one term per field, so each field's term minus its average term over the training rows (the
baseline recorded at training) is that field's signed contribution to the log-odds relative to
an average customer. The contributions of a customer sum to its log-odds minus the mean log-odds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from churn.core import features
from churn.core.scoring import Customer, Scorer


class Explainer:
    """Turn scored customers into reason codes and training-score percentiles."""

    def __init__(self, scorer: Scorer, baseline: Mapping[str, float], score_quantiles: Sequence[float]):
        missing = set(scorer.fields) - set(baseline)
        if missing:
            raise ValueError(f"explain baseline lacks {sorted(missing)}")
        self.scorer = scorer
        self.baseline = tuple(float(baseline[f]) for f in scorer.fields)
        # The average value of a numeric field, recovered from its baseline term (weight x mean).
        self.means = {f: float(baseline[f]) / w for f, w in scorer.numeric.items() if w}
        self.quantiles = np.asarray(score_quantiles, dtype=np.float64)
        self.ranks = np.linspace(0.0, 100.0, len(self.quantiles))
        self.interpolate = Interpolation(self.quantiles, self.ranks)

    def percentiles(self, probabilities: np.ndarray) -> np.ndarray:
        """Share of training customers (in %) scoring at or below each probability, interpolated."""
        return self.interpolate(np.asarray(probabilities, dtype=np.float64))

    def reasons(self, customer: Customer, up: int, down: int = 0) -> dict[str, list[dict[str, Any]]]:
        """The `up` fields raising the risk most and the `down` fields lowering it most."""
        terms = self.scorer.contributions(customer)
        scored = [
            (term - base, field) for (field, term), base in zip(terms, self.baseline, strict=True) if term != base
        ]
        out: dict[str, list[dict[str, Any]]] = {}
        if up:
            out["reasons"] = [
                self.reason(field, customer, c) for c, field in sorted(scored, reverse=True)[:up] if c > 0
            ]
        if down:
            out["reasons_down"] = [self.reason(field, customer, c) for c, field in sorted(scored)[:down] if c < 0]
        return out

    def reason(self, field: str, customer: Customer, contribution: float) -> dict[str, Any]:
        value = customer[field]
        return {"field": field, "code": self.code(field, value), "value": value, "contribution": contribution}

    def code(self, field: str, value: Any) -> str:
        """A stable code per field value: the category itself, or high/low against the training mean."""
        if field in features.NUMERICAL:
            return f"{field}={'high' if value > self.means[field] else 'low'}"
        return f"{field}={value}"


class Interpolation:
    """np.interp(x, xp, fp) for fixed xp and fp, bit for bit, without np.interp's binary search.

    np.interp finds each value's interval by a binary search whose branches the CPU cannot predict
    when the values come in no order (~80 ns a value: a tenth of the offline engine's scoring). Here a
    grid over [xp[0], xp[-1]] gives each value an interval at or before its own, a few vectorized steps
    finish the search, and the value is numpy's own formula, slope * (x - xp[j]) + fp[j], the same
    double operations in the same order. xp that is not strictly increasing and finite goes to np.interp.
    """

    CELLS = 4096

    def __init__(self, xp: np.ndarray, fp: np.ndarray):
        self.xp, self.fp = xp, fp
        finite = np.isfinite(xp).all() and np.isfinite(fp).all()
        self.gridded = len(xp) >= 2 and bool(finite and np.all(np.diff(xp) > 0))
        if self.gridded:
            with np.errstate(over="ignore", divide="ignore"):
                self.scale = self.CELLS / (xp[-1] - xp[0])
            self.gridded = bool(np.isfinite(self.scale))  # else a span too narrow for a grid
        if not self.gridded:
            return
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            self.slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])  # as np.interp computes them
        edges = xp[0] + np.arange(self.CELLS + 1) / self.scale
        # Each cell starts the search one cell early: rounding misplaces a value by a cell at most (and
        # the search steps back if it ever started too far).
        first = np.clip(np.searchsorted(xp, edges, side="right") - 1, 0, len(xp) - 2)
        self.start = np.concatenate(([0], first[:-1]))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.gridded:
            return np.asarray(np.interp(x, self.xp, self.fp), dtype=np.float64)
        xp, last = self.xp, len(self.xp) - 2
        with np.errstate(over="ignore", invalid="ignore"):
            position = np.nan_to_num((x - xp[0]) * self.scale)  # NaN (replaced at the end) in cell 0
        j = self.start[np.clip(position, 0, self.CELLS).astype(np.intp)]
        behind = np.flatnonzero((xp[j] > x) & (j > 0))
        while len(behind):
            j[behind] -= 1
            behind = behind[(xp[j[behind]] > x[behind]) & (j[behind] > 0)]
        ahead = np.flatnonzero((xp[j + 1] <= x) & (j < last))
        while len(ahead):  # a few steps: a cell holds few points
            j[ahead] += 1
            ahead = ahead[(xp[j[ahead] + 1] <= x[ahead]) & (j[ahead] < last)]
        with np.errstate(over="ignore", invalid="ignore"):
            out: np.ndarray = self.slopes[j] * (x - xp[j]) + self.fp[j]
            self.as_numpy_does_at_the_edges(out, x, j)
        out[x >= xp[-1]] = self.fp[-1]  # np.interp's right value (fp[-1]), also for x == xp[-1]
        out[x < xp[0]] = self.fp[0]  # its left value
        nan = np.isnan(x)
        out[nan] = x[nan]  # np.interp gives a NaN back as it came (sign and payload)
        return out

    def as_numpy_does_at_the_edges(self, out: np.ndarray, x: np.ndarray, j: np.ndarray) -> None:
        """np.interp's answers where the slope is not finite: fp[j] at x == xp[j], then the formula from
        the interval's other end, then fp[j] when both ends have the same value."""
        xp, fp = self.xp, self.fp
        at_point = x == xp[j]
        out[at_point] = fp[j[at_point]]
        odd = np.flatnonzero(np.isnan(out) & ~np.isnan(x))
        if len(odd):
            k, y = j[odd], x[odd]
            other = self.slopes[k] * (y - xp[k + 1]) + fp[k + 1]
            out[odd] = np.where(np.isnan(other) & (fp[k] == fp[k + 1]), fp[k], other)
