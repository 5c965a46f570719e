"""docker-compose.yml itself, run by podman-compose (scripts/compose.sh): every service in its container,
a campaign through nginx (sync, and async through Redis and the worker) equal to an offline run, a
clean stop, and `down -v` leaving nothing behind.

The images no registry gives here are local stand-ins (scripts/podman/stand-ins/); the service's image
is the one tests/system/test_container.py checks (same tag: whichever test builds it first, the other reuses it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import DATA_PATH, PROJECT, free_port
from tests.support.container_support import TEST_IMAGE, podman
from tests.support.servers import wait_for

pytestmark = pytest.mark.server

SERVICES = {"redis_1", "api_1", "api_2", "worker_1", "nginx_1"}  # deploy.replicas: 2 for api


class ComposeStack:
    """One compose project of docker-compose.yml under a unique name, nginx on a free port."""

    def __init__(self) -> None:
        if shutil.which("podman") is None:
            pytest.skip("podman is missing: run scripts/system-deps/30-podman.sh and 31-podman-dns.sh")
        self.project = f"churn-compose-{uuid.uuid4().hex[:8]}"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "CHURN_IMAGE": TEST_IMAGE, "STACK_PORT": str(port)}

    def compose(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        """scripts/compose.sh -p PROJECT ARGS; `up` may first build images (long on a fresh machine)."""
        cmd = ["bash", "scripts/compose.sh", "-p", self.project, *args]
        return subprocess.run(
            cmd, cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def containers(self, *filters: str) -> dict[str, str]:
        """Service container (e.g. "api_2") -> its full name, for this project's containers."""
        label = f"label=io.podman.compose.project={self.project}"
        names = podman("ps", "-a", "--filter", label, *filters, "--format", "{{.Names}}").stdout.split()
        return {name.removeprefix(f"{self.project}_"): name for name in names}

    def logs(self, service: str) -> str:
        done = podman("logs", self.containers()[service], check=False)
        return done.stdout + done.stderr

    def all_logs(self) -> str:
        return "\n".join(f"--- {service}\n{self.logs(service)[-3000:]}" for service in sorted(self.containers()))

    def ready(self) -> bool:
        return requests.get(f"{self.url}/readyz", timeout=2).status_code == 200


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    s = ComposeStack()
    try:
        up = s.compose("up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        try:
            wait_for(s.ready, f"nginx at {s.url}", timeout=120)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{s.all_logs()}") from exc
        yield s
    finally:
        s.compose("down", "-v", timeout=300)


def campaign(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "campaign.py", "score", str(DATA_PATH), "-o", str(out), "--explain", "1", *args]
    return subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False)


def test_every_service_runs_in_its_own_container(stack: ComposeStack) -> None:
    assert set(stack.containers("--filter", "status=running")) == SERVICES, stack.all_logs()
    # the worker runs worker.py from the API's image: compose's entrypoint replaced the API server
    entrypoint = podman("inspect", stack.containers()["worker_1"], "--format", "{{.Config.Entrypoint}}")
    assert "worker.py" in entrypoint.stdout


def test_a_campaign_through_nginx_sync_and_async_matches_offline(stack: ComposeStack, tmp_path: Path) -> None:
    offline = campaign(tmp_path / "offline.csv", "--offline")
    assert offline.returncode == 0, offline.stderr
    sync = campaign(tmp_path / "sync.csv", "--url", stack.url, "--chunk-size", "500")
    assert sync.returncode == 0, sync.stderr + stack.all_logs()
    jobs = campaign(tmp_path / "async.csv", "--url", stack.url, "--async", "--chunk-size", "2000")
    assert jobs.returncode == 0, jobs.stderr + stack.all_logs()
    expected = (tmp_path / "offline.csv").read_bytes()
    assert (tmp_path / "sync.csv").read_bytes() == expected
    assert (tmp_path / "async.csv").read_bytes() == expected
    # nginx found both API replicas by the service name `api` and used both of them
    for replica in ("api_1", "api_2"):
        log = stack.logs(replica)
        assert '"route":"/v1/predict"' in log and '"route":"/v1/jobs"' in log, log[-3000:]
    # and the worker, which found Redis by the service name `redis`, ran the jobs
    assert "churn" in stack.logs("worker_1") and "Job OK" in stack.logs("worker_1")


def test_a_worker_that_dies_is_started_again(stack: ComposeStack) -> None:
    """restart: unless-stopped: the worker's process SIGKILLed from the host comes back in a new process."""
    name = stack.containers()["worker_1"]

    def state() -> tuple[int, str]:
        pid, status = podman("inspect", name, "--format", "{{.State.Pid}} {{.State.Status}}").stdout.split()
        return int(pid), status

    pid, _ = state()
    os.kill(pid, signal.SIGKILL)  # the container's own process, which this test's compose project started
    wait_for(lambda: state()[1] == "running" and state()[0] not in (0, pid), "the worker restarted", timeout=60)
    customer = json.loads((PROJECT / "examples" / "customer.json").read_text())
    submitted = requests.post(f"{stack.url}/v1/jobs", json={"customers": [customer]}, timeout=10).json()
    status_url = stack.url + submitted["status_url"]
    wait_for(lambda: requests.get(status_url, timeout=10).status_code == 200, "a job run by the new worker", 60)


def test_every_service_stops_cleanly_then_down_removes_containers_network_and_volume(stack: ComposeStack) -> None:
    stop = stack.compose("stop", timeout=300)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    exits = {
        s: podman("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip()
        for s, name in stack.containers().items()
    }
    assert exits == dict.fromkeys(SERVICES, "0"), stack.all_logs()
    down = stack.compose("down", "-v", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert stack.containers() == {}
    assert podman("volume", "exists", f"{stack.project}_redis-data", check=False).returncode == 1
    assert podman("network", "exists", f"{stack.project}_default", check=False).returncode == 1
