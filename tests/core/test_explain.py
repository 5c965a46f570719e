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
from churn.core.explain import Interpolation
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


def same_doubles(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit: equal values, NaN where NaN, and the same sign of zero."""
    return bool(np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b)))


def test_percentiles_are_np_interp_bit_for_bit(model: LoadedModel) -> None:
    explainer = model.explainer
    xp = explainer.quantiles
    values = [
        np.random.default_rng(5).random(200_000),
        xp,
        (xp[1:] + xp[:-1]) / 2,
        np.nextafter(xp, 1.0),
        np.nextafter(xp, 0.0),
        np.array([0.0, -0.0, 1.0, -1.0, 2.0, np.nan, np.inf, -np.inf]),
    ]
    for x in values:
        assert same_doubles(explainer.percentiles(x), np.interp(x, xp, explainer.ranks))


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(finite, min_size=2, max_size=40, unique=True),
    st.lists(finite, min_size=40, max_size=40),
    st.lists(finite | st.floats(), max_size=60),
)
def test_interpolation_is_np_interp_for_any_increasing_table(xs: list[float], fs: list[float], x: list[float]) -> None:
    xp, fp = np.sort(np.array(xs)), np.array(fs[: len(xs)])
    interpolate = Interpolation(xp, fp)
    values = np.array(x + list(xp), dtype=np.float64)
    assert same_doubles(interpolate(values), np.interp(values, xp, fp))


def test_a_table_that_is_not_strictly_increasing_is_left_to_np_interp() -> None:
    xp, fp = np.array([0.0, 0.5, 0.5, 1.0]), np.array([0.0, 10.0, 20.0, 30.0])
    interpolate = Interpolation(xp, fp)
    values = np.linspace(-0.5, 1.5, 41)
    assert not interpolate.gridded and same_doubles(interpolate(values), np.interp(values, xp, fp))
