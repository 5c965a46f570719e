"""Offline CSV scoring gives, row for row, what ChurnService.score_rows gives for the same rows, and
writes byte for byte what the output format promises for them (tests/support/output_spec.py)."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.campaign.offline import engine as offline
from churn.campaign.offline.engine import score_csv
from churn.campaign.output import OUTPUT_COLUMNS
from churn.campaign.rows import read_rows
from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from tests.conftest import DATA_PATH
from tests.support.output_spec import expected_csv, neutralized


def telco_with_bad_rows(path: Path) -> None:
    """The Telco export's first 300 rows, some of them broken in the ways CRM exports break."""
    with DATA_PATH.open(newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = [row for _, row in zip(range(300), reader, strict=False)]
    breaks: list[dict[str, str]] = [
        {"Contract": "monthly"},
        {"gender": ""},
        {"tenure": "-1"},
        {"MonthlyCharges": "abc"},
        {"MonthlyCharges": "inf"},
        {"SeniorCitizen": "2"},
        {"SeniorCitizen": " 1 "},
        {"TotalCharges": " "},
        {"TotalCharges": "1_000"},
        {"customerID": "x" * 201},
        {"PaymentMethod": " Electronic CHECK "},
        {"InternetService": "Fiber optic", "OnlineSecurity": "maybe", "tenure": ""},
    ]
    for i, change in enumerate(breaks):
        rows[7 + 20 * i].update(change)
    unusual: list[dict[str, str]] = [  # valid, but not as the export spells it, or not ASCII
        {"customerID": "é" * 200},  # 200 characters (400 bytes): the longest id kept
        {"Partner": "Yes ", "Contract": "ONE YEAR"},
        {"gender": "Fémale"},
        {"customerID": "ü" * 201},
        {"PaymentMethod": "mailed_check", "InternetService": "fiber optic"},
        {"tenure": "80", "MonthlyCharges": "12.5"},  # scored, with two warnings
        {"customerID": "=1+2", "TotalCharges": "20000"},  # a formula; out of range
        {"customerID": "@SUM(A1)"},
        {"customerID": "-5", "tenure": "4_1"},
        {"customerID": "+33 6\tx"},
        {"customerID": "\tfoo", "TotalCharges": "1e3"},
    ]
    for i, change in enumerate(unusual):
        rows[17 + 20 * i].update(change)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("explain", [0, 3])
@pytest.mark.parametrize("chunk_bytes", [4096, 1 << 20])
def test_offline_rows_equal_score_rows(model: LoadedModel, tmp_path: Path, explain: int, chunk_bytes: int) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    telco_with_bad_rows(source)
    service = ChurnService(model)
    summary = score_csv(source, target, service, explain=explain, chunk_bytes=chunk_bytes)
    want = service.score_rows(read(source), explain=explain)
    got = read(target)
    assert tuple(got[0]) == OUTPUT_COLUMNS
    assert len(got) == len(want["predictions"]) == summary.rows
    assert (summary.scored, summary.rejected, summary.churners) == tuple(
        want["summary"][k] for k in ("scored", "rejected", "churners")
    )
    assert summary.rejected >= 8  # the broken rows really were broken
    for g, w in zip(got, want["predictions"], strict=True):
        assert_same(g, w)


def assert_same(got: dict[str, str], want: dict[str, Any]) -> None:
    assert got["customerid"] == neutralized(str(want["customerid"] or ""))
    assert got["warnings"] == ";".join(f"{w['field']}={w['code']}" for w in want.get("warnings", []))
    if "error" in want:
        assert got["error"] == f"{want['error']['code']}: {want['error']['message']}"
        assert got["churn_probability"] == got["churn"] == got["percentile"] == got["reasons"] == ""
        return
    assert got["error"] == ""
    assert float(got["churn_probability"]) == want["churn_probability"]  # exactly, not approximately
    assert got["churn"] == ("true" if want["churn"] else "false")
    assert got["percentile"] == f"{want['percentile']:.4f}"
    assert got["reasons"] == ";".join(r["code"] for r in want.get("reasons", []))


def test_formulas_are_neutralized_and_warnings_written(model: LoadedModel, tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    telco_with_bad_rows(source)
    score_csv(source, target, ChurnService(model), chunk_bytes=4096)
    got = read(target)
    assert [g["customerid"] for g in got[17 + 20 * 5 : 17 + 20 * 11 : 20]] == [
        got[117]["customerid"], "'=1+2", "'@SUM(A1)", "'-5", "'+33 6\tx", "'\tfoo"
    ]  # fmt: skip
    assert got[117]["warnings"] == "tenure=outside_training_range;monthlycharges=outside_training_range"
    assert "out_of_range: totalcharges" in got[137]["error"] and got[137]["warnings"] == ""
    assert "invalid_number: tenure" in got[177]["error"] and "invalid_number: totalcharges" in got[217]["error"]
    assert sum(bool(g["warnings"]) for g in got) >= 1


def chunked_bytes(source: Path, service: ChurnService, explain: int) -> bytes:
    """What the format promises for ChurnService.score_rows' answer on the file's rows (the chunked path's)."""
    return expected_csv(service.score_rows(list(read_rows(source)), explain=explain)["predictions"])


@pytest.mark.parametrize("explain", [0, 2, 19])
def test_offline_output_bytes_equal_the_chunked_path(model: LoadedModel, tmp_path: Path, explain: int) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    telco_with_bad_rows(source)
    service = ChurnService(model)
    score_csv(source, target, service, explain=explain, chunk_bytes=8192)
    assert target.read_bytes() == chunked_bytes(source, service, explain)


def test_ids_and_errors_that_need_quotes_are_quoted_as_csv_writer_does(model: LoadedModel, tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    with DATA_PATH.open(newline="") as f:
        rows = [r for _, r in zip(range(40), csv.DictReader(f), strict=False)]
    rows[3]["customerID"] = "a;b\tc"
    rows[5]["Contract"] = "month;to;month"  # an error message quoting the value
    rows[6]["customerID"] = "x\ry"  # a bare carriage return: the Python reader takes over from there
    rows[9]["customerID"] = 'say "hi", bye'  # csv.DictWriter quotes it: the Python reader again
    with source.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows[:6])
    service = ChurnService(model)
    score_csv(source, target, service)
    assert target.read_bytes() == chunked_bytes(source, service, 0)
    with source.open("a", newline="") as f:
        csv.DictWriter(f, list(rows[0]), lineterminator="\n").writerows(rows[6:])
    with pytest.raises(ValueError, match="Python reader"):
        score_csv(source, target, service)


def test_a_block_that_is_not_utf8_is_left_to_the_python_reader(model: LoadedModel, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    telco_with_bad_rows(source)
    lines = source.read_bytes().splitlines(keepends=True)
    lines[250] = lines[250].replace(b"Male", b"M\xe4le", 1).replace(b"Female", b"Fem\xe4le", 1)
    source.write_bytes(b"".join(lines))
    run = offline.FastRun(source, ChurnService(model), 0, chunk_bytes=4096)
    assert sum(len(text) for text in run.blocks()) == run.rows_done
    assert not run.finished and "not UTF-8" in run.stopped and 200 < run.rows_done < 250


@pytest.mark.parametrize("change", [b",,", b","], ids=["a cell too many", "a cell too few"])
def test_a_ragged_row_is_left_to_the_python_reader(model: LoadedModel, tmp_path: Path, change: bytes) -> None:
    """Arrow reads only the columns it needs, but still counts every row's cells."""
    source = tmp_path / "in.csv"
    telco_with_bad_rows(source)
    lines = source.read_bytes().splitlines(keepends=True)
    lines[250] = lines[250].replace(b",", change, 1) if change == b",," else lines[250].replace(b",", b"", 1)
    source.write_bytes(b"".join(lines))
    run = offline.FastRun(source, ChurnService(model), 0, chunk_bytes=4096)
    assert sum(len(text) for text in run.blocks()) == run.rows_done
    assert not run.finished and "Expected 21 columns" in run.stopped and 200 < run.rows_done < 250


def test_normalized_headers_and_a_missing_column(model: LoadedModel, tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    with DATA_PATH.open(newline="") as f:
        rows = [r for _, r in zip(range(20), csv.DictReader(f), strict=False)]
    with source.open("w", newline="") as f:
        header = [k.lower() for k in rows[0] if k != "Contract"]
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([[v for k, v in r.items() if k != "Contract"] for r in rows])
    service = ChurnService(model)
    score_csv(source, target, service)
    want = service.score_rows(read(source))["predictions"]
    got = read(target)
    assert all("missing_field: contract" in g["error"] for g in got)
    for g, w in zip(got, want, strict=True):
        assert_same(g, w)


def test_a_header_without_any_model_field_is_left_to_the_python_reader(model: LoadedModel, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("note,Churn\na,No\n")
    with pytest.raises(ValueError, match="none of the model's fields"):
        score_csv(source, tmp_path / "out.csv", ChurnService(model))


def test_a_header_naming_a_column_twice_is_refused(model: LoadedModel, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("tenure,Tenure\n1,2\n")
    with pytest.raises(ValueError, match="twice"):
        score_csv(source, tmp_path / "out.csv", ChurnService(model))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    st.booleans(),
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=1, max_value=50),
)
def test_line_ranges_cut_after_line_ends(lines: list[bytes], last_newline: bool, size: int, window: int) -> None:
    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    with tempfile.TemporaryFile() as f:
        f.write(b"header\n" + data)
        f.flush()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(offline, "WINDOW", window)  # lines longer than a window
            ranges = list(offline.line_ranges(f.fileno(), 7, 7 + len(data), size))
        parts = [os.pread(f.fileno(), length, offset) for offset, length in ranges]
    assert b"".join(parts) == data
    assert all(part.endswith(b"\n") for part in parts[:-1]) and all(parts)
    assert all(b"\n" not in part[size - 1 : -1] for part in parts)  # cut at the first line end past `size`


@pytest.mark.parametrize("length", [131_071, 131_073, 1 << 20])  # around csv's default cell limit, and past it
@pytest.mark.parametrize("column", ["customerID", "Contract", "tenure"])
@pytest.mark.parametrize("quoted", [False, True])
def test_a_long_cell_is_its_rows_error_on_both_readers(
    model: LoadedModel, tmp_path: Path, length: int, column: str, quoted: bool
) -> None:
    """Arrow's reader (the engine) and Python's (the chunked path, --url, jobs) read a cell of any length,
    and the contract refuses that row alone; neither stops the file there."""
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    with DATA_PATH.open(newline="") as f:
        rows = [r for _, r in zip(range(30), csv.DictReader(f), strict=False)]
    rows[7][column] = ("a,b" if quoted else "ab") * (length // 2)  # a comma: csv.DictWriter quotes the cell
    with source.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    service = ChurnService(model)
    want = chunked_bytes(source, service, 0)
    try:
        score_csv(source, target, service)
    except ValueError:  # a quote: the engine leaves the file to the Python reader, as campaign.py does
        assert quoted
    else:
        assert target.read_bytes() == want
    lines = want.decode().split("\n")
    assert len(lines) == 32 and "validation_failed" in lines[8] and "validation_failed" not in "".join(lines[9:])
