"""Directional checks on the real trained model, through the service's own scoring path."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.core.model import LoadedModel
from churn.core.service import ChurnService

CONTRACTS_BY_COMMITMENT = ["month-to-month", "one_year", "two_year"]


@pytest.fixture(scope="module")
def service(model: LoadedModel) -> ChurnService:
    return ChurnService(model)


def customers(model: LoadedModel) -> st.SearchStrategy[dict[str, Any]]:
    """Customers inside what training saw: every category, numbers within the training ranges."""
    fields: dict[str, st.SearchStrategy[Any]] = {f: st.sampled_from(v) for f, v in model.vocabulary.items()}
    for f, r in model.metadata["numeric_ranges"].items():
        fields[f] = st.floats(min_value=r["min"], max_value=r["max"])
    return st.fixed_dictionaries(fields)


def score(service: ChurnService, customer: dict[str, Any]) -> float:
    return float(service.predict_one(customer)["churn_probability"])


def test_longer_contracts_never_score_higher(service: ChurnService, model: LoadedModel) -> None:
    @settings(max_examples=500, deadline=None)
    @given(customers(model))
    def check(customer: dict[str, Any]) -> None:
        scores = [score(service, customer | {"contract": c}) for c in CONTRACTS_BY_COMMITMENT]
        assert scores[2] <= scores[1] <= scores[0]

    check()


def test_more_tenure_never_raises_risk(service: ChurnService, model: LoadedModel) -> None:
    """Holding everything else fixed, tenure has a negative weight, so risk falls as tenure grows."""

    @settings(max_examples=500, deadline=None)
    @given(customers(model), st.floats(min_value=0, max_value=72))
    def check(customer: dict[str, Any], extra_months: float) -> None:
        longer = customer | {"tenure": customer["tenure"] + extra_months}
        assert score(service, longer) <= score(service, customer)

    check()


def test_more_tenure_at_the_same_monthly_bill_never_raises_risk(service: ChurnService, model: LoadedModel) -> None:
    """When total charges grow with tenure (total = tenure x monthly), risk still falls.

    Total charges carry a small positive weight, so each month adds w_tenure + w_total x monthly to
    the log-odds. That is negative for every monthly charge seen in training (up to 118.65); it would
    turn positive only above ~185 a month, a bill no customer in the data has.
    """
    w = model.scorer.numeric
    assert w["tenure"] + w["totalcharges"] * model.metadata["numeric_ranges"]["monthlycharges"]["max"] < 0

    @settings(max_examples=500, deadline=None)
    @given(customers(model), st.floats(min_value=0, max_value=71), st.floats(min_value=0.5, max_value=72))
    def check(customer: dict[str, Any], tenure: float, extra: float) -> None:
        monthly = customer["monthlycharges"]
        shorter = customer | {"tenure": tenure, "totalcharges": tenure * monthly}
        longer = customer | {"tenure": tenure + extra, "totalcharges": (tenure + extra) * monthly}
        assert score(service, longer) <= score(service, shorter)

    check()


def test_identifiers_and_extra_fields_do_not_change_the_score(service: ChurnService, model: LoadedModel) -> None:
    extras = st.dictionaries(st.sampled_from(["note", "churn", "region"]), st.text())

    @settings(max_examples=100, deadline=None)
    @given(customers(model), st.text(max_size=20), extras)
    def check(customer: dict[str, Any], customerid: str, extra: dict[str, str]) -> None:
        assert score(service, customer | {"customerid": customerid} | extra) == score(service, customer)

    check()
