"""Customer rows in: CSV (raw CRM export or normalized) and JSON Lines, streamed (the output: churn.campaign.output).

Rows are passed on as they are read (churn.core.records), for the service's validator to judge.
A JSON Lines line is read by the service's own JSON parse (churn.core.jsonkeys), so a row holds the
values the service would read from the same text, numbers of any size and NaN included, and is
judged the same online and offline; a key repeated in a line is kept, for the validator to refuse.
A line that does not parse becomes an Unreadable row, so every input row still gets exactly one
output row: a line whose strings hold a lone surrogate escape ("\ud800": JSON, but not text, so no
output could hold it) is one of them, as for the service. Blank lines are not rows.
Either format is UTF-8 text, a BOM in front allowed (text_lines); the input is a regular file (open_input).
"""

from __future__ import annotations

import hashlib
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from churn.core import jsonkeys
from churn.core.records import InputError, csv_rows
from churn.errors import Code
from churn.files import printable

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


def read_csv(path: Path) -> Iterator[dict[str, str] | Unreadable]:
    for row in csv_rows(text_lines(path), printable(path)):
        yield Unreadable(Code.INVALID_CSV, str(row)) if isinstance(row, InputError) else row


def read_jsonl(path: Path) -> Iterator[Any]:
    for number, line in enumerate(text_lines(path), 1):
        if line.strip():
            yield parse_json_line(line, number)


def text_lines(path: Path) -> Iterator[str]:
    """The lines of an input file as text, line ends kept as they are (csv needs them so; JSON ignores
    them): UTF-8, a BOM in front allowed and dropped (as a spreadsheet's "CSV UTF-8" has one), in every
    format. An InputError naming the first line that is not UTF-8 otherwise."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        try:
            yield from f
        except UnicodeDecodeError:
            raise not_utf8(path) from None


def not_utf8(path: Path) -> InputError:
    """The error for an input that is not UTF-8 text, naming its first line that is not (lines end as
    text_lines ends them: at a line feed, a carriage return, or both)."""
    with path.open("rb") as f:
        lines = (line for block in f for line in block.splitlines(keepends=True))
        for number, line in enumerate(lines, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return InputError(
                    f"{printable(path)}: line {number} is not UTF-8 text (byte 0x{line[e.start]:02x}): "
                    "the file must be UTF-8 (save it as UTF-8, or convert it, e.g. iconv -f WINDOWS-1252 -t UTF-8)"
                )
    return InputError(f"{printable(path)} is not UTF-8 text: the file must be UTF-8")


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


def open_input(path: Path) -> BinaryIO:
    """The input file opened for reading; an InputError saying why where it cannot be.

    It must be a regular file: a run reads it more than once (its digest, its rows, their count), and
    opening a named pipe would wait for a writer, so its kind is checked before it is opened.
    """
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{printable(path)} is a directory, not a customer file")
        if not stat.S_ISREG(mode):
            raise InputError(
                f"{printable(path)} is not a regular file (a pipe or a device): the run reads its input more than once"
            )
        return path.open("rb")
    except OSError as e:
        raise InputError(f"cannot read {printable(path)}: {e.strerror or e}") from None


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
        file = open_input(path)  # here, so that a missing or unreadable input fails the caller at once
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
