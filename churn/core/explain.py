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
        self.name_rank = np.argsort(np.argsort(np.array(scorer.fields)))  # each field's place by name
        self.levels = {f: (f"{f}=low", f"{f}=high") for f in features.NUMERICAL}  # at or below the mean, above

    def percentiles(self, probabilities: np.ndarray) -> np.ndarray:
        """Share of training customers (in %) scoring at or below each probability, interpolated."""
        return np.interp(np.asarray(probabilities, dtype=np.float64), self.quantiles, self.ranks)

    def ranked(self, contributions: np.ndarray) -> np.ndarray:
        """The field positions of each row of contributions (customers x fields, in scorer.fields order),
        from the largest contribution to the smallest; equal contributions by field name, the later first.

        The one rule every path orders reasons by: the top `up` positive ones are a prefix of each row,
        the top `down` negative ones a prefix of the row reversed.
        """
        names = np.broadcast_to(self.name_rank, contributions.shape)
        order: np.ndarray = np.lexsort((names, contributions), axis=-1)[..., ::-1]
        return order

    def reasons(self, customer: Customer, up: int, down: int = 0) -> dict[str, list[dict[str, Any]]]:
        """The `up` fields raising the risk most and the `down` fields lowering it most."""
        return self.reasons_of([customer], up, down)[0]

    def reasons_of(
        self, customers: Sequence[Customer], up: int, down: int = 0
    ) -> list[dict[str, list[dict[str, Any]]]]:
        """reasons() of each customer, ranked all at once."""
        terms = np.array([[term for _, term in self.scorer.contributions(c)] for c in customers], dtype=np.float64)
        contributions = terms.reshape(len(customers), len(self.baseline)) - self.baseline
        out: list[dict[str, list[dict[str, Any]]]] = []
        for customer, order, row in zip(
            customers, self.ranked(contributions).tolist(), contributions.tolist(), strict=True
        ):
            reasons: dict[str, list[dict[str, Any]]] = {}
            if up:
                reasons["reasons"] = [self.reason(i, customer, row[i]) for i in order[:up] if row[i] > 0]
            if down:
                reasons["reasons_down"] = [self.reason(i, customer, row[i]) for i in order[::-1][:down] if row[i] < 0]
            out.append(reasons)
        return out

    def reason(self, position: int, customer: Customer, contribution: float) -> dict[str, Any]:
        field = self.scorer.fields[position]
        value = customer[field]
        return {"field": field, "code": self.code(field, value), "value": value, "contribution": contribution}

    def code(self, field: str, value: Any) -> str:
        """A stable code per field value: the category itself, or high/low against the training mean."""
        if field in features.NUMERICAL:
            return self.levels[field][value > self.means[field]]
        return f"{field}={value}"

    def codes(self, field: str, values: np.ndarray) -> np.ndarray:
        """code() of each value of a numeric field, as an array of str objects."""
        levels = np.array(self.levels[field], dtype=object)
        chosen: np.ndarray = levels[(values > self.means[field]).astype(np.intp)]
        return chosen
