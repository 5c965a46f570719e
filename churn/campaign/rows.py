"""Customer rows in: CSV (raw CRM export or normalized) and JSON Lines, streamed (the output: churn.campaign.output).

Rows are passed on as they are read (churn.core.records), for the service's validator to judge.
A JSON Lines line is read by the service's own JSON parse (churn.core.jsonkeys), so a row holds the
values the service would read from the same text, numbers of any size and NaN included, and is
judged the same online and offline; a key repeated in a line is kept, for the validator to refuse.
A line that does not parse becomes an Unreadable row, so every input row still gets exactly one
output row: a line whose strings hold a lone surrogate escape ("\ud800": JSON, but not text, so no
output could hold it) is one of them, as for the service. Blank lines are not rows.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from churn.core import jsonkeys
from churn.core.records import csv_rows
from churn.errors import Code

JSONL_SUFFIXES = (".jsonl", ".ndjson")


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
        return jsonkeys.loads(line.encode("utf-8"))
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
