"""A training export is read the book's way or refused with a clear message: every class of bad export.

The exports are derived from the bundled data (a column dropped, a value changed, labels rewritten),
written to a temporary folder; any problem is a TrainingDataError naming what is wrong and where,
never another exception (train.py turns it into `error: ...` and exit status 2).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import train as train_cli
from churn.core import features
from churn.core.training_data import MIN_CLASS_ROWS, NEEDED, read_export
from churn.errors import TrainingDataError
from tests.conftest import DATA_PATH

with DATA_PATH.open(newline="") as f:
    HEADER = next(csv.reader(f))
    ROWS = list(csv.DictReader(f, fieldnames=HEADER))
COLUMN = {features.book_normalize(c): c for c in HEADER}  # model field -> the export's column name
Edit = Callable[[list[dict[str, str]]], list[dict[str, str]]]


def export(folder: Path, edit: Edit = lambda rows: rows, header: list[str] | None = None) -> Path:
    """A copy of the bundled data with some rows edited (each row a dict of the export's columns)."""
    rows = edit([dict(r) for r in ROWS])
    path = folder / "export.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header or list(rows[0]) if rows else HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def refused(path: Path) -> str:
    with pytest.raises(TrainingDataError) as caught:
        read_export(path)
    return str(caught.value)


def set_value(field: str, value: str, rows: tuple[int, ...] = (4,)) -> Edit:
    def edit(data: list[dict[str, str]]) -> list[dict[str, str]]:
        for i in rows:
            data[i][COLUMN[field]] = value
        return data

    return edit


def test_the_bundled_data_is_read_as_the_book_reads_it() -> None:
    df = read_export(DATA_PATH)
    assert list(df.columns) == list(NEEDED) and len(df) == len(ROWS)
    assert df["churn"].sum() == sum(r["Churn"] == "Yes" for r in ROWS)
    blanks = [i for i, r in enumerate(ROWS) if not r["TotalCharges"].strip()]
    assert blanks and (df["totalcharges"].iloc[blanks] == 0).all()  # the book's rule for new customers
    assert df["contract"].iloc[0] == "month-to-month" and df["paymentmethod"].iloc[0] == "electronic_check"


def test_column_order_case_and_extra_columns_change_nothing(tmp_path: Path) -> None:
    header = ["Extra Flag", *reversed([c.upper() if c != "Churn" else c for c in HEADER])]

    def edit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{"Extra Flag": "True", **{(k.upper() if k != "Churn" else k): v for k, v in r.items()}} for r in rows]

    pd.testing.assert_frame_equal(read_export(export(tmp_path, edit, header)), read_export(DATA_PATH))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d: d / "missing.csv", id="missing"),
        pytest.param(lambda d: d, id="a directory"),
        pytest.param(lambda d: write(d, b""), id="empty"),
        pytest.param(lambda d: write(d, b"\x00\xff\xfe" + bytes(range(256)) * 8), id="binary"),
        pytest.param(lambda d: write(d, gzip.compress(DATA_PATH.read_bytes())), id="gzip under a .csv name"),
        pytest.param(
            lambda d: write(d, DATA_PATH.read_bytes().replace(b"Female", "Fémale".encode("latin-1"))), id="not UTF-8"
        ),
        pytest.param(lambda d: write(d, DATA_PATH.read_bytes().split(b"\n")[0] + b"\n"), id="header only"),
        pytest.param(lambda d: write(d, b"a,b\n1,2\n3,4,5,6\n"), id="ragged rows"),
        pytest.param(lambda d: write(d, b'customerID,gender\n"x,\n'), id="an unclosed quote"),
    ],
)
def test_a_file_that_is_not_a_readable_export_is_refused(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    assert str(path) in refused(path)


def write(folder: Path, data: bytes) -> Path:
    path = folder / "export.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("field", NEEDED)
def test_an_export_missing_a_column_the_model_needs_is_refused(tmp_path: Path, field: str) -> None:
    header = [c for c in HEADER if c != COLUMN[field]]
    message = refused(export(tmp_path, lambda rows: [{c: r[c] for c in header} for r in rows], header))
    assert f"lacks the column {field} " in message


def test_two_columns_of_one_name_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(DATA_PATH.read_text().replace("customerID,", "churn,", 1))
    assert "more than one column is named churn" in refused(path)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("tenure", "abc", "tenure must be a number"),
        ("tenure", "", "tenure is blank"),
        ("tenure", "-1", "tenure must be a finite number >= 0"),
        ("monthlycharges", "inf", "monthlycharges must be a finite number >= 0"),
        ("monthlycharges", "12,5", "monthlycharges must be a number"),
        ("totalcharges", "n/a ", "totalcharges must be a number"),
        ("totalcharges", "-5", "totalcharges must be a finite number >= 0"),
        ("seniorcitizen", "2", "seniorcitizen must be 0 or 1"),
        ("seniorcitizen", "yes", "seniorcitizen must be 0 or 1"),
        ("seniorcitizen", "", "seniorcitizen must be 0 or 1"),
        ("gender", "", "gender must be a category"),
        ("contract", "", "contract must be a category"),
        ("churn", "maybe", "churn must be yes or no"),
        ("churn", "", "churn must be yes or no"),
    ],
)
def test_a_value_that_cannot_be_trained_on_is_refused_with_its_line(
    tmp_path: Path, field: str, value: str, expected: str
) -> None:
    message = refused(export(tmp_path, set_value(field, value, rows=(4, 9))))
    assert expected in message and "2 rows" in message and "on line 6" in message and "on line 11" in message


