"""Read a training export and check it before anything is trained on it.

read_export() refuses, with a TrainingDataError saying what is wrong and where (the file's own line
numbers), a file that is not a readable CSV (by the CSV reader the service and the campaign use, a row
with another number of cells than the header included), lacks a column the model needs or has one
twice, holds values the service would not read, or has too few churners or non-churners to train and
evaluate on. Every cell is read as text by the customer contract's own rules (churn.core.contract,
churn.core.grammar), as the service reads the same CSV: names and categories as
churn.core.features.normalize spells them, numbers as the API's plain decimals ("1e3" is refused here
as /predict refuses it), a blank category or number refused as missing, except a blank totalcharges, 0
as in the book (a new customer). The bundled data still gives the same model byte for byte.

compare_export() sets an accepted export against what the current model was trained on: categories it
has never seen, categories it knows that the export lacks, numbers outside the ranges it accepts, the
churn rate, and each field's population stability index against the training distribution (the bins
of churn.core.drift, as the service's drift metric uses them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.config import RANGE_TOLERANCE
from churn.core import features, grammar
from churn.core.contract import (
    Contract,
    FieldError,
    FlagField,
    not_a_domain_number,
    quote,
    read_category,
    read_number,
    shown,
)
from churn.core.drift import Bins, psi_by_field
from churn.core.records import InputError, checked_cells, numbered_records
from churn.errors import FieldCode, TrainingDataError
from churn.files import printable

# Each class needs enough rows for the test split and every cross-validation fold to hold some.
MIN_CLASS_ROWS = 50
LABELS = ("no", "yes")
SHOWN = 3  # examples of bad values shown in a message
NEEDED = (*features.FIELDS, features.TARGET)
FLAGS = (0, 1)
Reader = Callable[[str], Any]  # a cell's text to the model's value, or the FieldError refusing it


def read_export(path: Path) -> pd.DataFrame:
    """The export's rows as the service reads them, or a TrainingDataError naming every problem.

    The frame's index is each row's line in the file (the header is line 1), which every message quotes.
    """
    (_, header), *records = read_csv(path)
    problems = column_problems(header)
    if problems:
        raise TrainingDataError(f"{printable(path)}: " + "; ".join(problems))
    if not records:
        raise TrainingDataError(f"{printable(path)}: the file has a header but no rows")
    cells = cell_table(path, header, records)
    names = [features.normalize(h) for h in header]
    df = pd.DataFrame(index=pd.Index([line for line, _ in records], name="line"))
    problems = [p for field in NEEDED for p in convert(df, field, cells[:, names.index(field)])]
    if problems:
        raise TrainingDataError(f"{printable(path)}: some values cannot be trained on:\n  " + "\n  ".join(problems))
    if features.ID_FIELD in names:
        check_once_each(path, cells[:, names.index(features.ID_FIELD)], df.index)
    churners = int(df[features.TARGET].sum())
    if min(churners, len(df) - churners) < MIN_CLASS_ROWS:
        raise TrainingDataError(
            f"{printable(path)}: {churners} churners and {len(df) - churners} non-churners: training and its "
            f"evaluation need at least {MIN_CLASS_ROWS} of each (is the churn column the right one?)"
        )
    return df


def check_once_each(path: Path, ids: np.ndarray, lines: pd.Index) -> None:
    """Each customer once: a customer on two rows could be trained on and then held out as unseen, which
    the evaluation, the card and the comparison with the champion would all overstate."""
    seen: dict[str, int] = {}
    repeated = []
    for customerid, line in zip(ids.tolist(), lines.tolist(), strict=True):
        # the service passes ids through as they are; in an export, one in another case or padded is
        # still the same customer exported twice
        key = customerid.strip().casefold()
        if key in seen:
            repeated.append(f"{quote(customerid)} on lines {seen[key]} and {line}")
        elif key:
            seen[key] = line
    if repeated:
        shown = ", ".join(repeated[:SHOWN]) + (", ..." if len(repeated) > SHOWN else "")
        raise TrainingDataError(
            f"{printable(path)}: {counted(len(repeated), 'row')} repeat a customer's id ({shown}): "
            "export each customer once"
        )


def read_csv(path: Path) -> list[tuple[int, list[str]]]:
    """Every record but the blank lines, as the text the file holds, with the line it begins on: the
    CSV reader of the service's CSV bodies and the campaign's files (pandas, as a header, would rename a
    repeated name to "Contract.1", read "1e3" as a number, and skip blank lines without counting them)."""
    if path.exists() and not path.is_dir() and not path.is_file():
        raise TrainingDataError(
            f"{printable(path)} is not a regular file (a device or a named pipe): a CSV export is expected"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM in front dropped, as the campaign drops it
    except FileNotFoundError:
        raise TrainingDataError(f"training data not found: {printable(path)}") from None
    except IsADirectoryError:
        raise TrainingDataError(f"{printable(path)} is a directory, not a CSV file") from None
    except OSError as e:
        raise TrainingDataError(f"cannot read {printable(path)}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise TrainingDataError(f"{printable(path)} is not a UTF-8 text file (a CSV export is expected)") from None
    try:
        records = numbered_records(text)
    except InputError as e:
        raise TrainingDataError(f"{printable(path)} is not a readable CSV file: {e}") from None
    if not records:
        raise TrainingDataError(f"{printable(path)} is empty (a CSV export with a header row is expected)")
    return records


def cell_table(path: Path, header: list[str], records: list[tuple[int, list[str]]]) -> np.ndarray:
    """The rows' cells, one column per header name; a row with another number of cells is refused (a
    short row is not read as blanks, nor a long one cut: either would train on misplaced values)."""
    try:
        return np.array([checked_cells(line, cells, header) for line, cells in records], dtype=object)
    except InputError as e:
        raise TrainingDataError(f"{printable(path)}: {e}") from None


def column_problems(header: list[str]) -> list[str]:
    """A needed column missing or given twice, names matched as the service matches a record's keys."""
    spellings: dict[str, list[str]] = {}
    for name in header:
        spellings.setdefault(features.normalize(name), []).append(name)
    problems = [
        f"more than one column is named {field} ({', '.join(map(repr, spellings[field]))}): the model needs it once"
        for field in NEEDED
        if len(spellings.get(field, ())) > 1
    ]
    missing = [n for n in NEEDED if n not in spellings]
    if missing:
        problems.append(
            f"the export lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} that the model "
            "needs (names are matched in any case, spaces as _, white space around trimmed)"
        )
    return problems


