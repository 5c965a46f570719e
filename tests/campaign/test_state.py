"""--resume reads the state file as input: only a state its output and input agree with is resumed from,
any other stops the run (exit status 2) before the output is touched."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import campaign
from churn.campaign.output import OUTPUT_COLUMNS
from churn.campaign.progress import Progress
from churn.campaign.run import RunOptions, RunState, run, state_path
from churn.campaign.scorers import offline_scorer
from churn.campaign.state import FIELD_RULES, NOT_SAVED, ResumeError, load_state
from churn.campaign.summary import Summary, read_back
from tests.conftest import DATA_PATH, MODEL_PATH

ROWS = 300
DATA_LINES = DATA_PATH.read_bytes().splitlines(keepends=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, dict[str, Any]]:
    """An input of ROWS customers, its whole output and the finished run's state."""
    folder = tmp_path_factory.mktemp("finished")
    source, out = folder / "in.csv", folder / "out.csv"
    source.write_bytes(b"".join(DATA_LINES[: ROWS + 1]))
    assert campaign.main(["score", str(source), "--offline", "-o", str(out)]) == 0
    return source, out.read_bytes(), json.loads(state_path(out).read_text())


def crashed_at(rows: int, whole: bytes, state: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """What a run killed after `rows` rows leaves: those rows (and the header) durable, the state saying so."""
    kept = b"".join(whole.splitlines(keepends=True)[: rows + 1])
    return kept, {**state, "rows_done": rows, "output_bytes": len(kept), "complete": False}


def put(out: Path, output: bytes, state: dict[str, Any] | bytes) -> None:
    out.write_bytes(output)
    state_path(out).write_bytes(state if isinstance(state, bytes) else json.dumps(state).encode())


def resume_refused(source: Path, out: Path, capsys: pytest.CaptureFixture[str], *more: str) -> str:
    """--resume exits 2, the output and its state as they were; the message."""
    before = out.read_bytes(), state_path(out).read_bytes()
    assert campaign.main(["score", str(source), "--offline", "-o", str(out), "--resume", *more]) == 2
    assert (out.read_bytes(), state_path(out).read_bytes()) == before
    message = capsys.readouterr().err
    assert str(state_path(out)) in message and "drop --resume to start over" in message
    assert "Traceback" not in message
    return message


NOT_A_STATE = [
    b"garbage{",
    b"",
    b"{}",
    b"[]",
    b"null",
    b'"state"',
    b"7",
    b"[" * 100_000,  # nests too deeply for the parser
    b'{"input_sha256": "\xc9"}',  # not UTF-8
    b'{"input_sha256": "", "options": {}, "rows_done": 1' + b"0" * 5000 + b"}",  # a number too long to read
]


@pytest.mark.parametrize("content", NOT_A_STATE, ids=lambda c: repr(c[:12]))
def test_a_state_file_that_is_not_a_saved_state_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "out.csv.state.json"
    path.write_bytes(content)
    with pytest.raises(ResumeError, match="drop --resume to start over") as refused:
        load_state(path, tmp_path / "out.csv")
    assert str(path) in str(refused.value)


# Values a run never saves in each field (the saved ones: FIELD_RULES)
WRONG_VALUES: dict[str, list[Any]] = {
    "input_sha256": [5, None, "abc", "A" * 64, "0" * 63, ["0" * 64]],
    "options": [[], "explain", None, 3],
    "rows_done": [-1, -(10**9), True, False, 3.0, "10", None, 1e400],
    "output_bytes": [-1, -5, True, 7.5, "69", None],
    "complete": ["yes", 1, 0, None],
    "model_version": [3, ["v"], {"v": 1}],
    "version": ["2", 2.0, None, True],
}


def test_every_saved_field_has_a_rule_and_wrong_values_to_try() -> None:
    saved = {f.name for f in fields(RunState)} - NOT_SAVED
    assert set(FIELD_RULES) == saved == set(WRONG_VALUES)


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in WRONG_VALUES.items() for value in values], ids=repr
)
def test_a_field_of_the_wrong_type_or_sign_is_refused(
    finished: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, name: str, value: Any
) -> None:
    state = finished[2]
    path = tmp_path / "out.csv.state.json"
    path.write_text(json.dumps({**state, name: value}))
    with pytest.raises(ResumeError, match="drop --resume") as refused:
        load_state(path, tmp_path / "out.csv")
    if name != "version":  # another version is refused as such
        assert name in str(refused.value)


