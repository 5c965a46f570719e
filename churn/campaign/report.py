"""The campaign report (campaign.py --report FILE.html): one self-contained page, built from the outcome.

Everything on it comes from the finished output and its input (churn.campaign.outcome), never from a
path's own counts, so every path and every resumed run draws the same page from the same file; the
page holds no date, and its figures are churn.reports.plots' deterministic SVG: the same input and
options give the same bytes.

The output has no outcomes (who actually churned), so "churners" here are the model's expected
churners: the sum of the probabilities.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from churn.campaign.outcome import Outcome
from churn.campaign.plan import net_value_curve
from churn.reports import page, plots

BINS = 10
CURVE_POINTS = 400  # points drawn per curve, whatever the number of rows
TOP_REASONS = 10


def write_report(path: Path, outcome: Outcome, source: str) -> None:
    path.write_text(render(outcome, source), encoding="utf-8")


def render(outcome: Outcome, source: str) -> str:
    scores = outcome.scores
    scored = ~np.isnan(scores.probabilities)
    p = scores.probabilities[scored]
    plan = outcome.plan
    subtitle = (
        f"{source}: {len(scores):,} rows, {int(scored.sum()):,} scored, {len(scores) - int(scored.sum()):,} rejected"
    )
    parts = [page.header("Campaign report", subtitle), page.tiles(headline(outcome, p))]
    if plan is not None:
        parts.append(page.paragraph(f"Plan: {plan.describe()}."))
    charts = [distribution(p), gains(p)]
    if plan is not None:
        charts.append(net_value(outcome))
    parts.append(page.section("Scores", page.figures(*charts)))
    parts.append(reasons_section(outcome))
    parts.append(segments_section(outcome, scored))
    meta = {"generator": "campaign.py --report", "rows": str(len(scores))}
    return page.page(f"Campaign report: {source}", parts, meta)


def headline(outcome: Outcome, p: np.ndarray) -> list[tuple[str, str, str]]:
    items = [
        ("customers scored", f"{len(p):,}", "rows with a score"),
        ("expected churners", f"{p.sum():,.1f}", "sum of the probabilities"),
    ]
    found = outcome.figures
    if found is not None:
        items += [
            ("to contact", f"{found.contacts:,}", "contact = true"),
            ("churners reached", f"{found.expected_churners:,.1f}", "expected, among them"),
            ("revenue kept", f"{found.revenue_kept:,.2f}", "expected"),
            ("cost", f"{found.cost:,.2f}", "of the contacts"),
            ("net value", f"{found.net_value:,.2f}", "revenue kept - cost"),
        ]
    return items


def distribution(p: np.ndarray) -> tuple[str, str]:
    counts, _ = np.histogram(p, bins=BINS, range=(0.0, 1.0))
    labels = [f"{10 * i}-{10 * (i + 1)}" for i in range(BINS)]
    svg = plots.bar_chart(
        "campaign-distribution", labels, counts.tolist(), xlabel="churn probability (%)", ylabel="customers"
    )
    return svg, "How many customers score in each tenth of the probability range."


def sampled(n: int) -> np.ndarray:
    """Up to CURVE_POINTS + 1 positions from 0 to n, evenly spread, both ends included."""
    return np.unique(np.linspace(0, n, min(n, CURVE_POINTS) + 1).round().astype(np.int64))


def gains(p: np.ndarray) -> tuple[str, str]:
    ordered = -np.sort(-p)
    reached = np.concatenate(([0.0], np.cumsum(ordered)))
    at = sampled(len(p))
    total = reached[-1] or 1.0
    x = (at / max(len(p), 1)).tolist()
    series = [
        plots.Series("contacting by probability", x, (reached[at] / total).tolist()),
        plots.Series("contacting at random", [0, 1], [0, 1], dashed=True),
    ]
    svg = plots.line_chart(
        "campaign-gains", series, xlabel="share of customers contacted", ylabel="share of expected churners reached",
        percent=(True, True),
    )  # fmt: skip
    return (
        svg,
        "Cumulative gains: the share of the expected churners reached when the riskiest customers are contacted first.",
    )


def net_value(outcome: Outcome) -> tuple[str, str]:
    curve = net_value_curve(outcome.values)
    at = sampled(len(curve) - 1)
    chosen = int(outcome.selected.sum())
    low, high = float(curve.min()), float(curve.max())
    series = [
        plots.Series("net value", at.tolist(), curve[at].tolist()),
        plots.Series(f"this plan: {chosen:,} contacts", [chosen, chosen], [low, high], dashed=True),
    ]
    svg = plots.line_chart(
        "campaign-net-value", series, xlabel="customers contacted (best expected value first)",
        ylabel="expected net value", limits=None,
    )  # fmt: skip
    best = int(np.argmax(curve))
    return svg, f"Expected net value by number of contacts; it peaks at {best:,} contacts ({curve[best]:,.2f})."


def reasons_section(outcome: Outcome) -> str:
    if outcome.plan is not None:
        among, who = outcome.selected, "the customers to contact"
    else:
        among, who = outcome.scores.churn & ~np.isnan(outcome.scores.probabilities), "the customers predicted to churn"
    cells = outcome.scores.reasons.filter(pa.array(among)).to_pylist()
    counts = Counter(code for cell in cells if cell for code in cell.split(";"))
    title = "Reasons"
    if not counts:
        explained = pc.max(pc.utf8_length(outcome.scores.reasons)).as_py() or 0
        note = f"No reason codes among {who}" + ("." if explained else ": run with --explain 3 to get them.")
        return page.section(title, page.paragraph(note))
    total = max(len(cells), 1)
    rows = [
        (code, f"{count:,}", f"{count / total:.0%}")
        for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
    ]
    return page.section(
        title, page.table(["reason", "customers", "share"], rows, numeric=(1, 2)),
        note=f"The most common reason codes among {who} ({len(cells):,}).",
    )  # fmt: skip


def segments_section(outcome: Outcome, scored: np.ndarray) -> str:
    facts = outcome.facts
    contract, internet = facts.contract[scored], facts.internet_service[scored]
    p = outcome.scores.probabilities[scored]
    selected = outcome.selected[scored]
    keys = sorted(set(zip(contract.tolist(), internet.tolist(), strict=True)))
    rows = []
    for c, i in keys:
        inside = (contract == c) & (internet == i)
        rows.append(
            (
                c or "-",
                i or "-",
                f"{int(inside.sum()):,}",
                f"{p[inside].mean():.3f}",
                f"{int(selected[inside].sum()):,}",
            )
        )
    headers = ["contract", "internet service", "customers", "mean probability", "to contact"]
    note = "Scored customers by contract and internet service."
    return page.section("Segments", page.table(headers, rows, numeric=(2, 3, 4)), note=note)
