"""Side-by-side benchmark: the book's service against ours, with wrk on 127.0.0.1.

    python bench/run.py            full run (~8 minutes), writes docs/benchmarks.md
    python bench/run.py --smoke    ~30 s: every server, every figure, once, very short (CI: it runs)

Each round starts nothing new: all servers stay up for the whole run and every round measures each
server at each concurrency in turn, so a ratio is taken between two figures of the same round and
the reported figure is the median over rounds.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from churn.core.training import REFERENCE_CUSTOMER  # noqa: E402
from churn.core.validation import CustomerValidator  # noqa: E402

DATA = PROJECT / "data" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")
BATCH_ROWS = 1000
REPORT = PROJECT / "docs" / "benchmarks.md"  # the generated report; the docs link it, never copy its figures


@dataclass
class Server:
    """One server under test: name, command line (run in cwd) and what was measured."""

    name: str
    args: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    ready_s: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        program = [PY, "-m", "gunicorn"] if self.args[0] == "gunicorn" else [PY]  # this interpreter either way
        return [*program, *[a.replace("PORT", str(self.port)) for a in self.args[1:]]]

    def start(self, body: bytes) -> None:
        self.port = free_port()
        env = {**os.environ, "PORT": str(self.port), **self.env}
        started = time.monotonic()
        self.proc = subprocess.Popen(
            self.command(), cwd=self.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_ready(self.url + "/predict", body, self.proc)
        self.ready_s = time.monotonic() - started

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def pids(self) -> list[int]:
        """The master and its workers."""
        assert self.proc is not None
        return [self.proc.pid, *children(self.proc.pid)]

    def cpu_seconds(self) -> float:
        return sum(cpu_of(pid) for pid in self.pids())

    def memory(self) -> list[dict[str, int]]:
        return [{"pid": pid, **smaps_rollup(pid)} for pid in children(self.pids()[0])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: bytes, timeout: float = 5) -> int:
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()
        return int(resp.status)


def wait_ready(url: str, body: bytes, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the first prediction succeeds: the time a caller would wait for a started service."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}")
        try:
            if post(url, body, timeout=1) == 200:
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.extend(int(c) for c in text)
    return out


def cpu_of(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss and Pss of a process, in KiB."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {key.lower(): int(re.search(rf"^{key}:\s+(\d+)", text, re.M).group(1)) for key in ("Rss", "Pss")}  # type: ignore[union-attr]


def wrk(url: str, body_file: Path, connections: int, seconds: float) -> dict[str, Any]:
    threads = min(2, connections)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "5s"]
    cmd += ["--latency", "-s", str(PROJECT / "bench" / "post.lua"), url]
    out = subprocess.run(
        cmd, env={**os.environ, "BODY_FILE": str(body_file)}, capture_output=True, text=True, check=True
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH "))
    result: dict[str, Any] = json.loads(line[6:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def measure(server: Server, path: str, body_file: Path, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run plus the server's CPU time spent during it."""
    before = server.cpu_seconds()
    result = wrk(server.url + path, body_file, connections, seconds)
    result["cpu_us_per_request"] = (server.cpu_seconds() - before) * 1e6 / max(result["requests"], 1)
    return result


def customers() -> list[dict[str, Any]]:
    """Telco rows as the book's service expects them: normalized names and values."""
    from churn.core.model import load_model

    validator = CustomerValidator(load_model(PROJECT / "churn-model.bin").contract())
    with DATA.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows[:BATCH_ROWS]:
        customer, customerid = validator.validate(row)
        out.append({"customerid": customerid, **customer})
    return out


def servers(reference_dir: Path) -> list[Server]:
    book = ["gunicorn", "--bind", "127.0.0.1:PORT"]
    return [
        Server("book-default", [*book, "predict:app"], reference_dir),
        Server("book-2-sync-workers", [*book, "--workers", "2", "predict:app"], reference_dir),
        Server("book-gthread", [*book, "--workers", "2", "--threads", "4", "predict:app"], reference_dir),
        # as shipped: the INFO request log line included (to /dev/null here)
        Server("ours", ["python", "churn_serving.py"], PROJECT),
    ]


