"""A training export is read the book's way or refused with a clear message: every class of bad export.

The exports are derived from the bundled data (a column dropped, a value changed, labels rewritten),
written to a temporary folder; any problem is a TrainingDataError naming what is wrong and where,
never another exception (train.py turns it into `error: ...` and exit status 2).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import train as train_cli
from churn.core import features, grammar
from churn.core.contract import quote
from churn.core.model import LoadedModel
from churn.core.training_data import MIN_CLASS_ROWS, NEEDED, read_export
from churn.errors import TrainingDataError
from churn.files import printable
from tests.conftest import DATA_PATH, PROJECT
from tests.support.special_files import (
    DEVICES,
    FILE_NAMES,
    KINDS,
    assert_names_escaped,
    assert_whole_lines,
    deadline,
)

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


def fifo(folder: Path) -> Path:
    path = folder / "export.csv"
    os.mkfifo(path)  # nobody writes into it: reading it would wait for ever
    return path


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
        pytest.param(fifo, id="a named pipe"),
        pytest.param(lambda d: Path("/dev/zero"), id="a device that never ends"),
        pytest.param(lambda d: Path("/dev/null"), id="a device that is empty"),
    ],
)
def test_a_file_that_is_not_a_readable_export_is_refused(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    assert str(path) in refused(path)


DUPLICATES: dict[str, Edit] = {
    "a row twice": lambda rows: [*rows, rows[10]],
    "an id reused by another customer": lambda rows: [*rows[:-1], {**rows[-1], "customerID": rows[3]["customerID"]}],
    "an id in another case": lambda rows: [*rows, {**rows[5], "customerID": rows[5]["customerID"].lower()}],
    "an id padded": lambda rows: [*rows, {**rows[7], "customerID": f" {rows[7]['customerID']} "}],
    "every row twice": lambda rows: rows + rows,
}


@pytest.mark.parametrize("edit", DUPLICATES.values(), ids=DUPLICATES.keys())
def test_a_customer_on_two_rows_is_refused_with_both_lines(tmp_path: Path, edit: Edit) -> None:
    """Held out and trained on at once, a repeated customer would overstate every figure of the evaluation."""
    rows = edit([dict(r) for r in ROWS])
    seen: dict[str, int] = {}
    first = next(
        (seen[k], line)
        for line, k in enumerate((r["customerID"].strip().casefold() for r in rows), 2)
        if k in seen or seen.setdefault(k, line) != line
    )
    message = refused(export(tmp_path, lambda _: rows))
    assert "repeat a customer's id" in message and f"on lines {first[0]} and {first[1]}" in message


def test_rows_alike_but_for_their_ids_are_distinct_customers(tmp_path: Path) -> None:
    twin = {**ROWS[0], "customerID": "twin-of-the-first"}
    assert len(read_export(export(tmp_path, lambda rows: [*rows, twin]))) == len(ROWS) + 1


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


SPELLINGS: list[Callable[[str], str]] = [lambda c: c, str.upper, str.lower, lambda c: f" {c} ", lambda c: c.swapcase()]


@pytest.mark.parametrize("respell", SPELLINGS, ids=["the same name", "upper", "lower", "padded", "swapped case"])
@pytest.mark.parametrize("field", NEEDED)
def test_a_needed_column_given_twice_is_refused_in_any_spelling(
    tmp_path: Path, field: str, respell: Callable[[str], str]
) -> None:
    """pandas would read a second "Contract" as "Contract.1"; the service would read any of these spellings
    as the same key, so training refuses to choose between the two columns."""
    second = respell(COLUMN[field])
    path = tmp_path / "export.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*HEADER, second])
        writer.writerows([*r.values(), r[COLUMN[field]]] for r in ROWS)
    message = refused(path)
    assert f"more than one column is named {field} ({COLUMN[field]!r}, {second!r})" in message


def test_train_refuses_a_column_given_twice_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dup.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([*r.values(), r["Contract"]] for r in [{c: c for c in HEADER}, *ROWS])
    assert train_cli.main(["--data", str(path), "--output", str(tmp_path / "m.bin")]) == 2
    assert "more than one column is named contract" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.csv"]


def test_column_names_are_matched_as_the_service_matches_keys(tmp_path: Path) -> None:
    header = [f" {c.upper()}\t" for c in HEADER]
    rows = [dict(zip(header, r.values(), strict=True)) for r in ROWS]
    pd.testing.assert_frame_equal(read_export(export(tmp_path, lambda _: rows, header)), read_export(DATA_PATH))


NOT_PLAIN = "must be a plain decimal number in every row, as the API reads one"
NOT_DOMAIN = "must be a finite number >= 0"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        *((f, v, f"{f} {NOT_PLAIN}") for f in features.NUMERICAL for v in
          ("abc", "12,5", "n/a ", "1e3", "4_1", "\u0664\u0661", "0x10", "nan", "inf", "-inf", "41\u00a0", "\u00a0")),
        *((f, v, f"{f} {NOT_DOMAIN}") for f in features.NUMERICAL for v in ("-1", "-0.5", "1" * 400)),
        ("tenure", "", "tenure is blank"),
        ("monthlycharges", " \t", "monthlycharges is blank"),
        ("seniorcitizen", "2", "seniorcitizen must be 0 or 1"),
        ("seniorcitizen", "yes", "seniorcitizen must be 0 or 1"),
        ("seniorcitizen", "1e0", "seniorcitizen must be 0 or 1"),
        ("seniorcitizen", "-1", "seniorcitizen must be 0 or 1"),
        ("seniorcitizen", "", "seniorcitizen is blank"),
        *((f, v, f"{f} is blank") for f in ("gender", "contract", "paymentmethod") for v in ("", " ", "\u00a0")),
        ("churn", "maybe", "churn must be yes or no"),
        ("churn", "", "churn is blank"),
    ],
)  # fmt: skip
def test_a_value_that_cannot_be_trained_on_is_refused_with_its_line(
    tmp_path: Path, field: str, value: str, expected: str
) -> None:
    message = refused(export(tmp_path, set_value(field, value, rows=(4, 9))))
    assert expected in message and "2 rows" in message and "on line 6" in message and "on line 11" in message
    assert (quote(value) if value else "a blank") in message  # the cell as the file holds it, never a numpy repr


def test_every_bad_column_is_named_at_once(tmp_path: Path) -> None:
    def edit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return set_value("churn", "?")(set_value("tenure", "x")(rows))

    message = refused(export(tmp_path, edit))
    assert f"tenure {NOT_PLAIN}" in message and "churn must be yes or no" in message


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


def frame_with(tmp_path: Path, field: str, text: str) -> pd.DataFrame | TrainingDataError:
    """The first 400 bundled rows with one cell of field set to text, read (or refused)."""
    path = tmp_path / "export.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows([{**r, COLUMN[field]: text} if i == 7 else r for i, r in enumerate(ROWS[:400])])
    try:
        return read_export(path)
    except TrainingDataError as e:
        return e


NUMBER_TEXT = st.one_of(
    st.sampled_from(
        ["", " ", "\t41 ", "+41", "41.", ".5", "-0", "1e3", "4_1", "0x10", "inf", "nan", "\u00a0", "41\u00a0"]
    ),
    st.from_regex(grammar.NUMERAL, fullmatch=True).map(lambda t: t[:30]),
    st.floats(0, 1e6).map(repr),
    st.text(alphabet=st.sampled_from("0123456789.+-eE_x \t\u0664"), max_size=8),
).filter(lambda t: not set(t) & set('",\r\n'))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(features.NUMERICAL), text=NUMBER_TEXT)
def test_numbers_are_read_by_the_apis_grammar(model: LoadedModel, tmp_path: Path, field: str, text: str) -> None:
    """Whatever /predict reads as a number, training reads as the same number; anything else it refuses
    (a plain decimal outside the accepted range is the retrain's to judge against the champion)."""
    read = frame_with(tmp_path, field, text)
    api, error = model.contract().fields[field].check(text)
    if error is None:
        assert not isinstance(read, TrainingDataError) and read[field].iloc[7] == api
    elif isinstance(read, pd.DataFrame):
        assert error.code == "out_of_range" and read[field].iloc[7] == float(text)
    else:
        assert f"{field} " in str(read) and "on line 9" in str(read)


CATEGORY_TEXT = st.one_of(
    st.sampled_from(["", " ", "\u00a0", "\u3000\t", "Month-to-month", " ONE YEAR ", "two year\u00a0", "Weekly"]),
    st.text(max_size=6),
).filter(lambda t: not set(t) & set('",\r\n'))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=CATEGORY_TEXT)
def test_categories_are_spelled_as_the_service_spells_them(model: LoadedModel, tmp_path: Path, text: str) -> None:
    """A category cell is read as /predict reads it: normalized the same way, a blank refused as missing."""
    read = frame_with(tmp_path, "contract", text)
    api, error = model.contract().fields["contract"].check(text)
    if grammar.is_blank_spelling(text):
        assert error is not None and error.code == "missing_field"
        assert isinstance(read, TrainingDataError) and "contract is blank" in str(read)
    elif isinstance(read, pd.DataFrame):
        assert (
            read["contract"].iloc[7] == features.normalize(text) == (api if error is None else features.normalize(text))
        )
    else:  # a numeral only in a category column reads as a label-encoded export, refused
        assert grammar.is_numeral(text) or not features.normalize(text)


