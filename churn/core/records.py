"""Customer records from CSV text: the header names the fields, each line is one record, passed on as it is.

The service's validator maps an export's headers and spellings ("customerID", "Month-to-month") onto
the model's, so nothing here second-guesses it. Blank lines are not records.

csv_table reads a CSV body (POST /invocations and POST /v1/jobs: one rule for both). Its first line is a
header when it names two or more columns of the CRM export (in any spelling training normalizes:
"customerID", "MonthlyCharges", "Churn", which the validator ignores), as pandas' to_csv writes it; a row
of customer data cannot, since only its customerID is free text. Otherwise every line is a row of the
export's 20 columns in the export's order (churn.core.features.EXPORT_COLUMNS), as SageMaker Batch
Transform sends a headerless file split by line. A line with another number of cells than the header
(or those 20) is refused, naming the line (checked_cells): a shifted or dropped cell would be scored as
another field. csv_rows streams the campaign's CSV files, where such a line is that row's error.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from churn.core import features

HEADER_NAMES = frozenset((features.ID_FIELD, *features.FIELDS, features.TARGET))
# csv's default limit of 128 KiB a cell made one long cell stop a whole file (or body) as unreadable, where
# Arrow's reader (the offline engine) reads it and the contract refuses that row alone (too_long). Raised
# for the process: every reader of customer CSV here, and the campaign's read-back of its output, imports
# this module; a file or body is bounded by its own size limits, not by one cell's.
CSV_CELL_LIMIT = 2**31 - 1  # the largest a C long holds on every platform
csv.field_size_limit(CSV_CELL_LIMIT)


class InputError(Exception):
    """The text cannot be read as records at all; the message says why."""


@dataclass(frozen=True)
class Table:
    rows: list[Any]  # customer records, as the validator takes them
    header: bool = False  # the CSV began with a header line (a CSV answer does too)


def csv_rows(lines: Iterable[str], name: str) -> Iterator[dict[str, str] | InputError]:
    """Rows of CSV text as header -> cell dicts; refuses text without a header of distinct column names.

    A record with another number of cells than the header is yielded as its InputError (checked_cells'
    rule, as for a CSV body), in its place: the caller reports that row and goes on with the next.
    """
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if not header or len(set(header)) != len(header) or not all(h.strip() for h in header):
            raise InputError(f"{name}: the first line must be a header of distinct, non-blank column names")
        start = reader.line_num + 1
        for cells in reader:
            if not blank(cells):
                try:
                    yield dict(zip(header, checked_cells(start, cells, header), strict=True))
                except InputError as e:
                    yield e
            start = reader.line_num + 1
    except csv.Error as e:  # e.g. a cell past csv's field size limit: the file is not one we can read
        raise InputError(f"{name}: the CSV cannot be read (line {reader.line_num}): {e}") from None


def csv_table(text: str) -> Table:
    """The records of a CSV body, under a header line or in the CRM export's column order without one."""
    lines = numbered_records(text)
    if not lines:
        return Table([])
    first = lines[0][1]
    if sum(features.normalize(cell) in HEADER_NAMES for cell in first) < 2:
        return Table(records_of(lines, features.EXPORT_COLUMNS))
    if len(set(first)) != len(first) or not all(cell.strip() for cell in first):
        raise InputError("the CSV header must name distinct, non-blank columns")
    return Table(records_of(lines[1:], first), header=True)


def numbered_records(text: str) -> list[tuple[int, list[str]]]:
    """Each record but the blank lines, with the line it begins on (a quoted cell may hold line breaks)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    lines, start = [], 1
    try:
        for cells in reader:
            if not blank(cells):
                lines.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as e:
        raise InputError(f"the CSV cannot be read (line {reader.line_num}): {e}") from None
    return lines


def blank(cells: list[str]) -> bool:
    """A line that is no record: empty, or white space only (as a blank line of JSON Lines is)."""
    return not cells or (len(cells) == 1 and not cells[0].strip())


def records_of(lines: list[tuple[int, list[str]]], columns: Sequence[str]) -> list[dict[str, str]]:
    return [dict(zip(columns, checked_cells(number, cells, columns), strict=True)) for number, cells in lines]


def checked_cells(line: int, cells: list[str], columns: Sequence[str]) -> list[str]:
    """The cells of CSV line `line` (1-based, as the file counts them), exactly one per column, or refused."""
    if len(cells) == len(columns):
        return cells
    if columns is features.EXPORT_COLUMNS:
        want = f"a line without a header holds the {len(columns)} columns of the CRM export, Churn left out: "
        want += ", ".join(columns)
    else:
        want = f"the header names {len(columns)} columns"
    raise InputError(f"line {line} of the CSV has {len(cells)} cells: {want}")