BOOK_BEST = ("book-2-sync-workers", "book-gthread")


def run(rounds: int, seconds: float, batch_seconds: float, concurrencies: list[int]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="churn-bench-"))
    single, batch = work / "single.json", work / "batch.json"
    rows = customers()
    single.write_bytes(json.dumps(REFERENCE_CUSTOMER).encode())
    batch.write_bytes(json.dumps({"customers": rows}).encode())
    reference_dir = work / "reference"
    reference_dir.mkdir()
    (reference_dir / "predict.py").write_bytes((PROJECT / "bench" / "reference" / "predict.py").read_bytes())
    (reference_dir / "churn-model.bin").write_bytes((PROJECT / "churn-model.bin").read_bytes())
    all_servers = servers(reference_dir)
    results: dict[str, Any] = {"single": [], "batch": [], "ready_s": {}, "memory": {}}
    try:
        for s in all_servers:
            s.start(single.read_bytes())
            results["ready_s"][s.name] = s.ready_s
        for r in range(rounds):
            for c in concurrencies:
                for s in all_servers:
                    m = measure(s, "/predict", single, c, seconds)
                    results["single"].append({"round": r, "server": s.name, "connections": c, **m})
                    log(f"round {r} c={c} {s.name}: {m['rps']:.0f} req/s p99 {m['p99_us'] / 1000:.1f} ms")
            ours = all_servers[-1]
            m = measure(ours, "/v1/predict", batch, 4, batch_seconds)
            m["customers_per_s"] = m["rps"] * BATCH_ROWS
            results["batch"].append({"round": r, **m})
            log(f"round {r} batch: {m['customers_per_s']:.0f} customers/s")
        for s in all_servers:
            results["memory"][s.name] = s.memory()
    finally:
        for s in all_servers:
            s.stop()
    results["commands"] = {s.name: " ".join(s.args).replace("PORT", "$PORT") for s in all_servers}
    return results


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(results: dict[str, Any], concurrencies: list[int]) -> dict[str, Any]:
    """Medians per server and concurrency, and per-round ratios of ours to the book's."""
    table: dict[tuple[str, int], dict[str, float]] = {}
    by_round: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for m in results["single"]:
        by_round.setdefault((m["round"], m["connections"]), {})[m["server"]] = m
    names = list(results["commands"])
    for name in names:
        for c in concurrencies:
            runs = [m for m in results["single"] if m["server"] == name and m["connections"] == c]
            table[(name, c)] = {
                key: median([m[key] for m in runs])
                for key in ("rps", "p50_us", "p99_us", "cpu_us_per_request", "errors")
            }
            table[(name, c)]["errors_total"] = sum(m["errors"] for m in runs)
    ratios: dict[int, dict[str, float]] = {}
    for c in concurrencies:
        rounds = [v for (r, cc), v in by_round.items() if cc == c]
        vs_default = [v["ours"]["rps"] / v["book-default"]["rps"] for v in rounds]
        vs_best = [v["ours"]["rps"] / max(v[b]["rps"] for b in BOOK_BEST) for v in rounds]
        ratios[c] = {"vs_default": median(vs_default), "vs_best": median(vs_best)}
    batch = results["batch"]
    return {
        "table": table,
        "ratios": ratios,
        "batch": {
            "customers_per_s": median([b["customers_per_s"] for b in batch]),
            "p99_us": median([b["p99_us"] for b in batch]),
            "errors_total": sum(b["errors"] for b in batch),
            "cpu_us_per_customer": median([b["cpu_us_per_request"] / BATCH_ROWS for b in batch]),
        },
    }


def versions() -> dict[str, str]:
    from importlib.metadata import version

    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    packages = ("flask", "granian", "gunicorn", "scikit-learn", "numpy", "orjson", "pyarrow")
    return {"python": platform.python_version(), **{p: version(p) for p in packages}, "wrk": wrk_version.strip()}


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    return {
        "cpu": model.group(1) if model else platform.processor(),
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "memory": Path("/proc/meminfo").read_text().split("\n")[0].split(":")[1].strip(),
    }


