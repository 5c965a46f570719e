"""What the offline engine carries to a plan (churn.campaign.carried) is what the plan would read back:
the output's probabilities and the input's monthly charges (churn.campaign.facts), row for row, and a
plan applied from it writes the bytes of a plan applied from the files."""

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
from churn.campaign.facts import number, python_facts, read_facts
from churn.campaign.offline import engine as offline
from churn.campaign.outcome import OutputMismatch, conclude, read_scores
from churn.campaign.output import HEADER
from churn.campaign.plan import PlanOptions
from churn.campaign.progress import Progress
from churn.campaign.run import RunOptions, run
from churn.campaign.scorers import OfflineScorer, offline_scorer
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
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    messy(source)
    state = run(RunOptions(source, out, carry=True), offline_scorer(MODEL_PATH, 0, None), Progress(every=60))
    assert state.complete and state.carried is not None
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


def test_an_output_changed_since_the_run_is_not_planned_from_what_was_carried(tmp_path: Path) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    messy(source)
    state = run(RunOptions(source, out, carry=True), offline_scorer(MODEL_PATH, 0, None), Progress(every=60))
    assert state.carried is not None
    written = out.read_bytes()
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


@pytest.mark.parametrize("explain", [0, 2])
def test_a_plan_from_what_was_carried_writes_the_bytes_of_a_plan_read_back(
    tmp_path: Path, explain: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same messy file planned from what the engine carried (a plan alone), from the files (with a
    report), and through the chunked path (the same rows as JSON Lines): one output, one summary."""
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
