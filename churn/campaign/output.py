"""The campaign's output file: one writer, which every path (online, jobs, offline chunks, the offline engine) uses.

A line per input row, in input order, csv.writer's dialect (minimal quoting, "\\n" line ends):

    customerid         the row's id ("" when it has none), with a ' in front of a cell a spreadsheet would
                       run as a formula (it starts with =, +, -, @, a tab or a carriage return)
    churn_probability  repr() of the probability
    churn              true / false
    percentile         the training-score percentile, 4 decimals
    reasons            the reason codes, joined with ";" (empty without --explain)
    error              "<code>: <message>" for a row not scored; such a row shows only its id and this
    warnings           "field=code" for each warning of a scored row, joined with ";"

With a plan (churn.campaign.plan), two more columns, written once every row is (churn.campaign.outcome
puts plan_cells at the end of each line, the same for every path):

    expected_value     the expected value of contacting the customer, f"{value:.2f}"
    contact            true for the customers the plan contacts, else false

A path hands its results over as OutputColumns, one array per column (the offline engine has them so
already; the chunked path turns a /v1/predict response into them with from_predictions). A new column is
a name in OUTPUT_COLUMNS, a field here, and its cell text in OutputColumns.cells.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from churn.campaign.arrowtext import (
    arrow_of,
    cents_text,
    fixed4_text,
    float_text,
    neutralized,
    quoted,
    sparse_text,
    strings,
    text_view,
)
from churn.campaign.summary import Summary

OUTPUT_COLUMNS = ("customerid", "churn_probability", "churn", "percentile", "reasons", "error", "warnings")
SCORED_ONLY = ("churn_probability", "churn", "percentile", "reasons")  # empty for a rejected row (warnings: none)
HEADER = (",".join(OUTPUT_COLUMNS) + "\n").encode()
PLAN_COLUMNS = ("expected_value", "contact")  # after OUTPUT_COLUMNS, only with a plan


@dataclass
class OutputColumns:
    """A run of consecutive output rows, column by column."""

    customerids: pa.Array  # strings, "" where a row has none
    probabilities: np.ndarray
    churn: np.ndarray  # bool
    percentiles: np.ndarray
    rejected: np.ndarray  # bool: the rows not scored
    errors: dict[int, str]  # row -> "<code>: <message>", for the rejected rows
    warnings: dict[int, str]  # row -> "field=code;...", for the scored rows that have any
    reasons: pa.Array | None = None  # codes joined with ";" per row; None: not asked for
    # Not a column: the offline engine's validated monthlycharges, which a plan reuses (churn.campaign.carried)
    monthly_charges: np.ndarray | None = None

    def cells(self) -> dict[str, pa.Array | str]:
        """Each column's cell texts, csv-quoted: an array, or one text that every row shares."""
        n = len(self.probabilities)
        return {
            "customerid": quoted(neutralized(self.customerids)),
            "churn_probability": float_text(self.probabilities),
            "churn": pc.if_else(arrow_of(self.churn), "true", "false"),
            "percentile": fixed4_text(self.percentiles),
            "reasons": "" if self.reasons is None else quoted(self.reasons),
            "error": sparse_text(n, self.errors),
            "warnings": sparse_text(n, self.warnings),
        }

    def lines(self) -> pa.Array:
        """One output line per row, each ending with its line end."""
        cells = self.cells()
        if self.rejected.any():
            mask = arrow_of(self.rejected)
            for name in SCORED_ONLY:
                if not isinstance(cells[name], str):
                    cells[name] = pc.if_else(mask, "", cells[name])
        return pc.binary_join_element_wise(*merged([cells[c] for c in OUTPUT_COLUMNS], "\n"), ",")

    def text(self) -> OutputText:
        lines = self.lines()
        return OutputText(self, lines, text_view(lines))


@dataclass(frozen=True)
class OutputText:
    """Output rows as written: their bytes, with the columns and each row's line they came from."""

    columns: OutputColumns
    lines: pa.Array
    data: memoryview  # the lines' own buffer, written as it is (no copy)

    def __len__(self) -> int:
        return len(self.lines)

    def count(self, summary: Summary) -> None:
        """Add these rows to a run's summary."""
        c = self.columns
        summary.add(c.rejected, c.churn, c.probabilities, lambda i: parsed_line(self.lines[i].as_py()))


def merged(cells: list[pa.Array | str], end: str) -> list[pa.Array | str]:
    """The columns to join with ",": the line end put in the last one, adjacent constants as one text
    (fewer columns for Arrow to join)."""
    last = cells[-1]
    cells = [*cells[:-1], last + end if isinstance(last, str) else pc.binary_join_element_wise(last, end, "")]
    out: list[pa.Array | str] = []
    for cell in cells:
        if isinstance(cell, str) and out and isinstance(out[-1], str):
            out[-1] = f"{out[-1]},{cell}"
        else:
            out.append(cell)
    return out


def parsed_line(line: str) -> dict[str, str]:
    """An output line read back as csv.DictReader reads the file."""
    return dict(zip(OUTPUT_COLUMNS, next(csv.reader([line])), strict=True))


def from_predictions(predictions: Sequence[Mapping[str, Any]], threshold: float | None = None) -> OutputColumns:
    """The columns of /v1/predict predictions (an error: {"customerid", "error": {"code", "message"}}).

    With a threshold, churn is decided here (probability >= threshold), not as the service decided it.
    """
    n = len(predictions)
    ids, reasons = [""] * n, [""] * n
    probabilities, percentiles = np.full(n, 0.5), np.full(n, 50.0)  # any value: a rejected row's are not shown
    churn, rejected = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    errors, warnings = {}, {}
    for i, prediction in enumerate(predictions):
        customerid = prediction.get("customerid")
        ids[i] = "" if customerid is None else str(customerid)
        error = prediction.get("error")
        if error:
            rejected[i] = True
            errors[i] = f"{error['code']}: {error['message']}"
            continue
        probabilities[i] = probability = float(prediction["churn_probability"])
        churn[i] = bool(prediction["churn"]) if threshold is None else probability >= threshold
        percentiles[i] = prediction["percentile"]
        reasons[i] = ";".join(r["code"] for r in prediction.get("reasons", ()))
        if prediction.get("warnings"):
            warnings[i] = warnings_cell(prediction["warnings"])
    explained = strings(reasons) if any(reasons) else None
    return OutputColumns(strings(ids), probabilities, churn, percentiles, rejected, errors, warnings, explained)


def warnings_cell(warnings: Iterable[Mapping[str, Any]]) -> str:
    """A scored row's warnings, as "field=code" joined with ";"."""
    return ";".join(f"{w['field']}={w['code']}" for w in warnings)


def plan_cells(values: np.ndarray, selected: np.ndarray) -> pa.Array:
    """Each row's "expected_value,contact" text ("," for a rejected row: its value is NaN)."""
    return cents_text(values, (",false", ",true"), selected, nan=",")
