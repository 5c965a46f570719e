"""Load test and soak for churn-serving (a benchmark script, not a unit test).

    python bench/loadtest.py                      # 60 s, 64 keep-alive connections, valid /predict: zero errors
    python bench/loadtest.py --mode soak          # mixed valid and invalid requests: zero 5xx, every answer expected
    python bench/loadtest.py --url http://host:port --api-key KEY --seconds 600

Without --url it starts the shipped server (WEB_CONCURRENCY=2) on a free port of
127.0.0.1 and stops it at the end. The load only ever goes to the given URL. Exit status 1 when a
request failed (steady: anything but 200; soak: a 5xx, a status other than the expected one, or a
connection error).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
CUSTOMER = {
    "customerid": "8879-zkjof", "gender": "female", "seniorcitizen": 0, "partner": "no", "dependents": "no",
    "tenure": 41, "phoneservice": "yes", "multiplelines": "no", "internetservice": "dsl", "onlinesecurity": "yes",
    "onlinebackup": "no", "deviceprotection": "yes", "techsupport": "yes", "streamingtv": "yes",
    "streamingmovies": "yes", "contract": "one_year", "paperlessbilling": "yes",
    "paymentmethod": "bank_transfer_(automatic)", "monthlycharges": 79.85, "totalcharges": 3320.75,
}  # fmt: skip
JSON = {"Content-Type": "application/json"}


def soak_requests() -> list[tuple[str, str, bytes, dict[str, str], int]]:
    """(method, path, body, headers, expected status): a mix of what real and broken clients send."""
    crm = {**CUSTOMER, "contract": "Month-to-month", "paymentmethod": "Electronic check", "tenure": "2"}
    batch = {"customers": [CUSTOMER, crm, {**CUSTOMER, "contract": "weekly"}, 42, {}] * 20, "explain": 2}
    dump = json.dumps
    return [
        ("POST", "/predict", dump(CUSTOMER).encode(), JSON, 200),
        ("POST", "/predict", dump(crm).encode(), JSON, 200),
        ("POST", "/v1/predict", dump(batch).encode(), JSON, 200),
        ("POST", "/predict", dump({**CUSTOMER, "tenure": -3}).encode(), JSON, 422),
        ("POST", "/predict", dump({**CUSTOMER, "contract": "weekly"}).encode(), JSON, 422),
        ("POST", "/predict", b'{"tenure": NaN', JSON, 400),
        ("POST", "/predict", b"\xff\xfe not utf-8", JSON, 400),
        ("POST", "/predict", dump(CUSTOMER).encode(), {"Content-Type": "text/plain"}, 415),
        ("POST", "/v1/predict", dump({"rows": []}).encode(), JSON, 422),
        ("POST", "/v1/predict", dump({"customers": [CUSTOMER], "explain": 99}).encode(), JSON, 422),
        ("GET", "/predict", b"", {}, 405),
        ("GET", "/no/such/route", b"", {}, 404),
        ("GET", "/readyz", b"", {}, 200),
        ("GET", "/v1/model", b"", {}, 200),
    ]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def client(url: str, plan: list[tuple[str, str, bytes, dict[str, str], int]], deadline: float, tally: Tally) -> None:
    """One keep-alive connection sending the plan round and round until the deadline."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    i = 0
    while time.monotonic() < deadline:
        method, path, body, headers, expected = plan[i % len(plan)]
        i += 1
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as e:
            with tally.lock:
                tally.errors.append(f"{method} {path}: {type(e).__name__}: {e}")
            conn.close()
            continue
        elapsed = time.perf_counter() - started
        with tally.lock:
            tally.latencies.append(elapsed)
            tally.statuses[response.status] = tally.statuses.get(response.status, 0) + 1
            if response.status != expected:
                tally.unexpected.append(f"{method} {path}: {response.status}, expected {expected}")
        if response.will_close:
            conn.close()
    conn.close()


def run(url: str, connections: int, seconds: float, mode: str, api_key: str | None) -> dict[str, Any]:
    plan = soak_requests() if mode == "soak" else [("POST", "/predict", json.dumps(CUSTOMER).encode(), JSON, 200)]
    if api_key:
        plan = [(m, p, b, {**h, "Authorization": f"Bearer {api_key}"}, s) for m, p, b, h, s in plan]
    tally = Tally()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(url, plan, deadline, tally)) for _ in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summary(tally, time.monotonic() - started, mode, connections)


def summary(tally: Tally, elapsed: float, mode: str, connections: int) -> dict[str, Any]:
    lat = sorted(tally.latencies) or [0.0]
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    return {
        "mode": mode,
        "connections": connections,
        "seconds": round(elapsed, 1),
        "requests": len(tally.latencies),
        "requests_per_second": round(len(tally.latencies) / elapsed, 1),
        "latency_ms": {
            "p50": round(statistics.median(lat) * 1000, 2),
            "p99": round(lat[int(len(lat) * 0.99) - 1 if len(lat) > 1 else 0] * 1000, 2),
            "max": round(lat[-1] * 1000, 2),
        },
        "statuses": dict(sorted(tally.statuses.items())),
        "server_errors": server_errors,
        "connection_errors": len(tally.errors),
        "unexpected": len(tally.unexpected),
        "examples": (tally.errors + tally.unexpected)[:5],
        "ok": not tally.errors and not tally.unexpected and server_errors == 0,
    }


def start_server() -> tuple[subprocess.Popen[bytes], str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2")}
    cmd = [sys.executable, "churn_serving.py"]
    proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc, url, log
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service (default: start the shipped server on 127.0.0.1)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--mode", choices=("steady", "soak"), default="steady")
    parser.add_argument("--api-key", default=os.environ.get("CHURN_API_KEY"))
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        server, url, log = start_server()
    try:
        result = run(url, args.connections, args.seconds, args.mode, args.api_key)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
            log.close()
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
