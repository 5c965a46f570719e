"""The benchmark harness runs end to end (that it runs, not that it is fast: no figure is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT

pytestmark = pytest.mark.server


def run_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *args], check=False, cwd=PROJECT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_bench_smoke_runs_every_server_and_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    run_script("bench/run.py", "--smoke", "--out", str(out), timeout=300)
    report = out.read_text()
    for name in ("book-default", "book-2-sync-workers", "book-gthread", "ours"):
        assert f"| {name} | 64 |" in report
    assert "customers/s" in report
    assert "Memory per worker" in report
    assert re.search(r"^- run on \d{4}-\d\d-\d\d$", report, re.MULTILINE)
    assert "campaign.py score INPUT.csv --offline" in report and "Container" in report
