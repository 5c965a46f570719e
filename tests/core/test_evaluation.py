"""The figures of the model card and the retrain gate, against independent computations, on any scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from churn.core.evaluation import DECILES, evaluate

# Any labels with both classes and any scores in [0, 1], ties and extremes included.
SCORES = st.floats(0, 1, allow_nan=False) | st.sampled_from([0.0, 1.0, 0.5, 1e-300])
CASES = st.integers(2, 400).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda ls: 0 < sum(ls) < len(ls)),
        st.lists(SCORES, min_size=n, max_size=n),
    )
)


@settings(max_examples=100, deadline=None)
@given(CASES)
def test_deciles_partition_the_customers_by_rank(case: tuple[list[int], list[float]]) -> None:
    labels, scores = np.array(case[0]), np.array(case[1])
    table = evaluate(labels, scores)["deciles"]
    assert len(table) == DECILES
    assert sum(d["rows"] for d in table) == len(labels)
    assert max(d["rows"] for d in table) - min(d["rows"] for d in table) <= 1
    assert sum(d["churners"] for d in table) == labels.sum()
    # highest scores first: every score of a decile is >= every score of the next one
    order = np.argsort(-scores, kind="stable")
    start = 0
    for d in table:
        group = scores[order[start : start + d["rows"]]]
        rest = scores[order[start + d["rows"] :]]
        if len(group) and len(rest):
            assert group.min() >= rest.max()
        assert d["mean_score"] == pytest.approx(group.mean() if len(group) else 0.0)
        start += d["rows"]


@settings(max_examples=100, deadline=None)
@given(CASES)
def test_gains_and_lift_agree_with_their_definitions(case: tuple[list[int], list[float]]) -> None:
    labels, scores = np.array(case[0]), np.array(case[1])
    table = evaluate(labels, scores)["deciles"]
    gains = [d["cumulative_gain"] for d in table]
    assert gains == sorted(gains) and gains[-1] == pytest.approx(1.0)
    assert table[-1]["cumulative_share"] == pytest.approx(1.0)
    assert table[-1]["cumulative_lift"] == pytest.approx(1.0)
    overall = labels.mean()
    for d in table:
        if d["rows"]:
            assert d["lift"] == pytest.approx(d["churners"] / d["rows"] / overall)
    # the size-weighted mean lift is 1: churners are only moved between deciles, never made
    assert sum(d["lift"] * d["rows"] for d in table) / len(labels) == pytest.approx(1.0)


@settings(max_examples=100, deadline=None)
@given(CASES)
def test_calibration_error_is_the_weighted_gap_of_each_decile(case: tuple[list[int], list[float]]) -> None:
    labels, scores = np.array(case[0]), np.array(case[1])
    result = evaluate(labels, scores)
    gaps = [d["rows"] * abs(d["churners"] / d["rows"] - d["mean_score"]) for d in result["deciles"] if d["rows"]]
    assert result["calibration_error"] == pytest.approx(sum(gaps) / len(labels))
    assert 0 <= result["calibration_error"] <= 1


def test_scores_equal_to_each_deciles_churn_rate_are_perfectly_calibrated() -> None:
    labels = np.array(([1] * 3 + [0] * 7) * 10)
    scores = np.full(len(labels), 0.3)
    assert evaluate(labels, scores)["calibration_error"] == pytest.approx(0.0)
    assert evaluate(labels, np.full(len(labels), 0.9))["calibration_error"] == pytest.approx(0.6)


@settings(max_examples=100, deadline=None)
@given(CASES)
def test_the_roc_curve_kept_is_the_curve_and_its_area_is_the_auc(case: tuple[list[int], list[float]]) -> None:
    labels, scores = np.array(case[0]), np.array(case[1])
    result = evaluate(labels, scores)
    fpr, tpr = np.array(result["roc"]["fpr"]), np.array(result["roc"]["tpr"])
    assert fpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == pytest.approx(1.0)
    assert np.all(np.diff(tpr) >= 0) and np.all((tpr >= 0) & (tpr <= 1))
    assert result["auc"] == pytest.approx(roc_auc_score(labels, scores))
    # Kept every 0.01 of false-positive rate, the curve loses at most 0.01 of area (each step's rise,
    # 1 in all, is misplaced by at most one grid step).
    assert float(np.trapezoid(tpr, fpr)) == pytest.approx(result["auc"], abs=0.01 + 1e-9)


def test_a_perfect_ranking_reaches_every_churner_in_the_first_deciles() -> None:
    labels = np.array([1] * 20 + [0] * 80)
    scores = np.linspace(1, 0, 100)
    result = evaluate(labels, scores)
    assert result["auc"] == 1.0
    assert [d["cumulative_gain"] for d in result["deciles"][:2]] == [0.5, 1.0]
    assert result["deciles"][0]["lift"] == pytest.approx(5.0)
    assert result["roc"]["tpr"][1] == 1.0
