"""Real server processes for the tests: redis-server, the RQ worker, nginx, each on free ports in a temp dir."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import PROJECT, child_pids, free_port


def need(program: str) -> str:
    path = shutil.which(program) or next(
        (p for p in (f"/usr/sbin/{program}", f"/usr/bin/{program}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        pytest.skip(f"{program} is not installed (scripts/system-deps/20-redis-nginx.sh installs it)")
    return path


def wait_for(check: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, redis.RedisError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout} s")


class Process:
    """A child process we started, stopped by its own pid only."""

    proc: subprocess.Popen[bytes] | None = None
    log: Path

    def spawn(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no chance to tidy up (Redis loses what its append-only file had not yet written)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(20)

    def children(self) -> list[int]:
        """Pids of the process's children (an RQ worker's work horse)."""
        return [] if self.proc is None else child_pids(self.proc.pid)

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)


class RedisServer(Process):
    def __init__(self, tmp: Path, port: int | None = None):
        self.port = port or free_port()
        self.dir = tmp
        self.log = tmp / "redis.log"
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        cmd = [need("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        self.spawn([*cmd, "--appendonly", "yes", "--save", "", "--daemonize", "no"])
        wait_for(lambda: redis.Redis.from_url(self.url, socket_timeout=1).ping(), "redis-server")
        return self


class RQWorker(Process):
    def __init__(self, tmp: Path, redis_url: str, env: dict[str, str] | None = None):
        self.tmp = tmp
        self.env = {**os.environ, "REDIS_URL": redis_url, **(env or {})}

    def start(self) -> RQWorker:
        self.log = self.tmp / f"worker-{time.monotonic_ns()}.log"
        self.spawn([sys.executable, "worker.py"], self.env)
        wait_for(lambda: b"worker ready" in self.log.read_bytes() or self.failed(), "worker")
        if self.failed():
            raise RuntimeError(f"worker exited: {self.log.read_text()}")
        return self

    def failed(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None