@pytest.mark.parametrize(
    ("output", "expected"),
    [("missing/m.bin", "does not exist"), (".", "is a directory"), ("file/m.bin", "does not exist")],
)
def test_train_refuses_an_output_it_cannot_write_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str, expected: str
) -> None:
    (tmp_path / "file").write_text("")
    assert train_cli.main(["--output", str(tmp_path / output)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: --output") and expected in captured.err and captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_train_refuses_a_range_tolerance_the_service_would_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHURN_RANGE_TOLERANCE", "lots")
    assert train_cli.main(["--output", str(tmp_path / "m.bin")]) == 2
    assert "CHURN_RANGE_TOLERANCE" in capsys.readouterr().err and not (tmp_path / "m.bin").exists()


def layout(rows: list[list[str]], blank_after: set[int], newline: str, bom: bool) -> tuple[bytes, list[int]]:
    """CSV bytes of rows (the header first) with blank lines after the given rows, and each row's first line."""
    out, starts, line = io.StringIO(), [], 1
    writer = csv.writer(out, lineterminator=newline)
    for i, row in enumerate(rows):
        starts.append(line)
        before = out.tell()
        writer.writerow(row)
        line += out.getvalue()[before:].count("\n")  # a quoted cell may hold line ends
        if i in blank_after:
            out.write(newline)
            line += 1
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode(), starts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bad_row=st.integers(1, 120),
    blank_after=st.sets(st.integers(0, 120), max_size=6),
    multiline_ids=st.sets(st.integers(1, 120), max_size=6),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_a_refused_value_is_quoted_with_its_line_in_the_file(
    tmp_path: Path, bad_row: int, blank_after: set[int], multiline_ids: set[int], newline: str, bom: bool
) -> None:
    """The line quoted is the file's own, whatever blank lines or multi-line cells come before it."""
    rows = [HEADER] + [[r[c] for c in HEADER] for r in ROWS[:120]]
    for i in multiline_ids:
        rows[i][HEADER.index(COLUMN["customerid"])] += "\nsecond line"
    rows[bad_row][HEADER.index(COLUMN["tenure"])] = "x"
    data, starts = layout(rows, blank_after, newline, bom)
    assert f"{quote('x')} on line {starts[bad_row]}" in refused(write(tmp_path, data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changed=st.dictionaries(st.integers(1, 120), st.integers(-3, 3).filter(bool), min_size=1, max_size=5),
    blank_after=st.sets(st.integers(0, 120), max_size=6),
)
def test_a_row_with_more_or_fewer_cells_than_the_header_is_refused_with_its_line(
    tmp_path: Path, changed: dict[int, int], blank_after: set[int]
) -> None:
    """A short row is not read as blanks, nor a long one cut: either would train on misplaced values."""
    rows = [HEADER] + [[r[c] for c in HEADER] for r in ROWS[:120]]
    for i, more in changed.items():
        rows[i] = rows[i] + ["extra"] * more if more > 0 else rows[i][:more]
    data, starts = layout(rows, blank_after, "\n", False)
    first = min(changed)  # the first such row is named
    expected = f"line {starts[first]} of the CSV has {len(rows[first])} cells: the header names {len(HEADER)} columns"
    assert expected in refused(write(tmp_path, data))


@pytest.mark.parametrize("suffix", [".bin", ".json", ".html"])
@pytest.mark.parametrize("link", ["same", "symlink", "hard link"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_train_never_writes_over_the_export_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, link: str, force: list[str]
) -> None:
    """The model, its metadata and its card go beside --output: none of them may be the --data file,
    however it is named, even when the retrain would change nothing or is forced."""
    export = tmp_path / f"export{suffix}"
    export.write_bytes(DATA_PATH.read_bytes())
    data = {"same": export, "symlink": tmp_path / "alias.csv", "hard link": tmp_path / "hard.csv"}[link]
    if link == "symlink":
        data.symlink_to(export.name)
    elif link == "hard link":
        os.link(export, data)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if not p.is_symlink()}
    assert train_cli.main(["--data", str(data), "--output", str(tmp_path / "export.bin"), *force]) == 2
    captured = capsys.readouterr()
    assert "is the same file as --data" in captured.err and "Traceback" not in captured.err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if not p.is_symlink()} == before


HIDE = """
import importlib.abc, os, runpy, sys
HIDDEN = sys.argv[1]
class Hidden(importlib.abc.MetaPathFinder):  # as on a machine where only the service's packages are installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hidden())
sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))  # as `python train.py` puts the project first
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("package", ["pandas", "sklearn", "matplotlib"])
def test_train_without_the_training_packages_says_how_to_get_them(tmp_path: Path, package: str) -> None:
    """Right after the quick start (the service's packages only), train.py is a message and status 2."""
    script = str(PROJECT / "train.py")
    argv = [sys.executable, "-c", HIDE, package, script, "--output", str(tmp_path / "m.bin")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: train.py needs {package}") and "make train" in done.stderr
    assert not any(tmp_path.iterdir())


# The model, its metadata and its card are regular files or not there yet: anything else is refused
# before the export is read (churn.files.check_written), naming the file, and never blocks.
MODEL_WRITTEN = {"--output": "m.bin", "--output's metadata": "m.json", "--output's card": "m.html"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("written", MODEL_WRITTEN)
def test_train_refuses_a_written_file_that_is_not_a_regular_file_before_reading_the_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], written: str, kind: str
) -> None:
    make, what = KINDS[kind]
    make(tmp_path / MODEL_WRITTEN[written])
    before = sorted(p.name for p in tmp_path.iterdir())
    with deadline(5):
        assert train_cli.main(["--output", str(tmp_path / "m.bin")]) == 2
    captured = capsys.readouterr()
    path = tmp_path / MODEL_WRITTEN[written]
    assert captured.err == f"error: {written} {path}: {what}, not a regular file: " + (
        "name a regular file, or a path that does not exist yet\n"
    )
    assert captured.out == "" and sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("device", DEVICES)
def test_train_writes_no_model_to_a_device_dev_null_included(device: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Its metadata and card would go beside it, in /dev, and a model is replaced by a rename over it."""
    with deadline(5):
        assert train_cli.main(["--output", device]) == 2
    assert f"--output {device}: is a character device, not a regular file" in capsys.readouterr().err


def a_pipe(path: Path) -> None:
    os.mkfifo(path)


def a_folder(path: Path) -> None:
    path.mkdir()


def not_utf8(path: Path) -> None:
    path.write_bytes(b"customerid,contr\xe9t\nx,y\n")


def nothing(path: Path) -> None:
    pass


def as_data(folder: Path, path: Path) -> list[str]:
    return ["--data", str(path), "--output", str(folder / "m.bin")]


def as_output(folder: Path, path: Path) -> list[str]:
    return ["--data", str(DATA_PATH), "--output", str(path)]


def one_file_twice(folder: Path, path: Path) -> list[str]:
    return ["--data", str(path), "--output", str(path)]


# Each error path naming a file: what is made at the path, the arguments, the message.
NAMED: dict[str, tuple[Callable[[Path], None], Callable[[Path, Path], list[str]], str]] = {
    "missing data": (nothing, as_data, "training data not found: {}"),
    "a pipe as data": (a_pipe, as_data, "{} is not a regular file"),
    "a directory as data": (a_folder, as_data, "{} is a directory, not a CSV file"),
    "data not UTF-8": (not_utf8, as_data, "{} is not a UTF-8 text file"),
    "a pipe as --output": (a_pipe, as_output, "--output {}: is a named pipe"),
    "one file given twice": (nothing, one_file_twice, "--output {0} is the same file as --data {0}"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=FILE_NAMES, case=st.sampled_from(sorted(NAMED)))
def test_train_names_a_file_escaped_whatever_its_name_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, case: str
) -> None:
    make, arguments, expected = NAMED[case]
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = folder / name
    make(path)
    capsys.readouterr()
    with deadline(10):
        assert train_cli.main(arguments(folder, path)) == 2
    err = capsys.readouterr().err
    assert expected.format(printable(path)) in err
    assert_whole_lines(err, 1)
    assert_names_escaped(err, name)
