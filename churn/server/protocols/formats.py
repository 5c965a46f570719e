"""The media types /invocations reads and answers in: JSON, CSV and JSON Lines, as MLflow and SageMaker send them.

CSV holds one customer per line. The first line is a header when it names two or more columns of the
CRM export (in any spelling training normalizes: "customerID", "MonthlyCharges", "Churn", which is
ignored), as pandas' to_csv writes it for MLflow's clients; a row of customer data cannot, since only
its customerID is free text. Otherwise every line is a row of the export's 20 columns
in the export's order (churn.core.features.EXPORT_COLUMNS), as SageMaker Batch Transform sends a
headerless file split by line. A line with another number of cells is refused, naming the line: a
shifted column would be scored as the wrong field. JSON Lines holds one customer object per line.

An answer is a list of predictions, one per customer in input order, in the type the Accept header
asks for (JSON when it asks for none): JSON `{"predictions": [...]}`, JSON Lines one prediction per
line, CSV the lines `churn_probability,churn,error_code,error_message`, under a header line exactly
when the CSV request had one, so that a file's header and each of its lines keep their answer's
place when Batch Transform joins input and output. Lines are joined by a newline with none after the
last: Batch Transform puts one between the answers it assembles. Every answer is UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from werkzeug.datastructures import MIMEAccept

from churn.core import features
from churn.errors import ApiError, Code
from churn.server.api import parse_json

JSON = "application/json"
CSV = "text/csv"
JSON_LINES = "application/jsonlines"
JSON_LINES_TYPES = frozenset({JSON_LINES, "application/x-jsonlines", "application/jsonl"})
ANSWER_TYPES = (JSON, CSV, JSON_LINES)  # the first is the answer to */* or no Accept header
CSV_COLUMNS = ("churn_probability", "churn", "error_code", "error_message")
HEADER_NAMES = frozenset((features.ID_FIELD, *features.FIELDS, features.TARGET))
UTF8 = "; charset=utf-8"
# The Accept entries that name each answer: its media types (JSON Lines goes by three), bare or with the one
# charset it is written in. Werkzeug matches an entry's parameters exactly, so both spellings are offered;
# an entry with any other parameter ("charset=latin-1") names an answer this server does not give.
ACCEPTED_AS = {
    media: tuple(name + params for name in sorted(names) for params in ("", UTF8))
    for media, names in ((JSON, {JSON}), (CSV, {CSV}), (JSON_LINES, JSON_LINES_TYPES))
}


@dataclass(frozen=True)
class Table:
    rows: list[Any]  # customer records, as the validator takes them
    header: bool = False  # a CSV request that began with a header line: its CSV answer does too


def decoded(body: bytes, kind: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        code = Code.INVALID_CSV if kind == "CSV" else Code.INVALID_JSON
        raise ApiError(400, code, f"the {kind} is not UTF-8") from None


def read_csv(body: bytes) -> Table:
    """The customers of a CSV body, with a header line or in the CRM export's column order."""
    reader = csv.reader(io.StringIO(decoded(body, "CSV"), newline=""))
    try:
        lines = [(reader.line_num, cells) for cells in reader if cells]
    except csv.Error as e:
        raise ApiError(400, Code.INVALID_CSV, f"the CSV cannot be read (line {reader.line_num}): {e}") from None
    if not lines:
        return Table([])
    first = lines[0][1]
    if sum(features.normalize(cell) in HEADER_NAMES for cell in first) < 2:
        columns = features.EXPORT_COLUMNS
        return Table([dict(zip(columns, cells_of(n, c, columns), strict=True)) for n, c in lines])
    if len(set(first)) != len(first) or not all(cell.strip() for cell in first):
        raise ApiError(400, Code.INVALID_CSV, "the CSV header must name distinct, non-blank columns")
    return Table([dict(zip(first, cells_of(n, c, first), strict=True)) for n, c in lines[1:]], header=True)


def cells_of(line: int, cells: list[str], columns: Sequence[str]) -> list[str]:
    if len(cells) == len(columns):
        return cells
    if columns is features.EXPORT_COLUMNS:
        want = f"a line without a header holds the {len(columns)} columns of the CRM export, Churn left out: "
        want += ", ".join(columns)
    else:
        want = f"the header names {len(columns)} columns"
    raise ApiError(400, Code.INVALID_CSV, f"line {line} of the CSV has {len(cells)} cells: {want}")


def read_json_lines(body: bytes) -> list[Any]:
    """One JSON value per non-blank line."""
    rows = []
    for number, line in enumerate(decoded(body, "JSON Lines").split("\n"), 1):  # not splitlines(): U+2028 is text
        if line.strip():
            try:
                rows.append(parse_json(line.encode()))
            except ApiError as e:
                raise ApiError(e.status, e.code, f"line {number}: {e.message}") from None
    return rows


def answer_type(accept: MIMEAccept) -> str:
    """The media type to answer in, by the Accept header (RFC 9110, 12.5.1); 406 when it accepts none of them.

    Each answer type takes the quality of the most specific entry that names it, as the RFC says: Werkzeug
    keeps the entries sorted by specificity, then quality, so that is the first one found. "text/csv;q=0,
    */*" refuses CSV and accepts the others. The highest quality wins; among equals, the more specific
    entry, then the one the client lists first, then the order of ANSWER_TYPES.
    """
    if not accept:  # no Accept header (or none Werkzeug could read): any type will do
        return JSON
    offers = []
    for order, media in enumerate(ANSWER_TYPES):
        entry = governing_entry(accept, media)
        if entry is not None and accept[entry][1] > 0:
            offers.append((-accept[entry][1], entry, order, media))
    if not offers:
        raise ApiError(
            406, Code.NOT_ACCEPTABLE, f"the answer can be given as {', '.join(ANSWER_TYPES)}: set Accept to one of them"
        )
    return min(offers)[3]


def governing_entry(accept: MIMEAccept, media: str) -> int | None:
    """The position of the most specific Accept entry that names this answer type, if one does."""
    return min((i for i in map(accept.find, ACCEPTED_AS[media]) if i >= 0), default=None)


def prediction(row: dict[str, Any]) -> dict[str, Any]:
    """One scored row of ChurnService.score_rows as a protocol prediction: probability and decision, or the error."""
    if "error" in row:
        return {"churn_probability": None, "churn": None, "error": row["error"]}
    return {"churn_probability": row["churn_probability"], "churn": row["churn"]}


def render(predictions: list[dict[str, Any]], media: str, header: bool = False) -> bytes:
    if media == JSON:
        return orjson.dumps({"predictions": predictions})
    if media == JSON_LINES:
        return b"\n".join(map(orjson.dumps, predictions))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_cells(p) for p in predictions)
    return out.getvalue().removesuffix("\n").encode()


def csv_cells(p: dict[str, Any]) -> list[str]:
    error = p.get("error")
    if error is not None:
        return ["", "", error["code"], error["message"]]
    return [repr(p["churn_probability"]), "true" if p["churn"] else "false", "", ""]
