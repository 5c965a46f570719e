"""Read a training export and check it before anything is trained on it.

read_export() refuses, with a TrainingDataError saying what is wrong and where, a file that is not a
readable CSV, lacks a column the model needs, holds values the book's preprocessing cannot turn into
the model's inputs, or has too few churners or non-churners to train and evaluate on. It returns the
model's columns preprocessed exactly as the book does (names and text lower case with spaces as _,
blank totalcharges 0), so the bundled data still gives the same model byte for byte.

compare_export() sets an accepted export against what the current model was trained on: categories it
has never seen, categories it knows that the export lacks, the churn rate, and each field's population
stability index against the training distribution (the bins of churn.core.drift, as the service's
drift metric uses them).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churn.core import features
from churn.core.drift import Bins, psi_by_field
from churn.errors import TrainingDataError

# Each class needs enough rows for the test split and every cross-validation fold to hold some.
MIN_CLASS_ROWS = 50
LABELS = ("no", "yes")
SHOWN = 3  # examples of bad values shown in a message
NEEDED = (*features.FIELDS, features.TARGET)


def read_export(path: Path) -> pd.DataFrame:
    """The export's rows as the book preprocesses them, or a TrainingDataError naming every problem."""
    raw = read_csv(path)
    names = [features.book_normalize(str(c)) for c in raw.columns]
    problems = column_problems(names)
    if problems:
        raise TrainingDataError(f"{path}: " + "; ".join(problems))
    raw.columns = names
    if raw.empty:
        raise TrainingDataError(f"{path}: the file has a header but no rows")
    df = raw[list(NEEDED)].copy()
    problems = [p for field in NEEDED if (p := convert(df, field))]
    if problems:
        raise TrainingDataError(f"{path}: some values cannot be trained on:\n  " + "\n  ".join(problems))
    churners = int(df[features.TARGET].sum())
    if min(churners, len(df) - churners) < MIN_CLASS_ROWS:
        raise TrainingDataError(
            f"{path}: {churners} churners and {len(df) - churners} non-churners: training and its evaluation "
            f"need at least {MIN_CLASS_ROWS} of each (is the churn column the right one?)"
        )
    return df


def read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise TrainingDataError(f"training data not found: {path}") from None
    except IsADirectoryError:
        raise TrainingDataError(f"{path} is a directory, not a CSV file") from None
    except OSError as e:
        raise TrainingDataError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise TrainingDataError(f"{path} is not a UTF-8 text file (a CSV export is expected)") from None
    except pd.errors.EmptyDataError:
        raise TrainingDataError(f"{path} is empty (a CSV export with a header row is expected)") from None
    except (pd.errors.ParserError, csv.Error, ValueError) as e:
        raise TrainingDataError(f"{path} is not a readable CSV file: {str(e).strip()}") from None


def column_problems(names: list[str]) -> list[str]:
    problems = []
    repeated = sorted({n for n in names if names.count(n) > 1 and n in NEEDED})
    if repeated:
        problems.append(f"more than one column is named {', '.join(repeated)} (after the book's normalization)")
    missing = [n for n in NEEDED if n not in names]
    if missing:
        problems.append(
            f"the export lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} that the model "
            "needs (names are matched in lower case, spaces as _)"
        )
    return problems


def convert(df: pd.DataFrame, field: str) -> str | None:
    """Turn one column into the model's input as the book does; a description of what stops it, if anything."""
    column = df[field]
    if field == features.TARGET:
        return convert_labels(df, column)
    if field in features.NUMERICAL:
        return convert_numbers(df, field, column)
    if field in features.FLAG_FIELDS:
        flags = column if pd.api.types.is_integer_dtype(column) else pd.to_numeric(column, errors="coerce")
        bad = ~flags.isin([0, 1])
        if bad.any():
            return f"{field} must be 0 or 1 in every row: {examples(column, bad)}"
        df[field] = flags.astype(np.int64)
        return None
    if pd.api.types.is_numeric_dtype(column) or column.isna().any():
        bad = column.isna() | column.map(lambda v: not isinstance(v, str))
        return f"{field} must be a category (text) in every row: {examples(column, bad)}"
    df[field] = column.str.lower().str.replace(" ", "_")
    return None


