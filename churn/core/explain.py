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

    def percentiles(self, probabilities: np.ndarray) -> np.ndarray:
        """Share of training customers (in %) scoring at or below each probability, interpolated."""
        return np.interp(np.asarray(probabilities, dtype=np.float64), self.quantiles, self.ranks)

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
