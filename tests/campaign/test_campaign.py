"""campaign.py offline (the service's own code path on the local model): formats, errors, resume, summary."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import campaign
from churn.campaign.output import OUTPUT_COLUMNS
from churn.campaign.progress import Progress
from churn.campaign.run import RunOptions, run, state_path
from churn.campaign.scorers import offline_scorer
from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from tests.campaign.test_client import FakeService
from tests.conftest import DATA_PATH, MODEL_PATH, PROJECT, free_port, make_customer


def read_output(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == list(OUTPUT_COLUMNS)
    return rows


def head(path: Path, lines: int, tmp: Path) -> Path:
    out = tmp / f"head-{lines}.csv"
    out.write_text("".join(path.read_text().splitlines(keepends=True)[: lines + 1]))
    return out


def test_the_raw_crm_export_scores_like_the_service(tmp_path: Path, model: LoadedModel) -> None:
    source = head(DATA_PATH, 300, tmp_path)
    out = tmp_path / "out.csv"
    assert campaign.main(["score", str(source), "--offline", "-o", str(out), "--chunk-size", "64"]) == 0
    rows = read_output(out)
    with source.open(newline="") as f:
        records = list(csv.DictReader(f))
    assert [r["customerid"] for r in rows] == [r["customerID"] for r in records]
    expected = ChurnService(model).score_rows(records)["predictions"]
    assert [float(r["churn_probability"]) for r in rows] == [p["churn_probability"] for p in expected]
    assert [r["churn"] == "true" for r in rows] == [p["churn"] for p in expected]
    assert all(r["error"] == "" and r["reasons"] == "" for r in rows)


def test_normalized_csv_and_json_lines_give_the_same_scores(tmp_path: Path) -> None:
    customers = [
        make_customer(customerid=f"n{i}", tenure=i, contract=("one_year", "two_year")[i % 2]) for i in range(9)
    ]
    normalized = tmp_path / "in.csv"
    with normalized.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(customers[0]))
        writer.writeheader()
        writer.writerows(customers)
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(c) + "\n" for c in customers))
    outputs = []
    for source in (normalized, jsonl):
        out = tmp_path / f"{source.suffix}.out.csv"
        assert campaign.main(["score", str(source), "--offline", "-o", str(out), "--explain", "2"]) == 0
        outputs.append(read_output(out))
    assert outputs[0] == outputs[1]
    assert [r["customerid"] for r in outputs[0]] == [f"n{i}" for i in range(9)]
    assert all(len(r["reasons"].split(";")) == 2 for r in outputs[0])


def test_bad_rows_get_their_own_error_and_exit_status_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps(make_customer(customerid="good-1")),
        "{not json",
        json.dumps(make_customer(customerid="bad-contract", contract="monthly")),
        "",  # blank lines are not rows
        json.dumps([1, 2]),
        json.dumps(make_customer(customerid="good-2", tenure=3)),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    assert campaign.main(["score", str(source), "--offline", "-o", str(out), "--chunk-size", "2"]) == 1
    rows = read_output(out)
    assert [r["customerid"] for r in rows] == ["good-1", "", "bad-contract", "", "good-2"]
    errors = [r["error"].split(":")[0] for r in rows]
    assert errors == ["", "invalid_json", "validation_failed", "validation_failed", ""]
    assert "line 2" in rows[1]["error"] and "contract" in rows[2]["error"]
    assert "rows 5  scored 2  rejected 3" in capsys.readouterr().out


class Crash(Exception):
    pass


def crashing_after(chunks: int, scorer: Any) -> Any:
    calls = {"n": 0}
    lock = threading.Lock()

    def score(rows: Sequence[Any]) -> dict[str, Any]:
        with lock:
            calls["n"] += 1
            if calls["n"] > chunks:
                raise Crash
        result: dict[str, Any] = scorer(rows)
        return result

    return score


def test_a_crashed_run_resumes_to_exactly_the_uninterrupted_output(tmp_path: Path) -> None:
    source = head(DATA_PATH, 1000, tmp_path)
    scorer = offline_scorer(MODEL_PATH, 1, None)
    whole = RunOptions(source, tmp_path / "whole.csv", chunk_size=70, concurrency=3, explain=1)
    run(whole, scorer, Progress(every=60))
    broken = RunOptions(source, tmp_path / "broken.csv", chunk_size=70, concurrency=3, explain=1)
    with pytest.raises(Crash):
        run(broken, crashing_after(5, scorer), Progress(every=60))
    state = json.loads(state_path(broken.output).read_text())
    assert 0 < state["rows_done"] < 1000 and not state["complete"]
    with broken.output.open("a") as f:
        f.write("half-written,row")  # what a crash between the write and the state update leaves
    resumed = RunOptions(source, broken.output, chunk_size=130, concurrency=2, explain=1, resume=True)
    run(resumed, scorer, Progress(every=60))
    assert broken.output.read_bytes() == whole.output.read_bytes()
    assert len(read_output(broken.output)) == 1000


def test_resume_refuses_another_input_or_other_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = head(DATA_PATH, 20, tmp_path), head(DATA_PATH, 21, tmp_path)
    out = str(tmp_path / "out.csv")
    assert campaign.main(["score", str(first), "--offline", "-o", out]) == 0
    assert campaign.main(["score", str(second), "--offline", "-o", out, "--resume"]) == 2
    assert "another input" in capsys.readouterr().err
    assert campaign.main(["score", str(first), "--offline", "-o", out, "--resume", "--explain", "1"]) == 2
    assert "options" in capsys.readouterr().err
    assert campaign.main(["score", str(first), "--offline", "-o", out, "--resume"]) == 0  # done: just the summary


def test_resume_refuses_an_output_of_another_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = head(DATA_PATH, 20, tmp_path)
    out = tmp_path / "out.csv"
    assert campaign.main(["score", str(source), "--offline", "-o", str(out)]) == 0
    state = json.loads(state_path(out).read_text())
    state_path(out).write_text(json.dumps({**state, "version": 1, "complete": False}))  # before the warnings column
    assert campaign.main(["score", str(source), "--offline", "-o", str(out), "--resume"]) == 2
    assert "another version" in capsys.readouterr().err


def test_a_repeated_key_in_json_lines_is_refused_like_two_spellings(tmp_path: Path) -> None:
    good = json.dumps(make_customer(customerid="r1"))
    source = tmp_path / "in.jsonl"
    source.write_text(
        good[:-1] + ', "contract": "two_year"}\n'  # given twice, with another value
        + good[:-1] + ', "contract": "One year"}\n'  # given twice, with the same value
    )  # fmt: skip
    out = tmp_path / "out.csv"
    assert campaign.main(["score", str(source), "--offline", "-o", str(out)]) == 1
    rows = read_output(out)
    assert "ambiguous_field: contract" in rows[0]["error"] and rows[1]["error"] == ""


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_offline_run_takes_the_range_tolerance_of_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    customer = make_customer(customerid="far", tenure=100)
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        source.write_text(",".join(customer) + "\n" + ",".join(str(v) for v in customer.values()) + "\n")
    else:
        source.write_text(json.dumps(customer) + "\n")
    out = tmp_path / "out.csv"
    assert campaign.main(["score", str(source), "--offline", "-o", str(out)]) == 0
    assert read_output(out)[0]["warnings"] == "tenure=outside_training_range"
    monkeypatch.setenv("CHURN_RANGE_TOLERANCE", "0.1")
    assert campaign.main(["score", str(source), "--offline", "-o", str(out)]) == 1
    assert "out_of_range: tenure" in read_output(out)[0]["error"]
    monkeypatch.setenv("CHURN_RANGE_TOLERANCE", "lots")
    assert campaign.main(["score", str(source), "--offline", "-o", str(out)]) == 2
    assert "CHURN_RANGE_TOLERANCE" in capsys.readouterr().err


def test_top_n_and_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = head(DATA_PATH, 200, tmp_path)
    out, top = tmp_path / "out.csv", tmp_path / "top.csv"
    argv = ["score", str(source), "--offline", "-o", str(out), "--top", "5", "--top-output", str(top)]
    assert campaign.main([*argv, "--threshold", "0.7"]) == 0
    rows = read_output(out)
    best = sorted(rows, key=lambda r: -float(r["churn_probability"]))[:5]
    assert read_output(top) == best
    assert [r["churn"] == "true" for r in rows] == [float(r["churn_probability"]) >= 0.7 for r in rows]
    churners = sum(r["churn"] == "true" for r in rows)
    assert f"churners {churners}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "in.csv", "-o", "out.csv"],  # neither --url nor --offline
        ["score", "in.csv", "-o", "out.csv", "--offline", "--url", "http://x"],
        ["score", "in.csv", "-o", "out.csv", "--offline", "--async"],
        ["score", "in.csv", "-o", "out.csv", "--offline", "--chunk-size", "0"],
        ["score", "in.csv", "-o", "out.csv", "--offline", "--explain", "20"],
    ],
)
def test_bad_usage_exits_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        campaign.main(argv)
    assert caught.value.code == 2


def test_an_unreadable_input_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    assert campaign.main(["score", str(missing), "--offline", "-o", str(tmp_path / "o.csv")]) == 2
    headerless = tmp_path / "empty.csv"
    headerless.write_text("")
    assert campaign.main(["score", str(headerless), "--offline", "-o", str(tmp_path / "o.csv")]) == 2


def test_an_unreachable_service_exits_3_and_resume_then_completes(tmp_path: Path) -> None:
    source, out = head(DATA_PATH, 30, tmp_path), tmp_path / "out.csv"
    url = f"http://127.0.0.1:{free_port()}"
    assert campaign.main(["score", str(source), "--url", url, "-o", str(out), "--retries", "2"]) == 3
    assert json.loads(state_path(out).read_text())["rows_done"] == 0
    assert campaign.main(["score", str(source), "--offline", "-o", str(out), "--resume"]) == 0
    assert len(read_output(out)) == 30


def test_a_refusing_service_exits_4_and_the_api_key_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeService([(401, {}, {"error": {"code": "unauthorized", "message": "bad key", "details": None}})])
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("CHURN_API_KEY", "k-123")
        argv = ["score", str(head(DATA_PATH, 5, tmp_path)), "--url", fake.url, "-o", str(tmp_path / "o.csv")]
        assert campaign.main(argv) == 4
    finally:
        fake.shutdown()
        fake.server_close()
    assert [r["auth"] for r in fake.requests] == ["Bearer k-123"]
    assert "unauthorized" in capsys.readouterr().err


def test_an_offline_run_imports_neither_the_http_client_nor_pandas(tmp_path: Path) -> None:
    """requests and urllib3 (~60 ms of start-up) are not needed offline; pyarrow would import pandas
    (~0.2 s, installed in the test environment) only to ask whether a value is a pandas object."""
    source = head(DATA_PATH, 30, tmp_path)
    code = (
        "import sys, campaign\n"
        f"status = campaign.main(['score', {str(source)!r}, '--offline', '-o', {str(tmp_path / 'o.csv')!r}])\n"
        "print(status, *(name in sys.modules for name in ('requests', 'urllib3', 'pandas')))\n"
        "import pyarrow, pandas\n"
        "print(pyarrow.table({'a': [1]}).to_pandas().shape)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-2:] == ["0 False False False", "(1, 1)"]  # and pandas still works later


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_an_offline_run_tunes_glibc_malloc_in_its_own_process_only() -> None:
    code = "from churn.campaign.offline.process import keep_freed_memory; print(keep_freed_memory())"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"  # mallopt accepted both settings


def test_an_unusable_model_file_is_a_clear_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text("customerid,tenure\nx,1\n")
    bad = tmp_path / "churn-model.bin"
    bad.write_bytes(b"not a model")
    args = ["score", str(source), "--offline", "--model", str(bad), "-o", str(tmp_path / "out.csv")]
    assert campaign.main(args) == 2
    assert "cannot read model metadata" in capsys.readouterr().err
