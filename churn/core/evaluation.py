"""How good a set of churn scores is against the labels: discrimination, calibration, gains and lift.

One function, evaluate(), gives every figure the model card shows and the retrain gate compares, so
the card and the gate can never disagree on what "test AUC" or "calibration error" means. Deciles are
taken by rank (highest scores first, ties in row order), so they hold equal numbers of customers
whatever the score distribution: the first decile is the tenth of customers a campaign would call first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

DECILES = 10
ROC_POINTS = 101  # the ROC curve kept at false-positive rates 0, 0.01, ..., 1: enough to draw it


def evaluate(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Every figure of a set of scores (probabilities of churn) against 0/1 labels; both classes needed."""
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    table = deciles(labels, scores)
    return {
        "rows": len(labels),
        "churners": int(labels.sum()),
        "auc": float(roc_auc_score(labels, scores)),
        "log_loss": float(log_loss(labels, scores, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "calibration_error": calibration_error(table),
        "roc": roc(labels, scores),
        "deciles": table,
    }


def roc(labels: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve at evenly spaced false-positive rates: the true-positive rate reached at each.

    Where thresholds share a false-positive rate (a vertical step), np.interp takes the last, highest one.
    """
    fpr, tpr, _ = roc_curve(labels, scores)
    grid = np.linspace(0, 1, ROC_POINTS)
    reached = np.interp(grid, fpr, tpr)
    return {"fpr": [round(float(x), 2) for x in grid], "tpr": [float(y) for y in reached]}


def deciles(labels: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    """The customers cut into ten groups of (near) equal size by score, highest first, with their outcomes.

    Per decile: mean predicted probability against the observed churn rate (calibration), the share of
    all churners found so far (cumulative gain) and the churn rate against the overall rate (lift).
    """
    order = np.argsort(-scores, kind="stable")
    total_churners = max(int(labels.sum()), 1)
    overall = labels.mean()
    out, found, seen = [], 0, 0
    for number, group in enumerate(np.array_split(order, DECILES), 1):
        churners = int(labels[group].sum())
        found, seen = found + churners, seen + len(group)
        rate = churners / len(group) if len(group) else 0.0
        out.append(
            {
                "decile": number,
                "rows": len(group),
                "churners": churners,
                "mean_score": float(scores[group].mean()) if len(group) else 0.0,
                "churn_rate": rate,
                "cumulative_share": seen / len(labels),
                "cumulative_gain": found / total_churners,
                "lift": rate / overall if overall else 0.0,
                "cumulative_lift": (found / seen) / overall if overall else 0.0,
            }
        )
    return out


def calibration_error(table: list[dict[str, Any]]) -> float:
    """Expected calibration error: how far each decile's observed churn rate is from its mean predicted
    probability, weighted by the decile's size (0 is perfectly calibrated)."""
    rows = sum(d["rows"] for d in table)
    return float(sum(d["rows"] * abs(d["churn_rate"] - d["mean_score"]) for d in table) / rows)
