"""Customer rows in and scored rows out: CSV (raw CRM export or normalized) and JSON Lines, streamed.

Rows are passed on as they are read (churn.core.records), for the service's validator to judge.
A JSON Lines line that does not parse becomes an Unreadable row, so every input row still gets
exactly one output row; a key repeated in a line is kept (churn.core.jsonkeys), for the validator to
refuse. Blank lines are not rows.

An output cell that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a
carriage return: OWASP's CSV injection rule) is written with a ' in front; only a customerid can.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from churn.core import jsonkeys
from churn.core.records import csv_rows
from churn.errors import Code

OUTPUT_COLUMNS = ("customerid", "churn_probability", "churn", "percentile", "reasons", "error", "warnings")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


def read_jsonl(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield parse_json_line(line, number)


def parse_json_line(line: str, number: int) -> Any:
    try:
        return json.loads(line, object_pairs_hook=jsonkeys.object_from_pairs)
    except ValueError as e:
        return Unreadable(Code.INVALID_JSON, f"line {number} is not valid JSON: {e}")


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