def convert(df: pd.DataFrame, field: str, cells: np.ndarray) -> list[str]:
    """Read one column of text into df by the contract's rules (each distinct text once); what stops it."""
    if numbers_for_categories(field, cells):
        bad = np.array([grammar.is_numeral(v) for v in cells])
        return [f"{field} must be a category (text), not numbers, in every row: {examples(cells, bad, df.index)}"]
    codes, texts = pd.factorize(cells)
    read_cell = reader(field)
    read = [read_cell(text) for text in texts]
    problems = [
        f"{field} {what}: {examples(cells, np.isin(codes, group), df.index)}" for what, group in refusals(field, read)
    ]
    if not problems:
        df[field] = np.asarray(read, dtype=column_type(field))[codes]
    return problems


def numbers_for_categories(field: str, cells: np.ndarray) -> bool:
    """A category column holding numbers only: codes of an encoded export, not the CRM's categories."""
    if field not in features.CATEGORICAL or field in features.FLAG_FIELDS:
        return False
    texts = [v for v in pd.unique(cells) if not grammar.is_blank_spelling(v)]
    return bool(texts) and all(map(grammar.is_numeral, texts))


def reader(field: str) -> Reader:
    """How a field's cell is read: as the service reads it, with the model's values fixed by training."""
    if field == features.TARGET:
        return read_label
    if field in features.NUMERICAL:
        blank = 0.0 if field in features.BLANK_IS_ZERO else None  # the book's rule: a new customer has no charges yet
        return lambda text: within_domain(field, read_number(field, text, blank))
    if field in features.FLAG_FIELDS:
        check = FlagField(field, FLAGS).check
        return lambda text: value_or_error(*check(text))
    return lambda text: read_category(field, text)


def within_domain(field: str, number: float | FieldError) -> float | FieldError:
    """A number the model can take (finite, not negative), as the contract's check requires."""
    if isinstance(number, FieldError) or (math.isfinite(number) and number >= 0):
        return number
    return not_a_domain_number(field, number)


def value_or_error(value: Any, error: FieldError | None) -> Any:
    return value if error is None else error


def read_label(text: str) -> int | FieldError:
    label = read_category(features.TARGET, text)
    if isinstance(label, str) and label in LABELS:
        return LABELS.index(label)
    if isinstance(label, FieldError):
        return label
    return FieldError(features.TARGET, FieldCode.UNKNOWN_CATEGORY, f"{features.TARGET} must be yes or no")


def column_type(field: str) -> type:
    if field in features.NUMERICAL:
        return np.float64
    return np.int64 if field in (*features.FLAG_FIELDS, features.TARGET) else object


def refusals(field: str, read: list[Any]) -> list[tuple[str, list[int]]]:
    """The refused distinct values (by position in read), grouped by what the refusal says, first seen first."""
    groups: dict[str, list[int]] = {}
    for i, value in enumerate(read):
        if isinstance(value, FieldError):
            groups.setdefault(refusal(field, value.code), []).append(i)
    return list(groups.items())


