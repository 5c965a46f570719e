"""campaign.py --offline on CSV files takes churn.campaign.offline.engine's engine: the same bytes, state and summary as
the chunked path, a hand-over to the Python reader mid-file, and crash + resume across the two paths."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import campaign
from churn.campaign import run as campaign_run
from churn.campaign.offline import engine as offline
from churn.campaign.output import OutputText
from churn.campaign.progress import Progress
from churn.campaign.rows import file_sha256
from churn.campaign.run import RunOptions, RunState, run, state_path
from churn.campaign.scorers import OfflineScorer, offline_scorer
from churn.campaign.summary import Summary, read_back
from tests.campaign.test_offline import telco_with_bad_rows
from tests.conftest import DATA_PATH, MODEL_PATH


def chunked(scorer: OfflineScorer) -> Any:
    """The same scorer as a plain function: the campaign then takes its chunked path."""

    def score(rows: Sequence[Any]) -> dict[str, Any]:
        return scorer(rows)

    return score


def both_paths(
    source: Path, tmp_path: Path, explain: int, threshold: float | None, top: int = 0
) -> tuple[RunState, RunState]:
    """The runs of the engine and of the chunked path (their outputs: fast.csv, slow.csv)."""
    scorer = offline_scorer(MODEL_PATH, explain, threshold)
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    options = RunOptions(source, fast, explain=explain, threshold=threshold, top=top)
    return (
        run(options, scorer, Progress(every=60)),
        run(replace(options, output=slow, chunk_size=97), chunked(scorer), Progress(every=60)),
    )


def read_back_summary(path: Path, top: int) -> Summary:
    summary = Summary(keep=top)
    read_back(path, summary)
    return summary


@pytest.mark.parametrize(("explain", "threshold"), [(0, None), (3, 0.3)])
def test_the_fast_path_writes_the_chunked_paths_bytes_state_and_summary(
    tmp_path: Path, explain: int, threshold: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offline, "CHUNK_BYTES", 8192)  # many blocks, two in flight
    source = tmp_path / "in.csv"
    telco_with_bad_rows(source)
    fast, slow = both_paths(source, tmp_path, explain, threshold, top=7)
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()
    states = [json.loads(state_path(tmp_path / p).read_text()) for p in ("fast.csv", "slow.csv")]
    assert states[0] == states[1] and states[0]["complete"] and states[0]["rows_done"] == 300
    assert fast.summary == slow.summary == read_back_summary(tmp_path / "fast.csv", 7)
    assert fast.summary.rejected >= 8 and len(fast.summary.top) == 7


def test_a_file_the_engine_cannot_read_exactly_is_finished_by_the_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offline, "CHUNK_BYTES", 4096)
    with DATA_PATH.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = [r for _, r in zip(range(400), reader, strict=False)]
    rows[250]["PaymentMethod"] = 'Electronic "check"'  # csv.DictWriter quotes it: Arrow is not asked to read on
    rows[300]["customerID"] = "two\nlines"
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    scorer = offline_scorer(MODEL_PATH, 2, None)
    handed = scorer.fast_run(source)
    assert sum(len(text) for text in handed.blocks()) == handed.rows_done > 0
    assert not handed.finished and "Python reader" in handed.stopped
    fast, slow = both_paths(source, tmp_path, 2, None, top=3)
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()
    assert fast.summary == slow.summary == read_back_summary(tmp_path / "fast.csv", 3)
    assert fast.summary.rows == 400


def test_a_crash_in_the_fast_path_resumes_to_the_uninterrupted_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offline, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(campaign_run, "CHECKPOINT_SECONDS", 0.0)
    source = tmp_path / "in.csv"
    telco_with_bad_rows(source)
    scorer = offline_scorer(MODEL_PATH, 1, None)
    whole = RunOptions(source, tmp_path / "whole.csv", explain=1)
    run(whole, scorer, Progress(every=60))
    blocks = offline.FastRun.blocks

    def crashing(self: offline.FastRun) -> Iterator[OutputText]:
        for i, block in enumerate(blocks(self)):
            if i == 3:
                raise KeyboardInterrupt
            yield block

    monkeypatch.setattr(offline.FastRun, "blocks", crashing)
    broken = RunOptions(source, tmp_path / "broken.csv", explain=1)
    with pytest.raises(KeyboardInterrupt):
        run(broken, scorer, Progress(every=60))
    state = json.loads(state_path(broken.output).read_text())
    assert 0 < state["rows_done"] < 300 and not state["complete"]
    with broken.output.open("a") as f:
        f.write("half-written,row")  # what a crash between the write and the checkpoint leaves
    run(RunOptions(source, broken.output, chunk_size=50, explain=1, resume=True), scorer, Progress(every=60))
    assert broken.output.read_bytes() == whole.output.read_bytes()


@pytest.mark.parametrize("top", [[], ["--top", "5"]])
def test_the_command_prints_the_same_summary_on_both_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], top: list[str]
) -> None:
    """Without --top the engine's own counts are printed; the chunked path reads its output back."""
    source = tmp_path / "in.csv"
    telco_with_bad_rows(source)
    jsonl = tmp_path / "in.jsonl"  # the same rows as JSON Lines: always the chunked path
    with source.open(newline="") as f:
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in csv.DictReader(f)))
    outputs = []
    for name in (source, jsonl):
        out = tmp_path / f"{name.suffix[1:]}.out.csv"
        assert campaign.main(["score", str(name), "--offline", "-o", str(out), "--explain", "2", *top]) == 1
        outputs.append((out.read_bytes(), capsys.readouterr().out))
    assert outputs[0] == outputs[1]
    assert "rows 300" in outputs[0][1]


def test_the_state_records_the_inputs_digest_computed_in_the_background(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    telco_with_bad_rows(source)
    out = tmp_path / "out.csv"
    state = run(RunOptions(source, out), offline_scorer(MODEL_PATH, 0, None), Progress(every=60))
    assert state.complete and state.digest is None
    assert json.loads(state_path(out).read_text())["input_sha256"] == file_sha256(source)


def test_a_state_saved_before_the_digest_was_known_resumes_by_starting_over(tmp_path: Path) -> None:
    """The header's state is saved without waiting for the digest; it claims no rows, so nothing is lost."""
    source = tmp_path / "in.csv"
    telco_with_bad_rows(source)
    scorer = offline_scorer(MODEL_PATH, 0, None)
    whole = tmp_path / "whole.csv"
    run(RunOptions(source, whole), scorer, Progress(every=60))
    out = tmp_path / "out.csv"
    out.write_text("customerid,churn_probability,churn,percentile,reasons,error\nleft,over,row\n")
    state_path(out).write_text(json.dumps({"input_sha256": "", "options": {"explain": 0, "threshold": None}}))
    state = run(RunOptions(source, out, resume=True), scorer, Progress(every=60))
    assert state.complete and out.read_bytes() == whole.read_bytes()


def test_the_progress_bar_of_the_fast_path_shows_the_share_of_the_file_read(tmp_path: Path) -> None:
    """The engine does not count the rows first (a pass over the file): its share is the bytes read."""
    source = tmp_path / "in.csv"
    telco_with_bad_rows(source)
    stream = io.StringIO()
    run(RunOptions(source, tmp_path / "out.csv"), offline_scorer(MODEL_PATH, 0, None), Progress(stream, every=0))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[" + " " * 30 + "] 0 rows   0%")
    assert lines[-1].startswith("[" + "#" * 30 + "] 300 rows 100%")
