"""Customer rows in and scored rows out: CSV (raw CRM export or normalized) and JSON Lines, streamed.

Rows are passed on as they are read: the service's validator maps the export's headers and
spellings ("customerID", "Month-to-month") onto the model's, so the client never second-guesses it.
A JSON Lines line that does not parse becomes an Unreadable row, so every input row still gets
exactly one output row; a key repeated in a line is kept (churn.jsonkeys), for the validator to
refuse. Blank lines are not rows.

An output cell that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a
carriage return: OWASP's CSV injection rule) is written with a ' in front; only a customerid can.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from churn import jsonkeys

OUTPUT_COLUMNS = ("customerid", "churn_probability", "churn", "percentile", "reasons", "error", "warnings")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InputError(Exception):
    """The input file cannot be read as rows at all; the message says why."""


@dataclass(frozen=True)
class Unreadable:
    """An input row the client could not turn into a record; it is reported, never sent."""

    code: str
    message: str


def read_rows(path: Path) -> Iterator[Any]:
    """Stream the rows of a CSV or JSON Lines file (chosen by suffix: .jsonl/.ndjson, else CSV)."""
    if path.suffix.lower() in JSONL_SUFFIXES:
        return read_jsonl(path)
    return read_csv(path)


def read_csv(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        yield from csv_rows(f, str(path))


def csv_rows(f: Iterable[str], name: str) -> Iterator[dict[str, str]]:
    """Rows of CSV text as header -> cell dicts; refuses text without a header naming customers' fields."""
    reader = csv.reader(f)
    header = next(reader, None)
    if not header or len(set(header)) != len(header) or not all(h.strip() for h in header):
        raise InputError(f"{name}: the first line must be a header of distinct, non-blank column names")
    for cells in reader:
        if cells:
            yield dict(zip(header, cells, strict=False))


def parse_csv_text(text: str) -> list[dict[str, str]]:
    """All rows of an uploaded CSV document."""
    return list(csv_rows(io.StringIO(text, newline=""), "the CSV body"))


def read_jsonl(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield parse_json_line(line, number)


def parse_json_line(line: str, number: int) -> Any:
    try:
        return json.loads(line, object_pairs_hook=jsonkeys.object_from_pairs)
    except ValueError as e:
        return Unreadable("invalid_json", f"line {number} is not valid JSON: {e}")


def chunked(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return stream_sha256(f)


def stream_sha256(f: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


class BackgroundDigest:
    """file_sha256 computed on a daemon thread (hashlib and file reads release the GIL), for result() later.

    A daemon thread rather than an executor's: a run that fails early exits at once instead of
    waiting for the hash of a large file that nobody will read.
    """

    def __init__(self, path: Path):
        self.done = threading.Event()
        self.value = ""
        self.error: BaseException | None = None
        file = path.open("rb")  # here, so that a missing or unreadable input fails the caller at once
        threading.Thread(target=self.compute, args=(file,), name="sha256", daemon=True).start()

    def compute(self, file: BinaryIO) -> None:
        try:
            with file:
                self.value = stream_sha256(file)
        except BaseException as e:  # re-raised by result(), in the thread that needs the digest
            self.error = e
        finally:
            self.done.set()

    def result(self) -> str:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


def output_row(prediction: dict[str, Any], threshold: float | None = None) -> list[str]:
    """One output CSV row from one /v1/predict prediction (or error)."""
    customerid = prediction.get("customerid")
    cid = "" if customerid is None else neutralized(str(customerid))
    error = prediction.get("error")
    if error:
        return rejected_row(cid, f"{error['code']}: {error['message']}")
    probability = float(prediction["churn_probability"])
    churn = prediction["churn"] if threshold is None else probability >= threshold
    reasons = ";".join(r["code"] for r in prediction.get("reasons", ()))
    warnings = warnings_cell(prediction.get("warnings", ()))
    return [cid, repr(probability), str(bool(churn)).lower(), f"{prediction['percentile']:.4f}", reasons, "", warnings]


def rejected_row(customerid: str, error: str) -> list[str]:
    """The output row of a row not scored: its id and "<code>: <message>" only."""
    return [customerid, "", "", "", "", error, ""]


def warnings_cell(warnings: Iterable[dict[str, Any]]) -> str:
    """A scored row's warnings, as "field=code" joined with ";"."""
    return ";".join(f"{w['field']}={w['code']}" for w in warnings)


def neutralized(cell: str) -> str:
    """The cell as a spreadsheet shows it as text, never runs it as a formula (OWASP's CSV injection rule)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell
