"""The model card: one self-contained HTML page that says what the model is and how good it is.

Training writes it beside the model (churn-model.html) and the service serves it at GET /model. Every
figure on it comes from the model's metadata (churn-model.json, also published by GET /v1/model), so
the card and the API never disagree, and the same metadata always gives the same card, byte for byte.
It publishes aggregates only: no row of the training data (the self-test customer is synthetic).
"""

from __future__ import annotations

from typing import Any

from churn.core import features
from churn.core.model import CARD_MODEL_META
from churn.reports import page, plots
from churn.reports.page import Verdict

TOP_WEIGHTS = 12


def render(metadata: dict[str, Any], self_test: dict[str, Any]) -> str:
    """The card of a model from its metadata and the self-test of its compiled scorer."""
    m = metadata["metrics"]
    subtitle = (
        f"{metadata['model_version']} · trained {metadata['trained_at']} · scikit-learn {metadata['sklearn_version']}"
    )
    return page.page(
        f"Model card: {metadata['model_version']}",
        [
            page.header("Churn model card", subtitle),
            page.paragraph(
                "The churn model of Machine Learning Bookcamp, chapter 5: scikit-learn's DictVectorizer and "
                f"LogisticRegression (C={metadata['params']['C']}, solver {metadata['params']['solver']}) on the "
                "Telco customer data. Figures are measured on the held-out rows "
                f"({m['test_rows']} of {metadata['data']['rows']}), which the model never saw."
            ),
            page.tiles(headline(metadata)),
            evaluation(metadata),
            weights(metadata),
            data(metadata),
            self_test_section(metadata, self_test),
            lineage(metadata),
        ],
        meta={CARD_MODEL_META: metadata["model_sha256"], "churn-model-version": metadata["model_version"]},
    )


def headline(metadata: dict[str, Any]) -> list[tuple[str, str, str]]:
    m, d = metadata["metrics"], metadata["data"]
    return [
        ("test AUC", f"{m['test_auc']:.3f}", f"{m['test_rows']} held-out rows"),
        (
            "cross-validated AUC",
            f"{m['cv_auc_mean']:.3f}",
            f"± {m['cv_auc_std']:.3f} over {len(m['cv_auc_folds'])} folds",
        ),
        ("log loss", f"{m['test_log_loss']:.3f}", "held out; lower is better"),
        ("Brier score", f"{m['test_brier']:.3f}", "held out; lower is better"),
        ("calibration error", f"{m['test_calibration_error']:.3f}", "by decile; 0 is perfect"),
        ("churn rate", pct(d["churn_rate"]), f"{d['churners']} of {d['rows']} customers"),
    ]


