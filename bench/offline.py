"""Offline benchmark through the real command: `campaign.py score INPUT --offline --output OUT`.

    python bench/offline.py [--rows N] [--explain K] [--rounds R] [--plan] [--report]   one JSON line per round

--plan adds PLAN (a budget of 1% of the rows) to the command, --report a report in the temporary directory.

INPUT is the Telco export's rows repeated up to N rows (raw CRM spellings, as a CRM exports them),
written to a temporary directory and deleted afterwards; it is never committed. Each round runs the
command as a fresh process (interpreter start, model load, input hash, scoring, summary: end to end)
and reads the child's wall time and peak RSS (wait4's ru_maxrss). A warm-up run first fills the page
cache with the input and Python's bytecode cache with the project's modules, as for a user's second run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "data" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"


def generate(path: Path, rows: int) -> None:
    """The Telco export's header and rows (raw CRM spellings), repeated up to `rows` data lines."""
    header, *lines = DATA.read_text().splitlines(keepends=True)
    with path.open("w") as f:
        f.write(header)
        full, rest = divmod(rows, len(lines))
        block = "".join(lines)
        for _ in range(full):
            f.write(block)
        f.write("".join(lines[:rest]))


PLAN = ("--contact-cost", "10", "--retention-rate", "0.3", "--horizon-months", "12")


def command(source: Path, target: Path, explain: int, extra: tuple[str, ...] = ()) -> list[str]:
    cmd = [sys.executable, str(PROJECT / "campaign.py"), "score", str(source), "--offline", "--output", str(target)]
    return cmd + (["--explain", str(explain)] if explain else []) + list(extra)


def extra_args(rows: int, plan: bool, report: Path | None) -> tuple[str, ...]:
    out = (*PLAN, "--budget", str(max(rows // 100, 1))) if plan else ()
    return out + (("--report", str(report)) if report is not None else ())


def run_once(source: Path, target: Path, rows: int, explain: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    for stale in (target, target.with_name(target.name + ".state.json")):
        stale.unlink(missing_ok=True)
    # Python's default bytecode cache, as on a user's machine: these machines set PYTHONDONTWRITEBYTECODE
    # globally, which would make every round compile the project's modules again (~30 ms of start-up).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        command(source, target, explain, extra), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    summary = proc.stdout.read().decode() if proc.stdout else ""
    with target.open("rb") as f:
        lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 22), b""))
    if proc.returncode != 0 or lines != rows + 1 or f"rows {rows} " not in summary:
        raise RuntimeError(f"campaign.py exited {proc.returncode}, wrote {lines} lines: {summary[:300]}")
    return {
        "rows": rows,
        "explain": explain,
        "options": " ".join(extra),
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def measure(
    rows: int, explains: list[int], rounds: int, plan: bool = False, report: bool = False
) -> list[dict[str, Any]]:
    """Every round of every explain setting, on one generated input."""
    with tempfile.TemporaryDirectory(prefix="churn-offline-") as tmp:
        source, target = Path(tmp) / "customers.csv", Path(tmp) / "scores.csv"
        extra = extra_args(rows, plan, Path(tmp) / "report.html" if report else None)
        generate(source, rows)
        run_once(source, target, rows, explains[0], extra)  # the warm-up: not measured
        return [{"round": r, **run_once(source, target, rows, e, extra)} for r in range(rounds) for e in explains]


def command_line(explain: int, plan: bool = False, report: bool = False) -> str:
    words = ["python", "campaign.py", "score", "INPUT.csv", "--offline", "--output", "OUT.csv"]
    words += ["--explain", str(explain)] if explain else []
    words += [*PLAN, "--budget", "ROWS/100"] if plan else []
    return " ".join(words + (["--report", "REPORT.html"] if report else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--explain", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--plan", action="store_true", help="with a plan (PLAN, a budget of 1%% of the rows)")
    parser.add_argument("--report", action="store_true", help="with --report")
    args = parser.parse_args()
    for result in measure(args.rows, [args.explain], args.rounds, args.plan, args.report):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