@pytest.mark.parametrize("edit", [{"extra": 1}, {"input_sha256": None}, {"options": None}], ids=repr)
def test_a_state_with_an_unknown_or_missing_field_is_refused(
    finished: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, edit: dict[str, Any]
) -> None:
    state = {k: v for k, v in {**finished[2], **edit}.items() if v is not None}
    path = tmp_path / "out.csv.state.json"
    path.write_text(json.dumps(state))
    with pytest.raises(ResumeError, match="drop --resume"):
        load_state(path, tmp_path / "out.csv")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=14), inner, max_size=4),
    max_leaves=12,
)
FIELD_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "input_sha256": st.sampled_from(["", "0" * 64, "f" * 64, "x"]) | JSON,
        "options": st.dictionaries(st.text(max_size=8), JSON, max_size=3) | JSON,
        "rows_done": st.integers(-3, 10**12) | JSON,
        "output_bytes": st.integers(-3, 10**12) | JSON,
        "complete": st.booleans() | JSON,
        "model_version": st.none() | st.text(max_size=20) | JSON,
        "version": st.just(2) | JSON,
    },
)


@given(content=FIELD_VALUES | JSON)
def test_any_json_loads_as_a_state_of_the_saved_types_or_is_a_resume_error(content: Any) -> None:
    """Never another exception (a TypeError, a traceback), and never a state of other types than a run saves."""
    try:
        state = load_state_from(json.dumps(content))
    except ResumeError:
        return
    for name, (valid, _) in FIELD_RULES.items():
        assert valid(getattr(state, name)), name


def load_state_from(text: str) -> RunState:
    with tempfile.TemporaryDirectory() as folder:
        state_file = Path(folder) / "out.csv.state.json"
        state_file.write_text(text)
        return load_state(state_file, Path(folder) / "out.csv")


def test_a_saved_state_loads_back_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "out.csv.state.json"
    state = RunState("a" * 64, {"explain": 2, "threshold": 0.4}, 17, 900, False, "m-1", path=path)
    state.save()
    assert load_state(path, tmp_path / "out.csv") == state


