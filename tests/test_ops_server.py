"""Operations on real gunicorn with two workers: /metrics adds up every worker, the OpenAPI document
holds under schemathesis, and /docs renders its operations in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import PROJECT, make_customer
from tests.ops_support import CUSTOMER, FileGunicorn, post_json, wait_for_workers

pytestmark = pytest.mark.server
KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def metrics_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="churn-metrics-test-") as path:
        yield Path(path)


@pytest.fixture(scope="module")
def secured(metrics_dir: Path) -> Iterator[FileGunicorn]:
    (metrics_dir / "counter_999999.db").write_bytes(b"stale file of an earlier run")
    server = FileGunicorn(env={"CHURN_API_KEYS": KEY, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}).start()
    yield server
    server.stop()


def scrape(server: FileGunicorn) -> dict[str, float]:
    # A new connection each time, so that scrapes land on either worker.
    text = requests.get(server.url + "/metrics", headers={**AUTH, "Connection": "close"}, timeout=10).text
    return {name: float(value) for name, value in re.findall(r"^(\S+) (\S+)$", text, re.MULTILINE)}


def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    """Windows are published once a second per worker: wait for the figures to settle."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the metrics did not settle"
        time.sleep(0.2)


def test_metrics_add_up_every_worker(secured: FileGunicorn, metrics_dir: Path) -> None:
    assert not (metrics_dir / "counter_999999.db").exists()  # wiped at start
    for i in range(60):
        headers = {**AUTH, "Content-Type": "application/json", "Connection": "close"}
        body = make_customer(contract="weekly") if i % 6 == 0 else make_customer()
        assert requests.post(secured.url + "/predict", json=body, headers=headers, timeout=10).status_code in (200, 422)
    pids = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}
    assert set(wait_for_workers(secured, 2)) <= pids  # both workers served some of them

    def settled() -> bool:
        got = scrape(secured)
        return got.get('churn_window_rows{kind="seen"}') == 60

    eventually(settled)
    for _ in range(4):  # whichever worker answers, the totals are the same
        got = scrape(secured)
        assert got['churn_http_requests_total{route="/predict",status="200"}'] == 50
        assert got['churn_http_requests_total{route="/predict",status="422"}'] == 10
        assert got['churn_predictions_total{decision="no_churn"}'] == 50
        assert got['churn_rejected_rows_total{code="unknown_category"}'] == 10
        assert got["churn_recent_unknown_category_ratio"] == pytest.approx(10 / 60)
        assert got['churn_http_request_duration_seconds_count{route="/predict",status="200"}'] == 50


def test_a_dead_workers_window_leaves_but_its_counts_stay(secured: FileGunicorn) -> None:
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


def test_metrics_need_the_key_and_health_does_not(secured: FileGunicorn) -> None:
    assert requests.get(secured.url + "/metrics", timeout=10).status_code == 401
    assert requests.get(secured.url + "/readyz", timeout=10).status_code == 200
    assert post_json(secured.url + "/predict", CUSTOMER, timeout=10).status_code == 401


def test_schemathesis_finds_no_fault_in_the_api(secured: FileGunicorn) -> None:
    st = Path(sys.executable).parent / "st"
    cmd = [str(st), "run", secured.url + "/openapi.json", "--checks", "all", "--max-examples", "80",
           "--seed", "20261121", "--header", f"Authorization: Bearer {KEY}", "--no-color"]  # fmt: skip
    result = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False)
    tail = result.stdout[-5000:]
    assert result.returncode == 0, tail
    assert "7 selected / 7 total" in result.stdout or "Tested: 7" in result.stdout, tail


def test_docs_render_every_operation_in_headless_chromium(secured: FileGunicorn, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/system-deps/60-chromium.sh)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path}", "--virtual-time-budget=20000", "--dump-dom"]  # fmt: skip
    result = subprocess.run(
        [chromium, *flags, secured.url + "/docs"], capture_output=True, text=True, timeout=120, check=False
    )
    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', result.stdout))
    documented = set(requests.get(secured.url + "/openapi.json", timeout=10).json()["paths"])
    assert paths == documented, result.stdout[-2000:] + result.stderr[-2000:]
