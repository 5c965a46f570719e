"""Fit, evaluate and describe the book's churn model (chapter 5 of Machine Learning Bookcamp).

build() trains a candidate on an export that churn.core.training_data has read and checked; whether it
replaces the committed model is churn.core.retrain's decision.
"""

from __future__ import annotations

import hashlib
import pickle
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, train_test_split

from churn.core import features
from churn.core.evaluation import evaluate
from churn.core.scoring import Scorer
from churn.core.training_data import read_export

C = 0.5
SOLVER = "liblinear"
CV_FOLDS = 5
TEST_SIZE = 0.2
SPLIT_SEED = 1
SCORE_QUANTILES = 1001  # percentiles to a tenth of a point
NUMERIC_BINS = 10  # deciles, for the drift (population stability) baseline

# The book's reference customer (customerid 8879-zkjof, a row of the training data): train.py prints its
# score to show the book is reproduced (0.0596), and the examples use it. The golden self-test uses a
# synthetic customer instead (golden_customer), since the metadata is published by GET /v1/model.
REFERENCE_CUSTOMER: dict[str, Any] = {
    "customerid": "8879-zkjof",
    "gender": "female",
    "seniorcitizen": 0,
    "partner": "no",
    "dependents": "no",
    "tenure": 41,
    "phoneservice": "yes",
    "multiplelines": "no",
    "internetservice": "dsl",
    "onlinesecurity": "yes",
    "onlinebackup": "no",
    "deviceprotection": "yes",
    "techsupport": "yes",
    "streamingtv": "yes",
    "streamingmovies": "yes",
    "contract": "one_year",
    "paperlessbilling": "yes",
    "paymentmethod": "bank_transfer_(automatic)",
    "monthlycharges": 79.85,
    "totalcharges": 3320.75,
}


GOLDEN_ID = "synthetic-golden-customer"


