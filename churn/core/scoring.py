"""The trained model compiled into per-field lookups: scores, percentiles and reason codes.

scikit-learn spends a request's time checking input and building the DictVectorizer's dense row;
the arithmetic is one weight per categorical field and one product per numeric field. The Scorer
does only that arithmetic, in the same float64, so its probabilities match predict_proba to ~1e-16.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from churn.core import features

Customer = Mapping[str, Any]  # validated: canonical field names and values


class Scorer:
    """Score validated customers with the logistic regression's own coefficients."""

    def __init__(self, intercept: float, categorical: dict[str, dict[str, float]], numeric: dict[str, float]):
        self.intercept = intercept
        self.categorical = categorical  # field -> category -> weight
        self.numeric = numeric  # field -> weight (flags such as seniorcitizen are numeric 0/1)
        self.fields = tuple(f for f in features.FIELDS if f in categorical or f in numeric)
        self._categorical_items = tuple(categorical.items())
        self._numeric_items = tuple(numeric.items())

    @classmethod
    def from_sklearn(cls, dv: Any, model: Any) -> Scorer:
        """Compile a fitted DictVectorizer + binary LogisticRegression."""
        if model.coef_.shape[0] != 1:
            raise ValueError("expected a binary logistic regression")
        categorical: dict[str, dict[str, float]] = {}
        numeric: dict[str, float] = {}
        for name, weight in zip(dv.feature_names_, model.coef_[0], strict=True):
            field, sep, value = name.partition(dv.separator)
            if sep:
                categorical.setdefault(field, {})[value] = float(weight)
            else:
                numeric[field] = float(weight)
        unknown = (set(categorical) | set(numeric)) - set(features.FIELDS)
        missing = set(features.FIELDS) - set(categorical) - set(numeric)
        if unknown or missing:
            raise ValueError(f"model features do not match the expected fields: unknown {unknown}, missing {missing}")
        return cls(float(model.intercept_[0]), categorical, numeric)

    def logit(self, customer: Customer) -> float:
        """The log-odds of churn for one validated customer."""
        z = self.intercept
        for field, table in self._categorical_items:
            z += table[customer[field]]
        for field, weight in self._numeric_items:
            z += weight * customer[field]
        return z

    def probability(self, customer: Customer) -> float:
        return sigmoid(self.logit(customer))

    def logits(self, customers: Sequence[Customer]) -> np.ndarray:
        """Log-odds for many customers, column by column, summed in the same order as logit()."""
        n = len(customers)
        terms = np.empty((len(self._categorical_items), n))
        for i, (field, table) in enumerate(self._categorical_items):
            terms[i] = np.fromiter((table[c[field]] for c in customers), dtype=np.float64, count=n)
        values = {f: np.fromiter((c[f] for c in customers), dtype=np.float64, count=n) for f in self.numeric}
        return self.logits_from_columns(terms, values)

    def logits_from_columns(
        self, terms: np.ndarray | Sequence[np.ndarray], values: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Log-odds from each categorical field's weights (one array per field, in `categorical` order) and
        each numeric field's values: the one place the terms are summed, so every path adds them in the
        same order."""
        z = np.full(len(terms[0]), self.intercept)  # every model has categorical fields (from_sklearn checks)
        for row in terms:
            z += row
        for field, weight in self._numeric_items:
            z += weight * values[field]
        return z

    def probabilities(self, customers: Sequence[Customer]) -> np.ndarray:
        return sigmoids(self.logits(customers))

    def contributions(self, customer: Customer) -> list[tuple[str, float]]:
        """Each field's term in the log-odds (weight, or weight times value), in field order."""
        out = []
        for field in self.fields:
            table = self.categorical.get(field)
            term = table[customer[field]] if table is not None else self.numeric[field] * customer[field]
            out.append((field, term))
        return out


# exp() overflows past ~709; beyond +-700 the probability is already 0 or 1 to within 1e-300.
LOGIT_LIMIT = 700.0


def sigmoid(z: float) -> float:
    """Logistic function of one log-odds, bit for bit what sigmoids() gives for the same value."""
    # numpy's exp, not math.exp: the two differ in the last bit for some inputs, and a customer
    # must score the same through /predict as through a batch. The sum and quotient are IEEE's either
    # way: in Python floats they skip two numpy scalar operations.
    return 1.0 / (1.0 + float(np.exp(-min(max(z, -LOGIT_LIMIT), LOGIT_LIMIT))))


def sigmoids(z: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -LOGIT_LIMIT, LOGIT_LIMIT)))
    return p