def refusal(field: str, code: str) -> str:
    """What a training column's refused value lacks, by the contract's code."""
    if code == FieldCode.MISSING_FIELD:
        return "is blank in some rows"
    if field == features.TARGET:
        return "must be yes or no in every row"
    if field in features.FLAG_FIELDS:
        return f"must be {' or '.join(map(str, FLAGS))} in every row"
    if code == FieldCode.INVALID_NUMBER:
        return "must be a plain decimal number in every row, as the API reads one (no exponent, inf or nan)"
    return "must be a finite number >= 0 in every row"


def examples(values: np.ndarray, bad: np.ndarray, lines: pd.Index, show: Callable[[Any], str] | None = None) -> str:
    """How many rows are bad and the first few, by their line in the file (the frame's index)."""
    rows = np.flatnonzero(bad)
    show = show or shown_value
    shown_rows = ", ".join(f"{show(values[i])} on line {lines[i]}" for i in rows[:SHOWN])
    return f"{counted(len(rows), 'row')} ({shown_rows}{', ...' if len(rows) > SHOWN else ''})"


def on_lines(lines: list[int]) -> str:
    """Where a value is, by its first few lines in the file, and on how many rows in all."""
    first = ", ".join(map(str, lines[:SHOWN])) + (", ..." if len(lines) > SHOWN else "")
    return f"on line{'s' if len(lines) != 1 else ''} {first} ({counted(len(lines), 'row')})"


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def shown_value(text: str) -> str:
    """A cell as the file holds it, quoted (an empty one said as such)."""
    return quote(text) if text else "a blank"


@dataclass(frozen=True)
class ExportComparison:
    """An accepted export against the data the current model was trained on."""

    unknown: dict[str, dict[str, list[int]]]  # field -> category the model never saw -> its lines
    outside: dict[str, str]  # field -> its numbers the model refuses (out_of_range), described
    lost: dict[str, list[str]]  # field -> categories the model knows and the export lacks
    churn_rate: float
    trained_churn_rate: float | None  # None for a model trained before the rate was recorded
    psi: dict[str, float]  # field -> population stability index, over the rows of known categories

    def unknown_text(self) -> str:
        return "; ".join(
            f"{field}=" + ", ".join(f"{value!r} {on_lines(lines)}" for value, lines in values.items())
            for field, values in self.unknown.items()
        )

    def outside_text(self) -> str:
        return "; ".join(self.outside.values())

    def lost_text(self) -> str:
        return "; ".join(f"{field}={', '.join(values)}" for field, values in self.lost.items())


def compare_export(df: pd.DataFrame, metadata: dict[str, Any], tolerance: float = RANGE_TOLERANCE) -> ExportComparison:
    """Where an export differs from the champion's training data (its metadata's vocabulary, ranges and
    distribution); tolerance is the service's range tolerance (CHURN_RANGE_TOLERANCE)."""
    vocabulary = metadata["vocabulary"]
    unknown: dict[str, dict[str, list[int]]] = {}
    lost: dict[str, list[str]] = {}
    for field in features.CATEGORICAL:
        counts = df[field].value_counts(sort=False)
        new = sorted(str(v) for v in counts.index if v not in vocabulary[field])
        if new:
            unknown[field] = {v: df.index[df[field] == v].tolist() for v in new}
        absent = [str(v) for v in vocabulary[field] if v not in counts.index]
        if absent:
            lost[field] = absent
    rate = metadata.get("data", {}).get("churn_rate")
    outside = outside_ranges(df, Contract(vocabulary, metadata["numeric_ranges"], tolerance))
    return ExportComparison(unknown, outside, lost, float(df[features.TARGET].mean()), rate, drift(df, metadata))


def outside_ranges(df: pd.DataFrame, contract: Contract) -> dict[str, str]:
    """Each number field's values the contract refuses as out_of_range, described with their lines."""
    outside = {}
    for spec in contract.numbers:
        values = df[spec.name].to_numpy()
        bad = ~spec.accepts_array(values)
        if bad.any():
            (low, high), (seen_low, seen_high) = spec.accepted, spec.training
            outside[spec.name] = (
                f"{spec.name} outside the accepted {shown(low)} to {shown(high)} (training saw {shown(seen_low)} "
                f"to {shown(seen_high)}): {examples(values, bad, df.index, lambda v: shown(float(v)))}"
            )
    return outside


def drift(df: pd.DataFrame, metadata: dict[str, Any]) -> dict[str, float]:
    """Each field's PSI against the training distribution, over the rows whose categories the model knows."""
    vocabulary = metadata["vocabulary"]
    known = np.ones(len(df), dtype=bool)
    for field in features.CATEGORICAL:
        known &= df[field].isin(vocabulary[field]).to_numpy()
    rows = df[known]
    bins = Bins(metadata["training_distribution"], vocabulary)
    counts = bins.counts({f: rows[f].tolist() for f in features.FIELDS}, len(rows))
    return psi_by_field(bins.bins, {(b.field, b.label): c for b, c in zip(bins.bins, counts, strict=True)})
