"""The campaign's output format as plain Python states it (see churn.campaign.output's docstring).

The reference that the campaign's one writer is checked against: repr() of the probability, true/false,
the percentile with 4 decimals, reasons joined with ";", "<code>: <message>" errors, warnings as
"field=code", a ' before a cell a spreadsheet would run as a formula, written by csv.writer with RFC 4180's
quoting (a cell with a comma, a quote, a line feed or a carriage return is quoted) and "\n" line ends.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

COLUMNS = ("customerid", "churn_probability", "churn", "percentile", "reasons", "error", "warnings")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's CSV injection rule


def neutralized(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def expected_row(prediction: Mapping[str, Any], threshold: float | None = None) -> list[str]:
    """One output row from one /v1/predict prediction (or error)."""
    customerid = prediction.get("customerid")
    cid = "" if customerid is None else neutralized(str(customerid))
    error = prediction.get("error")
    if error:
        return [cid, "", "", "", "", f"{error['code']}: {error['message']}", ""]
    probability = float(prediction["churn_probability"])
    churn = prediction["churn"] if threshold is None else probability >= threshold
    reasons = ";".join(r["code"] for r in prediction.get("reasons", ()))
    warnings = ";".join(f"{w['field']}={w['code']}" for w in prediction.get("warnings", ()))
    return [cid, repr(probability), str(bool(churn)).lower(), f"{prediction['percentile']:.4f}", reasons, "", warnings]


def csv_line(cells: list[str]) -> str:
    """One line: csv.writer quotes a cell holding any character of its line terminator, so with "\r\n"
    it quotes both line end characters (Python 3.13's csv.writer does so whatever the terminator)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().removesuffix("\r\n") + "\n"


def expected_csv(predictions: Iterable[Mapping[str, Any]], threshold: float | None = None) -> bytes:
    """The whole output file, header included."""
    lines = [csv_line(list(COLUMNS)), *(csv_line(expected_row(p, threshold)) for p in predictions)]
    return "".join(lines).encode()
