"""Operations on the real server with two workers: /metrics adds up every worker, the OpenAPI document
holds under schemathesis, and /docs renders its operations in headless Chromium."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import PROJECT, Server, make_customer
from tests.support.browser import chromium
from tests.support.ops_support import CUSTOMER, post_json, wait_for_workers
from tests.support.servers import RedisServer, RQWorker

pytestmark = pytest.mark.server
KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def metrics_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="churn-metrics-test-") as path:
        yield Path(path)


@pytest.fixture(scope="module")
def secured(metrics_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers with API keys and a real Redis + RQ worker, so the job routes do real work too."""
    (metrics_dir / "counter_999999.db").write_bytes(b"stale file of an earlier run")
    tmp = tmp_path_factory.mktemp("jobs")
    store = RedisServer(tmp).start()
    worker = RQWorker(tmp, store.url).start()
    env = {"CHURN_API_KEYS": KEY, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "REDIS_URL": store.url}
    server = Server(env=env).start()
    yield server
    server.stop()
    worker.stop()
    store.stop()


def scrape(server: Server) -> dict[str, float]:
    # A new connection each time, so that scrapes land on either worker.
    text = requests.get(server.url + "/metrics", headers={**AUTH, "Connection": "close"}, timeout=10).text
    return {name: float(value) for name, value in re.findall(r"^(\S+) (\S+)$", text, re.MULTILINE)}


def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    """Windows are published once a second per worker: wait for the figures to settle."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the metrics did not settle"
        time.sleep(0.2)


def test_metrics_add_up_every_worker(secured: Server, metrics_dir: Path) -> None:
    assert not (metrics_dir / "counter_999999.db").exists()  # wiped at start
    headers = {**AUTH, "Content-Type": "application/json", "Connection": "close"}
    workers = set(wait_for_workers(secured, 2))
    sent = 0
    # Rounds of 5 good + 1 bad request until both workers have served some (the kernel picks the worker).
    while sent < 60 or not workers <= {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}:
        assert sent < 3000, "one worker never got a request"
        for i in range(6):
            body = make_customer(contract="weekly") if i == 0 else make_customer()
            status = requests.post(secured.url + "/predict", json=body, headers=headers, timeout=10).status_code
            assert status == (422 if i == 0 else 200)
        sent += 6
    good, bad = sent * 5 // 6, sent // 6

    def settled() -> bool:
        got = scrape(secured)
        return got.get('churn_window_rows{kind="seen"}') == sent  # far below the windows' size

    eventually(settled)
    for _ in range(4):  # whichever worker answers, the totals are the same
        got = scrape(secured)
        assert got['churn_http_requests_total{route="/predict",status="200"}'] == good
        assert got['churn_http_requests_total{route="/predict",status="422"}'] == bad
        assert got['churn_predictions_total{decision="no_churn"}'] == good
        assert got['churn_rejected_rows_total{code="unknown_category"}'] == bad
        assert got["churn_recent_unknown_category_ratio"] == pytest.approx(bad / sent)
        assert got['churn_http_request_duration_seconds_count{route="/predict",status="200"}'] == good


def test_a_dead_workers_window_leaves_but_its_counts_stay(secured: Server) -> None:
    before = scrape(secured)
    victim = wait_for_workers(secured, 2)[0]
    os.kill(victim, signal.SIGKILL)
    eventually(lambda: victim not in wait_for_workers(secured, 2))
    eventually(
        lambda: scrape(secured).get('churn_window_rows{kind="seen"}', 0) < before['churn_window_rows{kind="seen"}']
    )
    after = scrape(secured)
    assert (
        after['churn_predictions_total{decision="no_churn"}'] == before['churn_predictions_total{decision="no_churn"}']
    )


def test_metrics_need_the_key_and_health_does_not(secured: Server) -> None:
    assert requests.get(secured.url + "/metrics", timeout=10).status_code == 401
    assert requests.get(secured.url + "/readyz", timeout=10).status_code == 200
    assert post_json(secured.url + "/predict", CUSTOMER, timeout=10).status_code == 401


def test_schemathesis_finds_no_fault_in_the_api(secured: Server) -> None:
    st = Path(sys.executable).parent / "st"
    cmd = [str(st), "run", secured.url + "/openapi.json", "--checks", "all", "--max-examples", "80",
           "--seed", "20261121", "--header", f"Authorization: Bearer {KEY}", "--no-color"]  # fmt: skip
    result = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False)
    tail = result.stdout[-5000:]
    assert result.returncode == 0, tail
    document = requests.get(secured.url + "/openapi.json", headers=AUTH, timeout=10).json()
    # Every operation fuzzed but the one serving the document itself, which schemathesis leaves out.
    fuzzed = sum(len(item) for path, item in document["paths"].items() if path != "/openapi.json")
    assert f"{fuzzed} selected / {fuzzed} total" in result.stdout or f"Tested: {fuzzed}" in result.stdout, tail


def test_docs_render_every_operation_in_headless_chromium(secured: Server, tmp_path: Path) -> None:
    result = chromium(secured.url + "/docs", tmp_path, "--virtual-time-budget=20000", "--dump-dom")
    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', result.stdout))
    documented = set(requests.get(secured.url + "/openapi.json", timeout=10).json()["paths"])
    assert paths == documented, result.stdout[-2000:] + result.stderr[-2000:]
