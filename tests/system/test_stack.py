"""The local stack (scripts/stack.sh = `make stack`): a campaign through nginx, sync and async, and a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import DATA_PATH, PROJECT, child_pids, free_port, make_customer
from tests.support.servers import need

pytestmark = pytest.mark.server


class Stack:
    def __init__(self, folder: Path):
        need("nginx")
        need("redis-server")
        self.dir = folder
        self.api_ports = [free_port(), free_port()]
        self.env = {
            **os.environ,
            "STACK_DIR": str(folder),
            "STACK_PORT": str(free_port()),
            "STACK_API_PORTS": " ".join(map(str, self.api_ports)),
            "STACK_REDIS_PORT": str(free_port()),
            "PYTHON": sys.executable,
        }
        self.url = f"http://127.0.0.1:{self.env['STACK_PORT']}"

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "scripts/stack.sh", command],
            cwd=PROJECT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def pids(self) -> dict[str, int]:
        return {p.stem: int(p.read_text()) for p in self.dir.glob("*.pid")}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("stack"))
    started = s.run("start")
    try:
        assert started.returncode == 0, started.stderr
        yield s
    finally:
        s.run("stop")


def campaign(stack: Stack, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "campaign.py", "score", str(DATA_PATH), "-o", str(out), "--explain", "1", *args]
    return subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False)


def test_a_campaign_through_nginx_sync_and_async_matches_offline(stack: Stack, tmp_path: Path) -> None:
    offline = campaign(stack, tmp_path / "offline.csv", "--offline")
    assert offline.returncode == 0, offline.stderr
    sync = campaign(stack, tmp_path / "sync.csv", "--url", stack.url, "--chunk-size", "500")
    assert sync.returncode == 0, sync.stderr
    jobs = campaign(stack, tmp_path / "async.csv", "--url", stack.url, "--async", "--chunk-size", "2000")
    assert jobs.returncode == 0, jobs.stderr
    expected = (tmp_path / "offline.csv").read_bytes()
    assert (tmp_path / "sync.csv").read_bytes() == expected
    assert (tmp_path / "async.csv").read_bytes() == expected
    access_log = (stack.dir / "nginx-access.log").read_text()
    assert "POST /v1/predict" in access_log and "POST /v1/jobs" in access_log


def test_nginx_balances_over_both_apis_and_survives_losing_one(stack: Stack) -> None:
    batch = {"customers": [make_customer()]}
    for _ in range(8):
        assert requests.post(f"{stack.url}/v1/predict", json=batch, timeout=10).status_code == 200
    logs = [(stack.dir / f"api-{port}.log").read_text() for port in stack.api_ports]
    # both took requests: each API process logs one JSON line per request (churn.server.middleware)
    assert all('"route":"/v1/predict"' in log for log in logs), logs
    first = stack.pids()[f"api-{stack.api_ports[0]}"]
    os.kill(first, signal.SIGTERM)
    for _ in range(8):
        response = requests.post(f"{stack.url}/v1/predict", json=batch, timeout=10)
        nginx_log = (stack.dir / "nginx.log").read_text()[-3000:]
        assert response.status_code == 200, (response.headers, response.text, nginx_log)


def test_a_worker_that_exits_is_started_again(stack: Stack) -> None:
    supervisor = stack.pids()["worker"]
    (first,) = child_pids(supervisor)
    os.kill(first, signal.SIGKILL)  # a process this stack started
    deadline = time.monotonic() + 30
    while child_pids(supervisor) in ([], [first]):
        assert time.monotonic() < deadline, "the worker was not started again"
        time.sleep(0.1)
    submitted = requests.post(f"{stack.url}/v1/jobs", json={"customers": [make_customer()]}, timeout=10).json()
    while (status := requests.get(stack.url + submitted["status_url"], timeout=10)).status_code == 202:
        assert time.monotonic() < deadline + 30, "the new worker did not run the job"
        time.sleep(0.1)
    assert status.status_code == 200
    assert "starting it again" in (stack.dir / "worker.log").read_text()


def test_stop_stops_every_process(tmp_path: Path) -> None:
    s = Stack(tmp_path)
    assert s.run("start").returncode == 0
    pids = s.pids()
    assert set(pids) == {"nginx", "redis", "worker", *(f"api-{p}" for p in s.api_ports)}
    assert all(alive(pid) for pid in pids.values())
    supervised = child_pids(pids["worker"])  # the worker process itself, under its restart loop
    assert s.run("stop").returncode == 0
    assert not any(alive(pid) for pid in [*pids.values(), *supervised])
    assert "running" not in s.run("status").stdout
