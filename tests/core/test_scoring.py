"""The compiled scorer gives scikit-learn's probabilities, for every customer there is and could be."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.core import features
from churn.core.model import LoadedModel
from churn.core.scoring import sigmoid, sigmoids
from churn.core.training import load_frame, records
from churn.core.validation import CustomerValidator
from tests.conftest import DATA_PATH

TOLERANCE = 1e-12


def sklearn_probabilities(model: LoadedModel, customers: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray(model.estimator.predict_proba(model.dv.transform(customers))[:, 1])


def test_every_row_of_the_data_set_matches_sklearn(model: LoadedModel) -> None:
    rows = records(load_frame(DATA_PATH))
    expected = sklearn_probabilities(model, rows)
    assert np.max(np.abs(model.scorer.probabilities(rows) - expected)) < TOLERANCE
    singles = np.array([model.scorer.probability(row) for row in rows])
    assert np.max(np.abs(singles - expected)) < TOLERANCE


def test_raw_crm_rows_validate_to_the_books_preprocessing(model: LoadedModel) -> None:
    """Rows as the CRM exports them (capitalised headers, "One year", blank TotalCharges) score as in training."""
    validator = CustomerValidator(model.contract())
    with DATA_PATH.open(newline="") as f:
        raw_rows = list(csv.DictReader(f))
    customers = [validator.validate(row)[0] for row in raw_rows]
    expected = sklearn_probabilities(model, records(load_frame(DATA_PATH)))
    assert np.max(np.abs(model.scorer.probabilities(customers) - expected)) < TOLERANCE


def customers_strategy(model: LoadedModel) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {f: st.sampled_from(v) for f, v in model.vocabulary.items()}
    for f in features.NUMERICAL:
        # well beyond the training ranges too: the scorer must agree where the model extrapolates
        fields[f] = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
    return st.fixed_dictionaries(fields)


def test_generated_customers_match_sklearn(model: LoadedModel) -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(customers_strategy(model), min_size=1, max_size=50))
    def check(customers: list[dict[str, Any]]) -> None:
        expected = sklearn_probabilities(model, customers)
        assert np.max(np.abs(model.scorer.probabilities(customers) - expected)) < TOLERANCE
        for customer, want in zip(customers, expected, strict=True):
            assert abs(model.scorer.probability(customer) - want) < TOLERANCE

    check()


def test_contributions_sum_to_the_logit(model: LoadedModel) -> None:
    customer = records(load_frame(DATA_PATH))[0]
    terms = model.scorer.contributions(customer)
    assert [f for f, _ in terms] == list(features.FIELDS)
    assert model.scorer.intercept + sum(t for _, t in terms) == pytest.approx(model.scorer.logit(customer), abs=1e-12)


@pytest.mark.parametrize("z", [-1e6, -800.0, -30.0, 0.0, 30.0, 800.0, 1e6])
def test_sigmoid_never_overflows(z: float) -> None:
    p = sigmoid(z)
    assert 0.0 <= p <= 1.0
    assert sigmoids(np.array([z]))[0] == p


def test_single_and_batch_sigmoid_agree_bit_for_bit() -> None:
    z = np.random.default_rng(0).normal(0, 8, 20_000)
    assert sigmoids(z).tolist() == [sigmoid(v) for v in z.tolist()]