def test_every_bad_column_is_named_at_once(tmp_path: Path) -> None:
    def edit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return set_value("churn", "?")(set_value("tenure", "x")(rows))

    message = refused(export(tmp_path, edit))
    assert "tenure must be a number" in message and "churn must be yes or no" in message


def test_a_numeric_category_column_is_refused(tmp_path: Path) -> None:
    def edit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        for r in rows:
            r["gender"] = "1" if r["gender"] == "Male" else "0"
        return rows

    assert "gender must be a category (text)" in refused(export(tmp_path, edit))


def test_a_numeric_churn_column_is_refused(tmp_path: Path) -> None:
    def edit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        for r in rows:
            r["Churn"] = "1" if r["Churn"] == "Yes" else "0"
        return rows

    assert "churn must be yes or no" in refused(export(tmp_path, edit))


@pytest.mark.parametrize("churners", [0, 1, MIN_CLASS_ROWS - 1, "all", "all but one"])
def test_too_few_churners_or_non_churners_are_refused(tmp_path: Path, churners: int | str) -> None:
    def edit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        count = {"all": len(rows), "all but one": len(rows) - 1}.get(str(churners), churners)
        for i, r in enumerate(rows):
            r["Churn"] = "Yes" if i < int(count) else "No"
        return rows

    assert f"need at least {MIN_CLASS_ROWS} of each" in refused(export(tmp_path, edit))


def test_just_enough_of_each_class_is_accepted(tmp_path: Path) -> None:
    def edit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        churners = [r for r in rows if r["Churn"] == "Yes"][:MIN_CLASS_ROWS]
        return churners + [r for r in rows if r["Churn"] == "No"][:MIN_CLASS_ROWS]

    assert read_export(export(tmp_path, edit))["churn"].sum() == MIN_CLASS_ROWS


CELL = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-0", "1e400", "0x10", "1_000", "Yes", "No", "yes ", "None"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-(10**30), 10**30).map(str),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(NEEDED), value=CELL, row=st.integers(0, 399))
def test_any_value_anywhere_is_read_or_refused_never_an_error(tmp_path: Path, field: str, value: str, row: int) -> None:
    path = tmp_path / "export.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows([{**r, COLUMN[field]: value} if i == row else r for i, r in enumerate(ROWS[:400])])
    try:
        df = read_export(path)
    except TrainingDataError as e:
        assert str(path) in str(e)
        return
    for name in features.NUMERICAL:  # what was accepted is what the model can take
        assert df[name].dtype.kind in "if" and np.isfinite(df[name]).all() and (df[name] >= 0).all()
    for name in set(features.CATEGORICAL) - set(features.FLAG_FIELDS):
        assert df[name].map(lambda v: isinstance(v, str)).all()
    assert set(df["seniorcitizen"]) <= {0, 1} and set(df["churn"]) <= {0, 1}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_any_bytes_are_refused_with_a_message(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, data)
    assert str(path) in refused(path)


def test_train_refuses_bad_data_with_a_message_and_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (tmp_path / "missing.csv", export(tmp_path, set_value("tenure", "x"))):
        assert train_cli.main(["--data", str(path), "--output", str(tmp_path / "m.bin")]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith("error: ") and "Traceback" not in captured.err and captured.out == ""
    assert not (tmp_path / "m.bin").exists()
