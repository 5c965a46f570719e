"""The media types /invocations reads and answers in: JSON, CSV and JSON Lines, as MLflow and SageMaker send them.

CSV holds one customer per line, under a header line or in the CRM export's column order without one,
by the one rule of every CSV body (churn.core.records.csv_table; POST /v1/jobs reads its CSV here too):
a line with another number of cells is refused, naming the line. JSON Lines holds one customer object
per line.

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
from typing import Any

import orjson
from werkzeug.datastructures import MIMEAccept

from churn.core.records import InputError, Table, csv_table
from churn.errors import ApiError, Code
from churn.server.api import parse_json

JSON = "application/json"
CSV = "text/csv"
JSON_LINES = "application/jsonlines"
JSON_LINES_TYPES = frozenset({JSON_LINES, "application/x-jsonlines", "application/jsonl"})
ANSWER_TYPES = (JSON, CSV, JSON_LINES)  # the first is the answer to */* or no Accept header
CSV_COLUMNS = ("churn_probability", "churn", "error_code", "error_message")
UTF8 = "; charset=utf-8"
# The Accept entries that name each answer: its media types (JSON Lines goes by three), bare or with the one
# charset it is written in. Werkzeug matches an entry's parameters exactly, so both spellings are offered;
# an entry with any other parameter ("charset=latin-1") names an answer this server does not give.
ACCEPTED_AS = {
    media: tuple(name + params for name in sorted(names) for params in ("", UTF8))
    for media, names in ((JSON, {JSON}), (CSV, {CSV}), (JSON_LINES, JSON_LINES_TYPES))
}


def decoded(body: bytes, kind: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        code = Code.INVALID_CSV if kind == "CSV" else Code.INVALID_JSON
        raise ApiError(400, code, f"the {kind} is not UTF-8") from None


def read_csv(body: bytes) -> Table:
    """The customers of a CSV body, with a header line or in the CRM export's column order."""
    try:
        return csv_table(decoded(body, "CSV"))
    except InputError as e:
        raise ApiError(400, Code.INVALID_CSV, str(e)) from None


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
