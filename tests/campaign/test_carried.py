"""What the offline engine carries to a plan (churn.campaign.carried) is what the plan would read back:
the output's probabilities and the input's monthly charges (churn.campaign.facts), row for row, and a
plan applied from it writes the bytes of a plan applied from the files, whether the run held its rows
unwritten (it ended before its first checkpoint) or wrote them; a run stopped anywhere resumes to them."""

from __future__ import annotations

import csv
import functools
import json
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaign
from churn.campaign import run as campaign_run
from churn.campaign.facts import number, python_facts, read_facts
from churn.campaign.offline import engine as offline
from churn.campaign.outcome import OutputMismatch, conclude, read_scores
from churn.campaign.output import HEADER
from churn.campaign.plan import PlanOptions
from churn.campaign.progress import Progress
from churn.campaign.run import RunOptions, run, state_path
from churn.campaign.scorers import OfflineScorer, offline_scorer
from churn.campaign.state import RunState
from tests.campaign.test_offline import telco_with_bad_rows
from tests.conftest import DATA_PATH, MODEL_PATH

PLAN = ("--contact-cost", "10", "--retention-rate", "0.3", "--horizon-months", "12")
# Monthly charges as exports hold them: blank, not a number, out of range or not finite, huge,
# padded, in exponent form, at the accepted range's edges, plainly valid.
MONTHLY_CELLS = [
    "", " ", "abc", "inf", "nan", "-5", "-0", "1e2", "1E2", " 70.35 ", "70.350", "0", "0.0", ".5", "5.",
    "1_000", "1" * 20, "9" * 400, "18.25", "118.75", "150", "151", "1e999", "+20", "20;5", "٣٠",
]  # fmt: skip
CRM_SPELLINGS = {
    "Contract": ["Month-to-month", " two year ", "ONE_YEAR", "monthly"],
    "InternetService": ["DSL", "fiber optic", "No ", "none"],
}


