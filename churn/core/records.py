"""Customer records from CSV text: the header names the fields, each line is one record, passed on as it is.

The service's validator maps an export's headers and spellings ("customerID", "Month-to-month") onto
the model's, so nothing here second-guesses it. Shared by the job route's CSV upload and the campaign's
CSV files. Blank lines are not records.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator


class InputError(Exception):
    """The text cannot be read as records at all; the message says why."""


def csv_rows(lines: Iterable[str], name: str) -> Iterator[dict[str, str]]:
    """Rows of CSV text as header -> cell dicts; refuses text without a header of distinct column names."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header or len(set(header)) != len(header) or not all(h.strip() for h in header):
        raise InputError(f"{name}: the first line must be a header of distinct, non-blank column names")
    for cells in reader:
        if cells:
            yield dict(zip(header, cells, strict=False))


def parse_csv_text(text: str) -> list[dict[str, str]]:
    """All rows of an uploaded CSV document."""
    return list(csv_rows(io.StringIO(text, newline=""), "the CSV body"))