def offline(smoke: bool, rounds: int) -> dict[str, Any]:
    """The real `campaign.py score INPUT --offline --output OUT` on a generated CSV, after the servers stopped."""
    from bench.offline import command_line, measure

    rows = 20_000 if smoke else 1_000_000
    # the plain command at each explain setting, then with a campaign plan, then with a plan and a report
    variants = [(e, False, False) for e in ([0] if smoke else [0, 3])] + [(0, True, False), (0, True, True)]
    summary, runs = [], []
    for explain, plan, report in variants:
        mine = measure(rows, [explain], 1 if smoke else rounds, plan, report)
        for r in mine:
            log(
                f"offline round {r['round']} explain {explain} plan {plan} report {report}: "
                f"{r['rows_per_s']:.0f} rows/s, {r['peak_rss_mib']:.0f} MiB"
            )
        runs += mine
        summary.append(
            {
                "explain": explain,
                "plan": plan,
                "report": report,
                "rows": rows,
                "command": command_line(explain, plan, report),
                "rounds": len(mine),
                **{k: median([r[k] for r in mine]) for k in ("seconds", "rows_per_s", "peak_rss_mib", "cpu_s")},
                "all_rows_per_s": [r["rows_per_s"] for r in mine],
            }
        )
    return {"runs": runs, "summary": summary}


def container(run_it: bool) -> dict[str, Any] | None:
    """The last `make container-test` figures (build/container-report.json), after running it if asked."""
    if run_it:
        subprocess.run(["bash", str(PROJECT / "scripts" / "container-test.sh")], check=True)
    path = PROJECT / "build" / "container-report.json"
    if not path.exists():
        return None
    report: dict[str, Any] = json.loads(path.read_text())
    report["age_s"] = time.time() - report.get("at", 0)
    return report


def render_saved(path: Path) -> str:
    """The report of a run saved with --json (after bench/report.py changed)."""
    from bench.report import render

    raw = json.loads(path.read_text())
    summary = raw["summary"]
    summary["table"] = {(k.rsplit("@", 1)[0], int(k.rsplit("@", 1)[1])): v for k, v in summary["table"].items()}
    summary["ratios"] = {int(c): v for c, v in summary["ratios"].items()}
    return render(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="one very short round; check it runs, not speed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="wrk duration of one single-prediction run")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--out", type=Path, help="write the report here (default docs/benchmarks.md, none for --smoke)")
    parser.add_argument("--container", action="store_true", help="run scripts/container-test.sh first (podman)")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only re-render a --json file's results")
    args = parser.parse_args()
    if args.render:
        (args.out or REPORT).write_text(render_saved(args.render))
        return
    concurrencies = [1, 8, 64]
    if args.smoke:
        args.rounds, args.seconds = 1, 1.0
    started = time.monotonic()
    started_at = time.strftime("%Y-%m-%d", time.gmtime())  # UTC
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    container_report = container(args.container)
    results = run(args.rounds, args.seconds, max(args.seconds, 2.0), concurrencies)
    results["offline"] = offline(args.smoke, args.rounds)
    results["container"] = container_report
    results["summary"] = summarize(results, concurrencies)
    results["machine"], results["versions"] = machine(), versions()
    results["settings"] = {
        "at": started_at,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "duration_s": time.monotonic() - started,
        "load": [load_before, Path("/proc/loadavg").read_text().split()[:3]],  # other jobs on the machine
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        table = {f"{name}@{c}": v for (name, c), v in results["summary"]["table"].items()}
        raw = {**results, "summary": {**results["summary"], "table": table}}
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    from bench.report import render

    out = args.out or (None if args.smoke else REPORT)
    text = render(results)
    if out:
        out.write_text(text)
        log(f"wrote {out}")
    else:
        print(text)
    errors = sum(m["errors"] for m in results["single"]) + results["summary"]["batch"]["errors_total"]
    ours_errors = sum(m["errors"] for m in results["single"] if m["server"] == "ours")
    if ours_errors or results["summary"]["batch"]["errors_total"]:
        log(f"FAILED: our service answered {ours_errors + results['summary']['batch']['errors_total']} errors")
        sys.exit(1)
    log(f"done in {time.monotonic() - started:.0f} s ({errors} errors in all, book's included)")


if __name__ == "__main__":
    main()