def messy(path: Path) -> None:
    """telco_with_bad_rows, with every MONTHLY_CELLS value and CRM spelling in turn."""
    telco_with_bad_rows(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), list(reader)
    for i, row in enumerate(rows):
        if i % 3 == 0:
            row["MonthlyCharges"] = MONTHLY_CELLS[(i // 3) % len(MONTHLY_CELLS)]
        for name, spellings in CRM_SPELLINGS.items():
            if i % 5 == 1:
                row[name] = spellings[(i // 5) % len(spellings)]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)
    assert '"' not in path.read_text()  # a file the engine reads through


@pytest.mark.parametrize("chunk_bytes", [4096, 1 << 20])  # few distinct values per block; many (Arrow's cast)
def test_the_carried_scores_and_charges_are_those_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    monkeypatch.setattr(offline, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(campaign_run, "HOLD_BYTES", 0)  # written as they come: the output to read back
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    messy(source)
    state = run(RunOptions(source, out, carry=True), offline_scorer(MODEL_PATH, 0, None), Progress(every=60))
    assert state.complete and state.carried is not None and state.carried.unwritten is None
    probabilities, monthly = state.carried.scores()
    assert np.array_equal(probabilities, read_scores(out, details=False).probabilities, equal_nan=True)
    facts = read_facts(source, segments=False)
    assert np.array_equal(facts.monthly_charges, python_facts(source).monthly_charges, equal_nan=True)
    scored = ~np.isnan(probabilities)
    assert np.array_equal(monthly[scored], facts.monthly_charges[scored])  # bit for bit
    assert np.isnan(monthly[~scored]).all()  # a rejected row: never contacted, whatever its cell holds
    assert 50 < int((~scored).sum()) < 250 and int(scored.sum()) > 100
    lengths = sum(int(ends[-1]) for ends in state.carried.line_ends)
    assert len(HEADER) + lengths == out.stat().st_size


@pytest.mark.parametrize("shape", ["header only", "blank lines only", "blank lines between blocks"])
def test_a_plan_of_a_file_with_blank_lines_or_no_rows_is_the_plan_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    monkeypatch.setattr(offline, "CHUNK_BYTES", 4096)
    source = tmp_path / "in.csv"
    lines = DATA_PATH.read_text().splitlines(keepends=True)
    body = {
        "header only": [],
        "blank lines only": ["\n"] * 3,
        "blank lines between blocks": [*lines[1:40], *["\n"] * 5000, *lines[40:80]],
    }[shape]
    source.write_text("".join([lines[0], *body]))
    outputs = []
    for extra in ((), ("--report", str(tmp_path / "r.html"))):  # carried; read back
        out = tmp_path / f"out{len(extra)}.csv"
        assert campaign.main(["score", str(source), "--offline", "-o", str(out), *PLAN, "--budget", "5", *extra]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("hold", [True, False])
def test_an_output_changed_since_the_run_is_not_planned_from_what_was_carried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold: bool
) -> None:
    if not hold:
        monkeypatch.setattr(campaign_run, "HOLD_BYTES", 0)
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    messy(source)
    state = run(RunOptions(source, out, carry=True), offline_scorer(MODEL_PATH, 0, None), Progress(every=60))
    assert state.carried is not None and (state.carried.unwritten is not None) == hold
    written = out.read_bytes()
    assert (written == HEADER) == hold  # a run that held its rows has written only the header
    plan = PlanOptions(Decimal("10"), 0.3, 12, 5)
    for changed in (written + b"x,1\n", written.replace(b"customerid", b"customerID", 1)):
        out.write_bytes(changed)
        with pytest.raises(OutputMismatch):
            conclude(source, out, plan, for_report=False, carried=state.carried)
        assert out.read_bytes() == changed


def test_nothing_is_carried_unless_asked_or_when_the_engine_stops_early(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    messy(source)
    scorer = offline_scorer(MODEL_PATH, 0, None)
    assert run(RunOptions(source, tmp_path / "a.csv"), scorer, Progress(every=60)).carried is None
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(source.read_text().replace("\n7590-VHVEG,", '\n"7590-VHVEG",', 1))
    state = run(RunOptions(quoted, tmp_path / "b.csv", carry=True), scorer, Progress(every=60))
    assert state.complete and state.carried is None  # the Python reader wrote rows: the plan reads back


# How a plan run's rows reach the output: held to the end (the run ends before its first checkpoint);
# released after the first block by the checkpoint's clock, or by the size held; never held.
HOLDING = {
    "held": {},
    "released by the clock": {"CHECKPOINT_SECONDS": 0.0},
    "released by size": {"HOLD_BYTES": 20_000},
    "written": {"HOLD_BYTES": 0},
}


@pytest.mark.parametrize("holding", list(HOLDING))
@pytest.mark.parametrize("explain", [0, 2])
def test_a_plan_from_what_was_carried_writes_the_bytes_of_a_plan_read_back(
    tmp_path: Path, explain: int, holding: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same messy file planned from what the engine carried (a plan alone), from the files (with a
    report), and through the chunked path (the same rows as JSON Lines): one output, one summary."""
    monkeypatch.setattr(offline, "CHUNK_BYTES", 16384)  # blocks of ~60 rows: a release comes mid-file
    for name, value in HOLDING[holding].items():
        monkeypatch.setattr(campaign_run, name, value)
    source = tmp_path / "in.csv"
    messy(source)
    jsonl = tmp_path / "in.jsonl"
    with source.open(newline="") as f:
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in csv.DictReader(f)))
    args = (*PLAN, "--budget", "40", "--explain", str(explain))
    runs = {
        "carried": (source, ()),
        "read back": (source, ("--report", str(tmp_path / "r.html"))),
        "chunked": (jsonl, ("--chunk-size", "37")),
    }
    outputs, summaries = {}, {}
    for name, (path, extra) in runs.items():
        out = tmp_path / f"{name}.csv"
        assert campaign.main(["score", str(path), "--offline", "-o", str(out), *args, *extra]) == 1  # rows rejected
        summaries[name] = capsys.readouterr().out.strip()
        outputs[name] = out.read_bytes()
    assert outputs["carried"] == outputs["read back"] == outputs["chunked"]
    assert summaries["carried"] == summaries["read back"].removesuffix(f"\nreport: {tmp_path / 'r.html'}")
    assert summaries["carried"] == summaries["chunked"]
    assert "contact 40 of" in summaries["carried"]
    assert json.loads(state_path(tmp_path / "carried.csv").read_text())["complete"]


def held_run(source: Path, out: Path) -> RunState:
    """A plan run's scoring, which held every row: the output and the saved state claim none yet."""
    state = run(RunOptions(source, out, carry=True), offline_scorer(MODEL_PATH, 0, None), Progress(every=60))
    assert state.carried is not None and state.carried.unwritten is not None and not state.complete
    saved = json.loads(state_path(out).read_text())
    assert out.read_bytes() == HEADER and saved["rows_done"] == 0 and not saved["complete"]
    return state


class Crash(Exception):
    pass


@pytest.mark.parametrize("stop", ["after scoring", "while writing", "after writing, before the state"])
def test_a_plan_run_stopped_before_its_state_is_complete_resumes_to_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    """Held rows are not durable, and the state never says they are: wherever the run stops before the
    state is complete, --resume starts over (the output may hold the header, part of the rows, or all of
    them with a state that claims none) and gives the uninterrupted run's bytes."""
    source = tmp_path / "in.csv"
    messy(source)
    whole, out = tmp_path / "whole.csv", tmp_path / "out.csv"
    args = (*PLAN, "--budget", "40")
    assert campaign.main(["score", str(source), "--offline", "-o", str(whole), *args]) == 1  # rows rejected
    state = held_run(source, out)
    assert state.carried is not None and state.carried.unwritten is not None
    plan = PlanOptions(Decimal("10"), 0.3, 12, 40)
    if stop == "while writing":
        real_fsync = campaign_run.os.fsync

        def crashing_fsync(fd: int) -> None:  # the rows are in the file, not yet durable
            raise Crash

        monkeypatch.setattr("os.fsync", crashing_fsync)
        with pytest.raises(Crash):
            conclude(source, out, plan, for_report=False, carried=state.carried)
        monkeypatch.setattr("os.fsync", real_fsync)
        assert len(out.read_bytes()) > len(HEADER)  # rows the state does not claim
    elif stop == "after writing, before the state":
        monkeypatch.setattr(RunState, "save", lambda self: (_ for _ in ()).throw(Crash()))
        with pytest.raises(Crash):
            conclude(source, out, plan, for_report=False, carried=state.carried)
        monkeypatch.undo()
        assert out.read_bytes() == whole.read_bytes()  # every row, but the state on disk claims none
        assert json.loads(state_path(out).read_text())["rows_done"] == 0
    assert campaign.main(["score", str(source), "--offline", "-o", str(out), *args, "--resume"]) == 1
    assert out.read_bytes() == whole.read_bytes()
    assert json.loads(state_path(out).read_text())["complete"]


def test_a_held_run_the_engine_hands_over_mid_file_writes_what_it_held_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row the engine cannot read exactly (a quoted cell) after several held blocks: the held rows are
    written, in order, before the Python reader's; the plan then reads the output back."""
    monkeypatch.setattr(offline, "CHUNK_BYTES", 4096)
    source = tmp_path / "in.csv"
    messy(source)
    lines = source.read_text().splitlines(keepends=True)
    customerid, rest = lines[250].split(",", 1)
    lines[250] = f'"{customerid}",{rest}'
    source.write_text("".join(lines))
    scorer = offline_scorer(MODEL_PATH, 0, None)
    plain = run(RunOptions(source, tmp_path / "plain.csv"), scorer, Progress(every=60))
    state = run(RunOptions(source, tmp_path / "held.csv", carry=True), scorer, Progress(every=60))
    assert plain.complete and state.complete and state.carried is None
    assert 0 < json.loads(state_path(tmp_path / "held.csv").read_text())["rows_done"] == plain.rows_done
    assert state.summary == plain.summary  # each row counted once: the held ones were not scored again
    assert (tmp_path / "held.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


@functools.cache
def scorer() -> OfflineScorer:
    return offline_scorer(MODEL_PATH, 0, None)


def template() -> tuple[str, list[str]]:
    header, first = DATA_PATH.read_text().splitlines()[:2]
    return header, first.split(",")


# Cell texts a CRM might hold in MonthlyCharges: numbers in any spelling, blanks, text that is neither
# (no quote, comma or line end: such a file is the Python reader's).
monthly_text = st.text(alphabet=st.sampled_from(list("0123456789.-+eE _ab\t")), max_size=12)
monthly_cells = st.one_of(monthly_text, st.sampled_from(MONTHLY_CELLS), st.floats(0, 200).map(repr))


@settings(max_examples=80, deadline=None)
@given(st.lists(monthly_cells, min_size=1, max_size=120))
def test_the_engines_validated_charges_are_the_facts_number(cells: list[str]) -> None:
    """For every scored row the engine's number is exactly facts.number() of the cell (both are the contract's)."""
    header, row = template()
    at = header.split(",").index("MonthlyCharges")
    lines = [",".join([*row[:at], cell, *row[at + 1 :]]) for cell in cells]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_text("\n".join([header, *lines]) + "\n")
        fast = scorer().fast_run(path)
        blocks = list(fast.blocks())
    assert fast.finished
    monthly = np.concatenate([b.columns.monthly_charges for b in blocks])
    rejected = np.concatenate([b.columns.rejected for b in blocks])
    assert len(monthly) == len(cells)
    for value, bad, cell in zip(monthly.tolist(), rejected.tolist(), cells, strict=True):
        if not bad:
            assert value == number(cell), cell
