"""The service without HTTP: what the observer hook (metrics, drift) is shown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from churn.core.validation import InvalidCustomer
from churn.errors import ApiError
from tests.conftest import make_customer


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, list[float], list[str]]] = []

    def observe(self, customers: Sequence[Any], probabilities: np.ndarray, rejected: Sequence[InvalidCustomer]) -> None:
        codes = [e.code for r in rejected for e in r.errors]
        self.calls.append((len(customers), probabilities.tolist(), codes))

    def observe_one(self, customer: Any, probability: float) -> None:
        self.observe((customer,), np.array((probability,)), ())


def test_observer_sees_every_scored_and_rejected_row(model: LoadedModel) -> None:
    recorder = Recorder()
    service = ChurnService(model, observer=recorder)
    service.score_rows([make_customer(), make_customer(contract="x"), make_customer(tenure=-1)])
    service.predict_one(make_customer(tenure=3))
    with pytest.raises(ApiError):
        service.predict_one(make_customer(gender=None))
    (batch_n, batch_p, batch_codes), (one_n, _, _), (bad_n, bad_p, bad_codes) = recorder.calls
    assert (batch_n, len(batch_p), batch_codes) == (1, 1, ["unknown_category", "negative_value"])
    assert one_n == 1
    assert (bad_n, bad_p, bad_codes) == (0, [], ["missing_field"])
