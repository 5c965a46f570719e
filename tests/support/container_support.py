"""The service's image under podman: build it, run a container on a free port, probe and stop it.

Used by tests/system/test_container.py, tests/system/test_eb_cli.py and `make container-test`
(tests/support/container_check.py).
podman is configured by scripts/podman/lib.sh (CONTAINERS_CONF); the image is built by
scripts/container-build.sh, which also makes the local python:3.11-slim stand-in when missing.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import requests

from tests.conftest import PROJECT, free_port

CONTAINERS_CONF = PROJECT / "build" / "podman" / "containers.conf"
CONTAINER_PORT = 9696


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, check=check, timeout=timeout
    )


def build_image(tag: str, context: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    """scripts/container-build.sh on `context` (a project tree); returns the finished process."""
    env = {**os.environ, "IMAGE": tag}
    return subprocess.run(
        ["bash", str(context / "scripts" / "container-build.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


TEST_IMAGE = "localhost/churn-serving:test"


@functools.cache
def built_image() -> str:
    """The project's image, built once per test run (the first build makes the base image too)."""
    if shutil.which("podman") is None or shutil.which("unshare") is None:
        raise RuntimeError("podman is missing: run scripts/system-deps/30-podman.sh")
    done = build_image(TEST_IMAGE)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/container-build.sh failed:\n{done.stdout}\n{done.stderr}")
    return TEST_IMAGE


def image_size_mb(tag: str) -> float:
    return int(podman("image", "inspect", tag, "--format", "{{.Size}}").stdout.strip()) / 1e6


class Container:
    """One container of `image`, its port published on 127.0.0.1 only."""

    def __init__(
        self, image: str, env: dict[str, str] | None = None, args: tuple[str, ...] = (), port: int = CONTAINER_PORT
    ):
        self.image = image
        self.args = args  # after the image: ("serve",) is how SageMaker runs it, on port 8080
        self.container_port = port
        self.name = f"churn-test-{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env or {}
        self.started = 0.0

    def start(self) -> Container:
        env_args = [a for k, v in self.env.items() for a in ("-e", f"{k}={v}")]
        self.started = time.monotonic()
        published = f"127.0.0.1:{self.port}:{self.container_port}"
        podman("run", "-d", "--name", self.name, "-p", published, *env_args, self.image, *self.args)
        return self

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from `podman run` to the first 200 from /readyz."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - self.started
            except requests.ConnectionError:
                pass
            if self.state("{{.State.Running}}") != "true":
                raise RuntimeError(f"container exited before it was ready:\n{self.logs()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.url}/readyz not ready after {timeout} s:\n{self.logs()}")

    def state(self, template: str) -> str:
        return podman("inspect", self.name, "--format", template).stdout.strip()

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *cmd, check=False)

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def stop(self, grace: int = 30) -> int:
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
        podman("stop", "-t", str(grace), self.name, timeout=grace + 30)
        return int(self.state("{{.State.ExitCode}}"))

    def remove(self) -> None:
        podman("rm", "-f", "-t", "0", self.name, check=False)
