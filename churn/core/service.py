"""Scoring as the API offers it, free of HTTP: routes, the job worker and the offline client share it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from churn.config import RANGE_TOLERANCE
from churn.core import jsonkeys
from churn.core.columns import BatchScorer
from churn.core.contract import json_type
from churn.core.model import LoadedModel
from churn.core.scoring import Customer, sigmoids
from churn.core.validation import CustomerValidator, InvalidCustomer
from churn.errors import ApiError, Code

NO_SCORES = np.empty(0)
BATCH_OPTIONS = ("explain", "explain_down")  # how many reasons up / down per scored row
BATCH_KEYS = ("customers", *BATCH_OPTIONS)


class Observer(Protocol):
    """Sees every scoring call's valid customers, their probabilities and the rejected rows (metrics, drift)."""

    def observe(
        self, customers: Sequence[Customer], probabilities: np.ndarray, rejected: Sequence[InvalidCustomer]
    ) -> None:
        """Record one call; must be cheap and must not raise."""

    def observe_one(self, customer: Customer, probability: float) -> None:
        """Record one scored customer (every POST /predict), as observe() would record a batch of one."""


class NullObserver:
    def observe(
        self, customers: Sequence[Customer], probabilities: np.ndarray, rejected: Sequence[InvalidCustomer]
    ) -> None:
        pass

    def observe_one(self, customer: Customer, probability: float) -> None:
        pass


class ChurnService:
    """Validate and score customers one at a time or in batches with per-row errors."""

    def __init__(
        self,
        model: LoadedModel,
        threshold: float = 0.5,
        max_batch: int = 10_000,
        observer: Observer | None = None,
        range_tolerance: float = RANGE_TOLERANCE,
    ):
        self.observer: Observer = observer or NullObserver()
        self.model = model
        self.scorer = model.scorer
        self.contract = model.contract(range_tolerance)
        self.validator = CustomerValidator(self.contract)
        self.batch = BatchScorer(self.validator, self.scorer)
        self.threshold = threshold
        self.max_batch = max_batch

    def predict_one(self, payload: Any) -> dict[str, Any]:
        """The book's /predict: one customer in, probability and decision out."""
        try:
            customer, _ = self.validator.validate(payload)
        except InvalidCustomer as e:
            self.observer.observe((), NO_SCORES, (e,))
            raise ApiError(422, Code.VALIDATION_FAILED, str(e), e.details()) from None
        probability = self.scorer.probability(customer)
        self.observer.observe_one(customer, probability)
        return {"churn_probability": probability, "churn": probability >= self.threshold}

    def predict_batch(self, payload: Any) -> dict[str, Any]:
        """/v1/predict: {"customers": [...], "explain": k} in, one result per row, in input order."""
        rows = self.batch_rows(payload)
        up, down = (self.explain_option(payload, name) for name in BATCH_OPTIONS)
        return self.score_rows(rows, explain=up, explain_down=down)

    def explain_option(self, payload: dict[str, Any], name: str) -> int:
        value = payload.get(name, 0)
        limit = len(self.scorer.fields)
        if type(value) is not int or not 0 <= value <= limit:
            raise ApiError(422, Code.INVALID_REQUEST, f"{name} must be an integer from 0 to {limit}")
        return value

    def batch_rows(self, payload: Any) -> list[Any]:
        """The rows of a batch request, or an ApiError for a request that has no valid shape."""
        if type(payload) is not dict or type(payload.get("customers")) is not list:
            got = json_type(payload) if type(payload) is not dict else shape_of_customers(payload)
            raise ApiError(422, Code.INVALID_REQUEST, f'the body must be an object with a "customers" array, got {got}')
        repeated = sorted(name for name in BATCH_KEYS if jsonkeys.repeated(payload, name))
        if repeated:
            raise ApiError(422, Code.INVALID_REQUEST, f"the request gives {', '.join(repeated)} more than once")
        unknown = sorted(set(payload) - set(BATCH_KEYS))
        if unknown:
            raise ApiError(422, Code.INVALID_REQUEST, f"unknown request options: {', '.join(unknown)}")
        rows: list[Any] = payload["customers"]
        self.check_batch_size(len(rows))
        return rows

    def check_batch_size(self, rows: int) -> None:
        """Refuse a batch of more rows than one request may score (every protocol's batches are held to it)."""
        if rows > self.max_batch:
            raise ApiError(
                413,
                Code.BATCH_TOO_LARGE,
                f"a batch holds at most {self.max_batch} customers, got {rows}: split it into smaller requests",
                {"max_batch": self.max_batch, "rows": rows},
            )

    def score_rows(self, rows: Sequence[Any], explain: int = 0, explain_down: int = 0) -> dict[str, Any]:
        """Score every valid row at once; give each invalid row its own error object."""
        batch = self.batch.run(rows)
        probabilities = sigmoids(batch.logits)
        rejected = list(batch.rejected.values())
        self.observer.observe(batch.customers, probabilities, rejected)
        results: list[dict[str, Any]] = [{}] * len(rows)
        for index, e in batch.rejected.items():
            error = {"code": Code.VALIDATION_FAILED, "message": str(e), "details": e.details()}
            results[index] = {"index": index, "customerid": e.customerid, "error": error}
        percentiles = self.model.explainer.percentiles(probabilities).tolist()
        threshold = self.threshold
        churners = 0
        for index, customerid, probability, percentile in zip(
            batch.valid_index, batch.customerids, probabilities.tolist(), percentiles, strict=True
        ):
            churn = probability >= threshold
            churners += churn
            results[index] = {
                "index": index,
                "customerid": customerid,
                "churn_probability": probability,
                "churn": churn,
                "percentile": percentile,
            }
        if explain or explain_down:
            reasons = self.model.explainer.reasons_of(batch.customers, explain, explain_down)
            for index, found in zip(batch.valid_index, reasons, strict=True):
                results[index].update(found)
        for index, warnings in batch.warnings.items():
            results[index]["warnings"] = [w.as_dict() for w in warnings]
        scored = len(batch.valid_index)
        summary = {"rows": len(rows), "scored": scored, "rejected": len(rows) - scored, "churners": churners}
        return {
            "model_version": self.model.version,
            "threshold": self.threshold,
            "summary": summary,
            "predictions": results,
        }


def shape_of_customers(payload: dict[str, Any]) -> str:
    """What an object body holds instead of a "customers" array, for the error message."""
    if "customers" not in payload:
        return 'an object without "customers"'
    return f'"customers" as {json_type(payload["customers"])}'
