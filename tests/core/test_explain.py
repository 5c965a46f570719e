"""Reason codes are exact log-odds contributions; percentiles rank a score among training scores."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split

from churn.core import features
from churn.core.model import LoadedModel
from churn.core.training import load_frame, predict
from tests.conftest import DATA_PATH, make_customer


def batch(client: Any, customers: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    response = client.post(
        "/v1/predict", data=json.dumps({"customers": customers, **options}), content_type="application/json"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(response.get_json()["predictions"])


def test_contributions_sum_to_the_log_odds_above_the_average_customer(client: Any, model: LoadedModel) -> None:
    customer = make_customer(contract="month-to-month", tenure=2, paymentmethod="electronic_check")
    (row,) = batch(client, [customer], explain=19, explain_down=19)
    p = row["churn_probability"]
    mean_logit = model.scorer.intercept + sum(model.metadata["explain_baseline"].values())
    total = sum(r["contribution"] for r in row["reasons"] + row["reasons_down"])
    assert total == pytest.approx(math.log(p / (1 - p)) - mean_logit, abs=1e-9)


def test_top_reasons_are_the_largest_positive_contributions(client: Any) -> None:
    customer = make_customer(contract="month-to-month", tenure=1, internetservice="fiber_optic")
    (row,) = batch(client, [customer], explain=3)
    contributions = [r["contribution"] for r in row["reasons"]]
    assert len(contributions) == 3 and contributions == sorted(contributions, reverse=True)
    assert all(c > 0 for c in contributions)
    codes = {r["code"] for r in row["reasons"]}
    assert "contract=month-to-month" in codes and "tenure=low" in codes
    assert "reasons_down" not in row


def test_reasons_down_are_the_most_protective_fields(client: Any) -> None:
    (row,) = batch(client, [make_customer(contract="two_year", tenure=70)], explain_down=2)
    assert [r["code"] for r in row["reasons_down"]] == ["tenure=high", "contract=two_year"]
    assert all(r["contribution"] < 0 for r in row["reasons_down"]) and "reasons" not in row


def test_reasons_are_free_when_not_asked(client: Any) -> None:
    (row,) = batch(client, [make_customer()])
    assert "reasons" not in row and "reasons_down" not in row


@pytest.mark.parametrize("value", [-1, 20, "3", 2.5, True, None])
def test_bad_explain_values_are_refused(client: Any, value: Any) -> None:
    body = json.dumps({"customers": [make_customer()], "explain": value})
    response = client.post("/v1/predict", data=body, content_type="application/json")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_request"


def test_percentile_is_the_share_of_training_scores_below(client: Any, model: LoadedModel) -> None:
    full_train, _ = train_test_split(load_frame(DATA_PATH), test_size=0.2, random_state=1)
    train_scores = predict(model.dv, model.estimator, full_train)
    customers = [make_customer(tenure=t, contract=c) for t in (1, 10, 40, 70) for c in ("month-to-month", "two_year")]
    rows = batch(client, customers)
    for row in rows:
        share = 100 * float(np.mean(train_scores <= row["churn_probability"]))
        assert row["percentile"] == pytest.approx(share, abs=0.2)
    by_probability = sorted(rows, key=lambda r: r["churn_probability"])
    assert [r["percentile"] for r in by_probability] == sorted(r["percentile"] for r in rows)


def test_every_numeric_field_has_a_mean(model: LoadedModel) -> None:
    assert set(model.explainer.means) >= set(features.NUMERICAL)
    assert model.explainer.means["tenure"] == pytest.approx(32.3, abs=1.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=50))
def test_percentiles_rank_any_probability_from_0_to_100(model: LoadedModel, probabilities: list[float]) -> None:
    p = np.sort(np.array([*probabilities, 0.0, 1.0]))
    percentiles = model.explainer.percentiles(p)
    assert np.all((percentiles >= 0) & (percentiles <= 100)) and np.all(np.diff(percentiles) >= 0)
    assert percentiles[-1] == 100.0  # no training customer scores above 1


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_reasons_are_ranked_by_contribution_then_by_field_name_the_later_first(
    model: LoadedModel, data: st.DataObject
) -> None:
    """The rule, as a descending sort of (contribution, field) pairs states it; ties are drawn on purpose."""
    explainer = model.explainer
    fields = explainer.scorer.fields
    values = st.sampled_from([-1.5, -0.0, 0.0, 0.25, 2.0]) | st.floats(-50, 50)
    rows = data.draw(st.lists(st.lists(values, min_size=len(fields), max_size=len(fields)), min_size=1, max_size=8))
    ranked = explainer.ranked(np.array(rows)).tolist()
    for row, order in zip(rows, ranked, strict=True):
        assert [fields[i] for i in order] == [f for _, f in sorted(zip(row, fields, strict=True), reverse=True)]
