"""campaign.py on a disk that fills up: whenever it fills, one line naming the file, status 2, and
--resume (once there is room) ends with the bytes of a run that never stopped.

The disk is real: a tmpfs of a few KiB to a few hundred, mounted in a mount namespace of the test's own
(`unshare --mount`, as root), over the folder the output goes to. Its sizes are spread from a page to
more than the output and its temporary copy need, so the disk fills while rows are written, while the
state file is saved, while a plan rewrites the output, or not at all; every path that writes is run:
the offline engine with and without a plan, and the chunked path (a JSON Lines input).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA_PATH, PROJECT

PLAN = ("--contact-cost", "10", "--retention-rate", "0.3", "--horizon-months", "12", "--budget", "40")
ROWS = 2000
# What campaign.py may name when the disk is full: --output or one of the output's own files.
REFUSED = re.compile(
    r"campaign\.py: (--output|the output's state file|the state file's temporary copy|the output's temporary copy) "
    r"\S+: No space left on device; fix it and re-run with --resume to go on from the last rows made durable"
)


def csv_input(tmp: Path) -> Path:
    path = tmp / "in.csv"
    path.write_text("".join(DATA_PATH.read_text().splitlines(keepends=True)[: ROWS + 1]))
    return path


def jsonl_input(tmp: Path) -> Path:
    path = tmp / "in.jsonl"
    with DATA_PATH.open(newline="") as f:
        rows = [json.dumps(row) for _, row in zip(range(ROWS), csv.DictReader(f), strict=False)]
    path.write_text("\n".join(rows) + "\n")
    return path


KINDS = {
    "offline": (csv_input, ()),
    "offline-plan": (csv_input, PLAN),
    "chunked-plan": (jsonl_input, PLAN),
}


def command(source: Path, output: Path, extra: tuple[str, ...], *more: str) -> str:
    words = [sys.executable, str(PROJECT / "campaign.py"), "score", str(source), "--offline", "-o", str(output)]
    return shlex.join([*words, *extra, *more])


def on_a_small_disk(source: Path, folder: Path, size_kib: int, extra: tuple[str, ...]) -> list[str]:
    """Run on a disk of size_kib, then (the disk grown) --resume; each run's status and last line of stderr."""
    output = folder / "out.csv"
    script = f"""
        mount -t tmpfs -o size={size_kib}k tmpfs {shlex.quote(str(folder))} || exit 99
        {command(source, output, extra)} >/dev/null 2>err; echo "first $?"; echo "$(tail -n 1 err)"
        grep -c Traceback err
        mount -o remount,size=64m {shlex.quote(str(folder))} || exit 99
        {command(source, output, extra, "--resume")} >/dev/null 2>err; echo "resumed $?"; echo "$(tail -n 1 err)"
        cp {shlex.quote(str(output))} {shlex.quote(str(folder.parent / "kept.csv"))}
    """
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
        capture_output=True, text=True, timeout=300, check=False, cwd=folder.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def namespaces() -> None:
    """The test needs root and util-linux's unshare: it fails, never skips, where they are missing."""
    assert shutil.which("unshare") is not None, "unshare (util-linux) is missing"
    assert os.geteuid() == 0, "mounting a tmpfs in a mount namespace needs root"


@pytest.mark.parametrize("kind", KINDS)
def test_a_disk_that_fills_at_any_point_names_the_file_and_resume_finishes_the_same(
    tmp_path: Path, kind: str, namespaces: None
) -> None:
    make_input, extra = KINDS[kind]
    source = make_input(tmp_path)
    fresh = tmp_path / "fresh.csv"
    subprocess.run(shlex.split(command(source, fresh, extra)), capture_output=True, check=True, timeout=300)
    need_kib = 2 * fresh.stat().st_size // 1024 + 16  # the output, its temporary copy and the state file
    outcomes = set()
    for size_kib in sorted({4, 8, 16, need_kib // 8, need_kib // 3, need_kib // 2, need_kib * 3 // 4, need_kib + 64}):
        folder = tmp_path / f"disk-{size_kib}"
        folder.mkdir()
        first, first_err, tracebacks, resumed, resumed_err = on_a_small_disk(source, folder, size_kib, extra)
        assert tracebacks == "0", (size_kib, first_err)
        if first == "first 2":
            assert REFUSED.fullmatch(first_err), (size_kib, first_err)
            outcomes.add("refused")
        else:
            assert first == "first 0", (size_kib, first, first_err)
            outcomes.add("fitted")
        assert resumed == "resumed 0", (size_kib, resumed, resumed_err)
        assert (tmp_path / "kept.csv").read_bytes() == fresh.read_bytes(), size_kib
    assert outcomes == {"refused", "fitted"}  # the sizes did reach both sides of full
