"""The shipped server (churn/server/launch.py: granian), started for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import PROJECT, child_pids, free_port, make_customer


def window_rows(url: str) -> float:
    for line in scraped(url).splitlines():
        if line.startswith('churn_window_rows{kind="scored"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no churn_window_rows in /metrics")


def scraped(url: str, within: float = 10) -> str:
    """/metrics, tried again while a connection is reset: right after a worker is killed, one the kernel
    had queued on its socket is reset (see below), whichever request it carries."""
    deadline = time.monotonic() + within
    while True:
        try:
            return requests.get(url + "/metrics", timeout=5).text
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "/metrics unanswered"
            time.sleep(0.05)


@pytest.mark.server
def test_the_launcher_serves_recovers_a_killed_worker_and_stops_on_sigterm(tmp_path: Path) -> None:
    pytest.importorskip("granian")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m")}
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "churn_serving.py"], cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        for _ in range(40):  # new connections: both workers score some
            assert requests.post(url + "/predict", json=make_customer(), timeout=5).status_code == 200
        time.sleep(1.5)  # the window is published once a second
        workers = child_pids(proc.pid)
        assert len(workers) == 2 and window_rows(url) == 40
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while workers[0] in (now := child_pids(proc.pid)) or len(now) < 2:  # a child until it is reaped
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.05)
        # Each granian worker listens on its own SO_REUSEPORT socket: a connection the kernel had queued
        # for the killed worker is reset (sysctl net.ipv4.tcp_migrate_req=1 would hand it over).
        answered = 0
        while not answered:
            try:
                answered = requests.post(url + "/predict", json=make_customer(), timeout=5).status_code
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "no answer after the killed worker was replaced"
        assert answered == 200
        assert f"gauge_livesum_{workers[0]}.db" in os.listdir(tmp_path / "m")
        assert window_rows(url) <= 41
        # the scrape dropped the dead worker's window; its counters stay in the totals
        assert f"gauge_livesum_{workers[0]}.db" not in os.listdir(tmp_path / "m")
        assert f"counter_{workers[0]}.db" in os.listdir(tmp_path / "m")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
    assert all(line.startswith("{") for line in log.read_text().splitlines()), "every log line is JSON"