def evaluation(metadata: dict[str, Any]) -> str:
    roc, deciles, auc = (
        metadata["evaluation"]["roc"],
        metadata["evaluation"]["deciles"],
        metadata["metrics"]["test_auc"],
    )
    shares = [0.0] + [d["cumulative_share"] for d in deciles]
    roc_svg = plots.line_chart(
        "roc",
        [plots.Series(f"model (AUC {auc:.3f})", roc["fpr"], roc["tpr"]), diagonal("random")],
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    calibration_svg = plots.line_chart(
        "calibration",
        [
            plots.Series(
                "model, by decile", [d["mean_score"] for d in deciles], [d["churn_rate"] for d in deciles], markers=True
            ),
            diagonal("perfectly calibrated"),
        ],
        xlabel="mean predicted probability",
        ylabel="observed churn rate",
        percent=(True, True),
    )
    gains_svg = plots.line_chart(
        "gains",
        [
            plots.Series("model", shares, [0.0] + [d["cumulative_gain"] for d in deciles], markers=True),
            diagonal("random order"),
        ],
        xlabel="customers contacted, highest scores first",
        ylabel="churners reached",
        percent=(True, True),
    )
    lift_svg = plots.bar_chart(
        "lift",
        [str(d["decile"]) for d in deciles],
        [d["lift"] for d in deciles],
        xlabel="decile (1 = highest scores)",
        ylabel="lift (churn rate / overall rate)",
        baseline=1.0,
    )
    rows = [
        (
            d["decile"],
            d["rows"],
            d["churners"],
            pct(d["mean_score"]),
            pct(d["churn_rate"]),
            f"{d['lift']:.2f}",
            pct(d["cumulative_gain"]),
            f"{d['cumulative_lift']:.2f}",
        )
        for d in deciles
    ]
    return page.section(
        "Evaluation on the held-out rows",
        page.figures(
            (roc_svg, "ROC curve: churners found against non-churners flagged, at every threshold."),
            (calibration_svg, "Calibration: in each decile of scores, the churn rate observed against predicted."),
        ),
        page.figures(
            (gains_svg, "Cumulative gains: the share of all churners reached by contacting the top scores."),
            (lift_svg, "Lift by decile: how much likelier to churn than the average customer."),
        ),
        page.table(
            [
                "decile",
                "customers",
                "churners",
                "mean score",
                "churn rate",
                "lift",
                "cumulative gain",
                "cumulative lift",
            ],
            rows,
            numeric=range(8),
        ),
    )


def diagonal(label: str) -> plots.Series:
    return plots.Series(label, [0, 1], [0, 1], dashed=True)


def weights(metadata: dict[str, Any]) -> str:
    top = metadata["weights"]["features"][:TOP_WEIGHTS]
    chart = plots.signed_bars(
        "weights", [w["feature"] for w in top], [w["effect"] for w in top], xlabel="effect on the log-odds of churn"
    )
    rows = [
        (
            w["feature"],
            "raises the risk" if w["effect"] > 0 else "lowers the risk",
            f"{w['effect']:+.3f}",
            f"{w['weight']:+.4f}",
            "category" if w["scale"] == 1 else f"per {w['scale']:.4g} (1 sd)",
        )
        for w in top
    ]
    return page.section(
        "What moves the score",
        page.figures((chart, f"The {len(top)} largest effects (red raises the risk of churn, green lowers it).")),
        page.table(["feature", "direction", "effect", "weight", "unit"], rows, numeric=(2, 3)),
        note="A category's effect is its weight: the log-odds it adds against the model's intercept "
        f"({metadata['weights']['intercept']:+.3f}). A number's effect is its weight times one training "
        "standard deviation, so that the two compare.",
    )


def data(metadata: dict[str, Any]) -> str:
    d, shares = metadata["data"], metadata["training_distribution"]["categorical"]
    vocabulary = [
        (field, ", ".join(f"{v} ({pct(shares[field][str(v)])})" for v in values))
        for field, values in metadata["vocabulary"].items()
    ]
    ranges = [(field, f"{span['min']:g}", f"{span['max']:g}") for field, span in metadata["numeric_ranges"].items()]
    return page.section(
        "Data",
        page.table(
            ["file", "sha256", "rows", "churners", "churn rate", "trained on", "held out"],
            [
                (
                    d["file"],
                    d["sha256"],
                    d["rows"],
                    d["churners"],
                    pct(d["churn_rate"]),
                    metadata["metrics"]["train_rows"],
                    metadata["metrics"]["test_rows"],
                )
            ],
            numeric=(2, 3, 4, 5, 6),
        ),
        page.table(["field", "categories (share of the training rows)"], vocabulary),
        page.table(["number", "min", "max"], ranges, numeric=(1, 2)),
        note="What the model was trained on: the service accepts exactly these categories, and numbers up to "
        "a training span beyond these ranges (CHURN_RANGE_TOLERANCE).",
    )


def self_test_section(metadata: dict[str, Any], result: dict[str, Any]) -> str:
    golden = metadata["reference_customer"]["customer"]
    values = ", ".join(f"{f}={golden[f]}" for f in features.FIELDS)
    return page.section(
        "Self-test",
        page.table(
            ["customer", "recorded probability", "compiled scorer", "difference", "verdict"],
            [
                (
                    golden[features.ID_FIELD],
                    f"{result['expected']:.6f}",
                    f"{result['got']:.6f}",
                    f"{abs(result['got'] - result['expected']):.1e}",
                    Verdict(result["passed"]),
                )
            ],
            numeric=(1, 2, 3),
        ),
        page.paragraph(values),
        note="A synthetic customer (each category's first value, each number the middle of its range: no "
        "row of the data) scored at training. The service scores it again at start-up and is ready "
        "(GET /readyz) only when its compiled scorer gives the same probability.",
    )


def lineage(metadata: dict[str, Any]) -> str:
    line = metadata["lineage"]
    parts = [
        page.table(
            ["decision", "parent model", "data sha256", "overridden"],
            [
                (
                    line["decision"],
                    line["parent_model_version"] or "none",
                    line["data_sha256"],
                    ", ".join(line["overridden"]) or "nothing",
                )
            ],
        )
    ]
    comparison = line.get("comparison")
    if comparison:
        parts.append(
            page.table(
                ["check, on the same held-out rows", "champion", "challenger", "tolerance", "verdict"],
                [
                    (c["name"], figure(c["champion"]), figure(c["challenger"]), c["limit"], Verdict(c["passed"]))
                    for c in comparison["checks"]
                ],
            )
        )
    if line.get("drift_psi"):
        psi = sorted(line["drift_psi"].items(), key=lambda kv: -kv[1])
        parts.append(
            page.table(
                ["field", "PSI against the parent's training data"], [(f, f"{v:.3f}") for f, v in psi], numeric=(1,)
            )
        )
    return page.section(
        "Lineage",
        *parts,
        note="How this model replaced the one before it: `python train.py --data NEW.csv` trains a challenger "
        "and promotes it only when it is not worse than the champion beyond the tolerances (docs/model.md).",
    )


def figure(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def pct(share: float) -> str:
    return f"{100 * share:.1f}%"