def lost_row(output: bytes, state: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    lines = output.splitlines(keepends=True)
    kept = b"".join(lines[:5] + lines[6:])
    return kept, {**state, "output_bytes": len(kept)}


Tamper = Callable[[bytes, dict[str, Any]], tuple[bytes, dict[str, Any]]]

TAMPERINGS: dict[str, Tamper] = {
    # the tester's: a killed run's output shortened with head -n 100
    "output shortened": lambda out, s: (b"".join(out.splitlines(keepends=True)[:100]), s),
    "output emptied": lambda out, s: (b"", s),
    "output cut mid-line": lambda out, s: (out[: s["output_bytes"] - 5], s),
    "recorded bytes one short of a line end": lambda out, s: (out, {**s, "output_bytes": s["output_bytes"] - 1}),
    "recorded bytes one past a line end": lambda out, s: (out + b"x\n", {**s, "output_bytes": s["output_bytes"] + 1}),
    "recorded bytes beyond the file": lambda out, s: (out, {**s, "output_bytes": 10**12}),
    "recorded bytes zero": lambda out, s: (out, {**s, "output_bytes": 0}),
    "more rows recorded than written": lambda out, s: (out, {**s, "rows_done": 10**9}),
    "one row more recorded": lambda out, s: (out, {**s, "rows_done": s["rows_done"] + 1}),
    "one row fewer recorded": lambda out, s: (out, {**s, "rows_done": s["rows_done"] - 1}),
    "a row lost from the output": lost_row,
    "NUL bytes where rows were": lambda out, s: (out[:100] + b"\0" * (len(out) - 100), s),
    "a byte that is not UTF-8": lambda out, s: (out.replace(b"0.", b"\xc9.", 1), s),
    "another header": lambda out, s: (out.replace(b"customerid,", b"id,", 1), {**s, "output_bytes": len(out) - 8}),
    "a row with a cell too many": lambda out, s: (out.replace(b"\n", b",x\n", 2), {**s, "output_bytes": len(out) + 4}),
    "a probability that is not a number": lambda out, s: (out.replace(b",0.", b",zz", 1), s),
    "an open quote": lambda out, s: (out.replace(b"\n", b'\n"', 3), {**s, "output_bytes": len(out) + 3}),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_a_state_its_output_contradicts_is_refused_untouched(
    finished: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    source, whole, state = finished
    out = tmp_path / "out.csv"
    put(out, *TAMPERINGS[name](*crashed_at(120, whole, state)))
    resume_refused(source, out, capsys)


@pytest.mark.parametrize("name", ["output shortened", "a row lost from the output", "one row fewer recorded"])
def test_a_finished_state_its_output_contradicts_is_refused(
    finished: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """A finished output is read whole (a plan may have rewritten it), and must hold every row."""
    source, whole, state = finished
    out = tmp_path / "out.csv"
    put(out, *TAMPERINGS[name](whole, state))
    assert "rows" in resume_refused(source, out, capsys)


def test_a_state_claiming_more_rows_than_the_input_has_is_refused(
    finished: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output and state that agree, but with more rows than the input: counted before the output is cut."""
    source, whole, state = finished
    out = tmp_path / "out.csv"
    doubled = whole + b"".join(whole.splitlines(keepends=True)[1:]) + b"extra,,,,,,\n"  # crash debris after
    put(out, doubled, {**state, "rows_done": 2 * ROWS, "output_bytes": len(doubled) - 12, "complete": False})
    assert f"the input has only {ROWS}" in resume_refused(source, out, capsys)


@pytest.mark.parametrize("rows", [0, 1, 77, ROWS - 1])
@pytest.mark.parametrize("debris", [b"", b"half-written,ro", b"\0" * 4096, b"x,\n" * 3])
def test_a_state_its_output_agrees_with_resumes_to_the_uninterrupted_bytes(
    finished: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, rows: int, debris: bytes
) -> None:
    """Whatever a crash left after the recorded bytes is cut; the rest is scored once."""
    source, whole, state = finished
    out = tmp_path / "out.csv"
    kept, crashed = crashed_at(rows, whole, state)
    put(out, kept + debris, crashed)
    resumed = run(
        RunOptions(source, out, chunk_size=50, resume=True), offline_scorer(MODEL_PATH, 0, None), Progress(every=60)
    )
    assert resumed.complete and out.read_bytes() == whole
    assert resumed.summary.rows == ROWS


def test_a_resume_error_from_a_state_file_that_cannot_be_read(
    finished: tuple[Path, bytes, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, whole, _ = finished
    out = tmp_path / "out.csv"
    out.write_bytes(whole)
    state_path(out).mkdir()  # a folder where the state file should be: refused before the state is read
    with pytest.raises(SystemExit) as stopped:
        campaign.main(["score", str(source), "--offline", "-o", str(out), "--resume"])
    assert stopped.value.code == 2
    assert f"the output's state file {state_path(out)}: is a directory" in capsys.readouterr().err
    state_path(out).rmdir()
    state_path(out).write_bytes(b"\xff not JSON")  # a file, but not one that reads
    assert campaign.main(["score", str(source), "--offline", "-o", str(out), "--resume"]) == 2
    assert "cannot be read as a state file" in capsys.readouterr().err
    assert out.read_bytes() == whole


def test_the_recorded_bytes_are_read_back_exactly(finished: tuple[Path, bytes, dict[str, Any]], tmp_path: Path) -> None:
    """read_back stops at output_bytes, wherever in the file that is: each line end counts the rows before it."""
    whole = finished[1]
    out = tmp_path / "out.csv"
    out.write_bytes(whole)
    ends = [i + 1 for i, byte in enumerate(whole) if byte == ord("\n")]
    counted = [read_back(out, Summary(), OUTPUT_COLUMNS, size) for size in ends]
    assert counted == list(range(len(ends)))
    summary = Summary()
    assert read_back(out, summary, OUTPUT_COLUMNS) == ROWS == summary.rows
