"""Offline engine benchmark: score a generated 1,000,000-row CSV (Telco rows repeated) end to end.

    python bench/offline.py [--rows N] [--explain K]   prints one JSON line: rows, seconds, rows/s, peak RSS

The CSV is written to a temporary directory and deleted afterwards; it is never committed.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from churn.model import load_model  # noqa: E402
from churn.offline import score_csv  # noqa: E402
from churn.service import ChurnService  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--explain", type=int, default=0)
    args = parser.parse_args()
    service = ChurnService(load_model(PROJECT / "churn-model.bin"))
    with tempfile.TemporaryDirectory(prefix="churn-offline-") as tmp:
        source, target = Path(tmp) / "customers.csv", Path(tmp) / "scores.csv"
        generate(source, args.rows)
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        summary = score_csv(source, target, service, explain=args.explain)
        seconds = time.perf_counter() - started
        out_lines = sum(1 for _ in target.open()) - 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert out_lines == summary.rows == args.rows, (out_lines, summary)
    result = {
        "explain": args.explain,
        "rows": summary.rows,
        "seconds": seconds,
        "rows_per_s": summary.rows / seconds,
        "peak_rss_mib": peak / 1024,
        "rss_before_mib": base_rss / 1024,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
