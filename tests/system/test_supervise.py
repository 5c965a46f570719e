"""supervise.py, the image's entry point, as real processes: the API alone (exec'd) or the API and RQ
workers, a worker started again when it exits, SIGTERM passed to every child, the API's exit ending
it, and `--check` (the HEALTHCHECK) failing while a worker is missing."""

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

import supervise
from tests.conftest import DATA_PATH, PROJECT, free_port, make_customer, wait_until_ready
from tests.support.servers import RedisServer

pytestmark = pytest.mark.server


class Supervised:
    """`python supervise.py` on a free port, its output in a log file."""

    def __init__(self, tmp: Path, *args: str, port_variable: str = "PORT", **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, port_variable: str(self.port), "CHURN_GRACEFUL_TIMEOUT": "5"}
        self.env.pop("CHURN_API_KEYS", None)
        self.env.update(env)
        self.log = tmp / "supervise.log"
        with self.log.open("ab") as out:
            command = [sys.executable, "supervise.py", *args]
            self.proc = subprocess.Popen(command, cwd=PROJECT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_until_ready(self.url + "/readyz", self.proc)

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def workers(self) -> list[int]:
        return [pid for pid in self.children() if cmdline(pid)[1:2] == ["worker.py"]]

    def check(self, **env: str) -> int:
        command = [sys.executable, "supervise.py", "--check"]
        done = subprocess.run(command, cwd=PROJECT, env={**self.env, **env}, check=False)
        return done.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def alive(pid: int) -> bool:
    return bool(cmdline(pid))


def eventually(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def supervised(tmp_path: Path, redis_server: RedisServer) -> Iterator[Supervised]:
    s = Supervised(tmp_path, REDIS_URL=redis_server.url, CHURN_EMBEDDED_WORKERS="2")
    eventually(lambda: len(s.workers()) == 2, "two workers running")
    yield s
    s.stop()


@pytest.mark.parametrize("env", [{}, {"CHURN_EMBEDDED_WORKERS": "1"}], ids=["no-workers", "workers-without-redis"])
def test_without_workers_or_redis_the_api_is_the_process_itself(tmp_path: Path, env: dict[str, str]) -> None:
    s = Supervised(tmp_path, REDIS_URL="", **env)
    try:
        assert cmdline(s.proc.pid)[1:] == ["churn_serving.py"]  # exec'd: PID 1 in the image
        assert s.check() == 0
    finally:
        s.stop()
    assert s.proc.returncode == 0


@pytest.mark.parametrize("workers", ["0", "1"])
def test_arguments_go_to_the_api(tmp_path: Path, redis_server: RedisServer, workers: str) -> None:
    # `docker run IMAGE serve` (SageMaker): the API's port is then SAGEMAKER_BIND_TO_PORT, not PORT
    env = {"REDIS_URL": redis_server.url, "CHURN_EMBEDDED_WORKERS": workers}
    s = Supervised(tmp_path, "serve", port_variable="SAGEMAKER_BIND_TO_PORT", **env)
    try:
        assert requests.get(s.url + "/ping", timeout=5).text.strip() == "PONG"
        api = s.proc.pid if workers == "0" else next(p for p in s.children() if "churn_serving.py" in cmdline(p))
        assert cmdline(api)[1:] == ["churn_serving.py", "serve"]
    finally:
        s.stop()


def test_a_worker_that_exits_is_started_again_and_runs_jobs(supervised: Supervised) -> None:
    assert supervised.check() == 0
    killed = supervised.workers()[0]
    os.kill(killed, signal.SIGKILL)  # a process this test started
    eventually(lambda: len(supervised.workers()) == 2 and killed not in supervised.workers(), "worker restarted")
    submitted = requests.post(f"{supervised.url}/v1/jobs", json={"customers": [make_customer()]}, timeout=10)
    assert submitted.status_code == 202, submitted.text
    status_url = supervised.url + submitted.json()["status_url"]
    eventually(lambda: requests.get(status_url, timeout=10).status_code == 200, "the job done")
    assert "started again" in supervised.log.read_text()
    # healthy again once the slot has its worker (the HEALTHCHECK itself retries): a check taken at the
    # instant a worker is being started again sees one fewer
    eventually(lambda: supervised.check() == 0, f"healthy again; the supervisor said:\n{supervised.log.read_text()}")


def test_the_health_check_wants_every_worker_running(supervised: Supervised) -> None:
    assert supervised.check() == 0
    assert supervised.check(CHURN_EMBEDDED_WORKERS="3") == 1  # two of three: unhealthy
    assert supervised.check(REDIS_URL="") == 0  # no queue, no worker expected


def test_sigterm_stops_the_api_and_every_worker(supervised: Supervised) -> None:
    children = supervised.children()
    supervised.proc.send_signal(signal.SIGTERM)
    assert supervised.proc.wait(30) == 0
    assert not any(alive(pid) for pid in children)


def test_the_api_exiting_ends_the_supervisor_and_its_workers(supervised: Supervised) -> None:
    (api,) = [pid for pid in supervised.children() if cmdline(pid)[1:2] == ["churn_serving.py"]]
    workers = supervised.workers()
    os.kill(api, signal.SIGKILL)
    assert supervised.proc.wait(30) != 0
    assert not any(alive(pid) for pid in workers)


def test_campaign_async_against_the_image_s_aws_mode_matches_offline(tmp_path: Path, redis_server: RedisServer) -> None:
    # as on Elastic Beanstalk: API keys on, one embedded worker, the jobs queue in Redis
    key = "k-" + os.urandom(8).hex()
    s = Supervised(tmp_path, REDIS_URL=redis_server.url, CHURN_EMBEDDED_WORKERS="1", CHURN_API_KEYS=key)
    try:
        eventually(lambda: len(s.workers()) == 1, "the worker running")
        outputs = {}
        for name, args in (("offline", ["--offline"]), ("async", ["--url", s.url, "--async", "--chunk-size", "2000"])):
            out = tmp_path / f"{name}.csv"
            command = [sys.executable, "campaign.py", "score", str(DATA_PATH), "-o", str(out), "--explain", "1", *args]
            env = {**os.environ, "CHURN_API_KEY": key}
            done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
            outputs[name] = out.read_bytes()
        assert outputs["async"] == outputs["offline"]
    finally:
        s.stop()


@pytest.mark.parametrize(
    ("container_args", "env", "port"),
    [
        (["python", "supervise.py"], {"PORT": "9000"}, 9000),
        (["python", "supervise.py", "serve"], {"PORT": "9000"}, 8080),
        (["python", "churn_serving.py", "serve"], {"SAGEMAKER_BIND_TO_PORT": "7000"}, 7000),
        (["/sbin/init", "serve"], {}, 9696),  # not this image's process: not a container started with `serve`
    ],
)
def test_the_health_check_probes_the_port_the_api_listens_on(
    container_args: list[str], env: dict[str, str], port: int
) -> None:
    assert supervise.api_port(env, container_args) == port
