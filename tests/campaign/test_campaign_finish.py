"""campaign.py after the last row is scored: the plan, the report and --top-output, and what the terminal shows.

Every row is durable before this phase, so whatever stops it (Ctrl-C, a file the system will not let it
write) is a one-line message with the documented status, and --resume does the rest to the same bytes.
An input refused at its first line leaves an existing output as it was, on the offline engine too.
"""

from __future__ import annotations

import csv
import errno
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import campaign
import churn.campaign.outcome
import churn.campaign.report
from churn.campaign.run import state_path
from tests.conftest import DATA_PATH

PLAN = ("--contact-cost", "10", "--retention-rate", "0.3", "--horizon-months", "12", "--budget", "40")


def head(lines: int, tmp: Path) -> Path:
    out = tmp / "in.csv"
    out.write_text("".join(DATA_PATH.read_text().splitlines(keepends=True)[: lines + 1]))
    return out


def score(source: Path, out: Path, *args: str) -> int:
    return campaign.main(["score", str(source), "--offline", "-o", str(out), *args])


def files(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    return tmp / f"{name}.csv", tmp / f"{name}.html", tmp / f"{name}-top.csv"


def run_all(source: Path, tmp: Path, name: str, *extra: str) -> int:
    out, report, top = files(tmp, name)
    return score(source, out, *PLAN, "--report", str(report), "--top", "5", "--top-output", str(top), *extra)


# Each step after scoring, by the call that does it: an interruption or a refused write there.
STEPS: dict[str, tuple[Any, str]] = {
    "plan": (churn.campaign.outcome, "conclude"),
    "report": (churn.campaign.report, "write_report"),
    "top-output": (campaign, "write_rows"),
}


def failing(error: BaseException) -> Callable[..., None]:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    return fail


@pytest.mark.parametrize("step", STEPS)
def test_ctrl_c_after_scoring_is_the_interrupted_message_and_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    source = head(300, tmp_path)
    assert run_all(source, tmp_path, "fresh") == 0
    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(*STEPS[step], failing(KeyboardInterrupt()))
        assert run_all(source, tmp_path, "cut") == campaign.INTERRUPTED
    err = capsys.readouterr().err
    output = files(tmp_path, "cut")[0]
    assert err.strip().splitlines()[-1] == f"campaign.py: interrupted; re-run with --resume to finish {output}"
    assert "Traceback" not in err
    assert run_all(source, tmp_path, "cut", "--resume") == 0
    for fresh, cut in zip(files(tmp_path, "fresh"), files(tmp_path, "cut"), strict=True):
        assert cut.read_bytes() == fresh.read_bytes(), cut.name


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EIO, errno.ENOENT])
@pytest.mark.parametrize("step", ["report", "top-output"])
def test_a_file_refused_after_scoring_names_its_option_and_resume_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], step: str, code: int
) -> None:
    source = head(300, tmp_path)
    assert run_all(source, tmp_path, "fresh") == 0
    capsys.readouterr()
    _, report, top = files(tmp_path, "cut")
    with monkeypatch.context() as patch:
        patch.setattr(*STEPS[step], failing(OSError(code, "the system says no")))
        assert run_all(source, tmp_path, "cut") == campaign.USAGE
    err = capsys.readouterr().err
    path = report if step == "report" else top
    assert err.strip().splitlines()[-1] == (
        f"campaign.py: --{step} {path}: the system says no; "
        "every row is scored: fix it and re-run with --resume to write it"
    )
    assert "Traceback" not in err
    assert run_all(source, tmp_path, "cut", "--resume") == 0
    for fresh, cut in zip(files(tmp_path, "fresh"), files(tmp_path, "cut"), strict=True):
        assert cut.read_bytes() == fresh.read_bytes(), cut.name


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_device_as_top_output_is_refused_before_scoring_not_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/dev/full refuses every write, but is not a file at all: refused before any row is scored (a full
    disk once the rows are scored is the test above's ENOSPC)."""
    source = head(50, tmp_path)
    with pytest.raises(SystemExit) as stopped:
        score(source, tmp_path / "o.csv", "--top", "3", "--top-output", "/dev/full")
    assert stopped.value.code == campaign.USAGE
    assert "--top-output /dev/full: is a character device" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


REFUSED_AT_THE_FIRST_LINE = {
    "empty": b"",
    "a column twice": b"a,a\n1,2\n",
    "a blank column name": b"customerid,,tenure\nx,1,2\n",
    "not UTF-8": b"customerid,contr\xe9t\nx,y\n",
}


@pytest.mark.parametrize("name", REFUSED_AT_THE_FIRST_LINE)
def test_an_input_refused_at_its_first_line_leaves_an_existing_output_untouched(tmp_path: Path, name: str) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(REFUSED_AT_THE_FIRST_LINE[name])
    out = tmp_path / "precious.csv"
    out.write_bytes(b"what the user had here\n")
    assert score(source, out) == campaign.USAGE
    assert out.read_bytes() == b"what the user had here\n"
    assert not state_path(out).exists()


CONTROL_IDS = ["evil\nplan: net value 9,999,999.00", "\x1b]0;pwned\x07\x1b[31mred", "back\bspace", "para\u2029graph"]


def test_the_top_summary_shows_every_id_on_its_own_line_with_no_control_character(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = list(csv.DictReader(io.StringIO(DATA_PATH.read_text())))[:20]
    for row, customerid in zip(rows, CONTROL_IDS, strict=False):
        row["customerID"] = customerid
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert score(source, tmp_path / "o.csv", "--top", "20") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + 20 and lines[1] == "top 20 by churn probability:"
    assert all(line.isprintable() for line in lines)
    shown = {line.split("  ")[1] for line in lines[2:]}
    assert {repr(i)[1:-1] for i in CONTROL_IDS} <= shown