def golden_customer(vocab: dict[str, list[Any]], numeric_ranges: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A customer of the model's vocabulary built from no training row: each category's first value, each
    number the middle of its training range (to the cent)."""
    customer: dict[str, Any] = {features.ID_FIELD: GOLDEN_ID}
    for field in features.FIELDS:
        if field in features.NUMERICAL:
            span = numeric_ranges[field]
            customer[field] = round((span["min"] + span["max"]) / 2, 2)
        else:
            customer[field] = vocab[field][0]
    return customer


def load_frame(path: Path) -> pd.DataFrame:
    """Read and check an export, preprocessed exactly as the book does (churn.core.training_data)."""
    return read_export(path)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Turn rows into the dicts DictVectorizer takes, with the book's fields only."""
    return [{str(k): v for k, v in row.items()} for row in df[list(features.FIELDS)].to_dict(orient="records")]


def fit(df: pd.DataFrame) -> tuple[DictVectorizer, LogisticRegression]:
    """Fit the book's DictVectorizer + LogisticRegression on a training frame."""
    dv = DictVectorizer(sparse=False)
    x = dv.fit_transform(records(df))
    model = LogisticRegression(solver=SOLVER, C=C)
    model.fit(x, df[features.TARGET].to_numpy())
    return dv, model


def predict(dv: DictVectorizer, model: LogisticRegression, df: pd.DataFrame) -> np.ndarray:
    """Churn probabilities the way the book computes them."""
    return np.asarray(model.predict_proba(dv.transform(records(df)))[:, 1], dtype=np.float64)


def cross_validate(df: pd.DataFrame) -> list[float]:
    """The book's 5-fold cross-validated AUC on the training part."""
    folds = KFold(n_splits=CV_FOLDS, shuffle=True, random_state=1)
    scores = []
    for train_idx, val_idx in folds.split(df):
        dv, model = fit(df.iloc[train_idx])
        scores.append(roc_auc_score(df[features.TARGET].iloc[val_idx], predict(dv, model, df.iloc[val_idx])))
    return [float(s) for s in scores]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def vocabulary(dv: DictVectorizer) -> dict[str, list[Any]]:
    """The categorical values the model knows, read from the fitted DictVectorizer."""
    vocab: dict[str, list[Any]] = {field: [] for field in features.CATEGORICAL}
    for name in dv.feature_names_:
        field, _, value = name.partition("=")
        if value:
            vocab[field].append(value)
    return vocab


def describe(dv: DictVectorizer, model: LogisticRegression, full_train: pd.DataFrame) -> dict[str, Any]:
    """Describe the training data as the service needs it: vocabulary, ranges, baselines."""
    vocab = vocabulary(dv)
    for field in features.FLAG_FIELDS:
        vocab[field] = sorted(int(v) for v in full_train[field].unique())
    scorer = Scorer.from_sklearn(dv, model)
    rows = records(full_train)
    contributions = np.array([[c for _, c in scorer.contributions(row)] for row in rows])
    train_scores = predict(dv, model, full_train)
    return {
        "vocabulary": vocab,
        "numeric_ranges": {
            f: {"min": float(full_train[f].min()), "max": float(full_train[f].max())} for f in features.NUMERICAL
        },
        # Mean contribution of each field to the log-odds over the training rows: reason codes are
        # measured against it, so the contributions of one customer sum to its logit minus the mean logit.
        "explain_baseline": dict(zip(scorer.fields, (float(m) for m in contributions.mean(axis=0)), strict=True)),
        "score_quantiles": [float(q) for q in np.quantile(train_scores, np.linspace(0, 1, SCORE_QUANTILES))],
        "training_distribution": training_distribution(full_train, vocab),
    }


def training_distribution(df: pd.DataFrame, vocab: dict[str, list[Any]]) -> dict[str, Any]:
    """Share of training rows per category and per numeric decile: the baseline for drift checks."""
    categorical = {field: {str(v): float((df[field] == v).mean()) for v in values} for field, values in vocab.items()}
    numerical = {}
    for field in features.NUMERICAL:
        edges = np.unique(np.quantile(df[field], np.linspace(0, 1, NUMERIC_BINS + 1))[1:-1])
        counts = np.bincount(np.searchsorted(edges, df[field], side="right"), minlength=len(edges) + 1)
        numerical[field] = {"edges": [float(e) for e in edges], "shares": [float(c) for c in counts / len(df)]}
    return {"categorical": categorical, "numerical": numerical}


def weights(dv: DictVectorizer, model: LogisticRegression, full_train: pd.DataFrame) -> dict[str, Any]:
    """Every weight of the model, largest effect first.

    A category's effect is its weight (the log-odds it adds); a number's is its weight times its training
    standard deviation (the log-odds one standard deviation adds), so that the two compare.
    """
    rows = []
    for name, weight in zip(dv.feature_names_, model.coef_[0], strict=True):
        numeric = dv.separator not in name and name not in features.FLAG_FIELDS
        scale = float(full_train[name].std(ddof=0)) if numeric else 1.0
        rows.append({"feature": name, "weight": float(weight), "scale": scale, "effect": float(weight) * scale})
    rows.sort(key=lambda r: (-abs(r["effect"]), r["feature"]))
    return {"intercept": float(model.intercept_[0]), "features": rows}


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The book's split: the first part is trained on, the second held out for evaluation."""
    full_train, test = train_test_split(df, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    return full_train, test


@dataclass(frozen=True)
class Candidate:
    """A freshly trained model: its pickle, its metadata (without time or lineage) and its held-out rows."""

    dv: DictVectorizer
    model: LogisticRegression
    blob: bytes
    metadata: dict[str, Any]
    test: pd.DataFrame

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return predict(self.dv, self.model, df)


def build(df: pd.DataFrame, data_path: Path) -> Candidate:
    """Train on an export (read by churn.core.training_data) the book's way and describe the result."""
    full_train, test = split(df)
    cv_scores = cross_validate(full_train)
    dv, model = fit(full_train)
    held_out = evaluate(test[features.TARGET].to_numpy(), predict(dv, model, test))
    blob = pickle.dumps((dv, model))
    described = describe(dv, model, full_train)
    golden = golden_customer(described["vocabulary"], described["numeric_ranges"])
    reference = {k: v for k, v in golden.items() if k != features.ID_FIELD}
    churners = int(df[features.TARGET].sum())
    metadata = {
        "model_version": "churn-lr-" + sha256_bytes(blob)[:12],
        "model_file": None,  # set when written
        "model_sha256": sha256_bytes(blob),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "trained_at": None,  # set when written (churn.core.retrain keeps it when nothing else changed)
        "data": {
            "file": data_path.name,
            "sha256": sha256_file(data_path),
            "rows": len(df),
            "churners": churners,
            "churn_rate": churners / len(df),
        },
        "params": {"C": C, "solver": SOLVER, "split": {"test_size": TEST_SIZE, "random_state": SPLIT_SEED}},
        "features": {"categorical": list(features.CATEGORICAL), "numerical": list(features.NUMERICAL)},
        "metrics": {
            "test_auc": held_out["auc"],
            "cv_auc_mean": float(np.mean(cv_scores)),
            "cv_auc_std": float(np.std(cv_scores)),
            "cv_auc_folds": cv_scores,
            "test_log_loss": held_out["log_loss"],
            "test_brier": held_out["brier"],
            "test_calibration_error": held_out["calibration_error"],
            "train_rows": len(full_train),
            "test_rows": len(test),
        },
        "lineage": None,  # set by churn.core.retrain
        "reference_customer": {
            "customer": golden,
            "churn_probability": float(model.predict_proba(dv.transform([reference]))[0, 1]),
        },
        **described,
        # The held-out rows' ROC curve and deciles (calibration, gains, lift), drawn by the model card.
        "evaluation": {"roc": held_out["roc"], "deciles": held_out["deciles"]},
        "weights": weights(dv, model, full_train),
    }
    return Candidate(dv, model, blob, metadata, test)