def convert_labels(df: pd.DataFrame, column: pd.Series) -> str | None:
    text = column.map(lambda v: features.book_normalize(v) if isinstance(v, str) else None)
    bad = ~text.isin(LABELS)
    if bad.any():
        return f"{features.TARGET} must be yes or no in every row: {examples(column, bad)}"
    df[features.TARGET] = (text == "yes").astype(int)
    return None


def convert_numbers(df: pd.DataFrame, field: str, column: pd.Series) -> str | None:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.astype(float) if column.isna().any() else column
        blank = column.isna()
    else:
        values = pd.to_numeric(column, errors="coerce")
        blank = column.map(lambda v: not isinstance(v, str) or not v.strip())
        if (values.isna() & ~blank).any():
            return f"{field} must be a number in every row: {examples(column, values.isna() & ~blank)}"
    if field in features.BLANK_IS_ZERO:
        values = values.fillna(0)  # the book's rule: a new customer has no total charges yet
    elif blank.any():
        return f"{field} is blank in some rows: {examples(column, blank)}"
    invalid = ~np.isfinite(values) | (values < 0)
    if invalid.any():
        return f"{field} must be a finite number >= 0 in every row: {examples(column, invalid)}"
    df[field] = values
    return None


def examples(column: pd.Series, bad: pd.Series | np.ndarray) -> str:
    """How many rows are bad and the first few, by line of the file (the header is line 1)."""
    rows = np.flatnonzero(np.asarray(bad))
    values = column.to_numpy()
    shown = ", ".join(f"{shown_value(values[i])} on line {i + 2}" for i in rows[:SHOWN])
    return f"{len(rows)} row{'s' if len(rows) != 1 else ''} ({shown}{', ...' if len(rows) > SHOWN else ''})"


def shown_value(value: Any) -> str:
    return "a blank" if value is None or (isinstance(value, float) and np.isnan(value)) else repr(value)


@dataclass(frozen=True)
class ExportComparison:
    """An accepted export against the data the current model was trained on."""

    unknown: dict[str, dict[str, int]]  # field -> category the model never saw -> rows
    lost: dict[str, list[str]]  # field -> categories the model knows and the export lacks
    churn_rate: float
    trained_churn_rate: float | None  # None for a model trained before the rate was recorded
    psi: dict[str, float]  # field -> population stability index, over the rows of known categories

    def unknown_text(self) -> str:
        return "; ".join(
            f"{field}=" + ", ".join(f"{value!r} ({rows} rows)" for value, rows in values.items())
            for field, values in self.unknown.items()
        )

    def lost_text(self) -> str:
        return "; ".join(f"{field}={', '.join(values)}" for field, values in self.lost.items())


def compare_export(df: pd.DataFrame, metadata: dict[str, Any]) -> ExportComparison:
    """Where an export differs from the champion's training data (its metadata's vocabulary and distribution)."""
    vocabulary = metadata["vocabulary"]
    unknown: dict[str, dict[str, int]] = {}
    lost: dict[str, list[str]] = {}
    for field in features.CATEGORICAL:
        counts = df[field].value_counts(sort=False)
        new = {str(v): int(n) for v, n in counts.items() if v not in vocabulary[field]}
        if new:
            unknown[field] = dict(sorted(new.items()))
        absent = [str(v) for v in vocabulary[field] if v not in counts.index]
        if absent:
            lost[field] = absent
    rate = metadata.get("data", {}).get("churn_rate")
    return ExportComparison(unknown, lost, float(df[features.TARGET].mean()), rate, drift(df, metadata))


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
