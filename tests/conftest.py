"""Shared fixtures: the real trained model, the app and its client, customer factories, servers."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from churn.config import Settings
from churn.core.model import LoadedModel, load_model
from churn.core.training import REFERENCE_CUSTOMER
from churn.server.app import create_app

PROJECT = Path(__file__).resolve().parent.parent
MODEL_PATH = PROJECT / "churn-model.bin"
DATA_PATH = PROJECT / "data" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"


def make_customer(**overrides: Any) -> dict[str, Any]:
    """The book's reference customer with some fields changed (None removes a field)."""
    customer = copy.deepcopy(REFERENCE_CUSTOMER)
    for key, value in overrides.items():
        if value is None:
            customer.pop(key, None)
        else:
            customer[key] = value
    return customer


def book_probability(model: LoadedModel) -> float:
    """The book's customer (8879-zkjof) as scikit-learn scores it: 0.0596 in the book."""
    record = {k: v for k, v in REFERENCE_CUSTOMER.items() if k != "customerid"}
    return float(model.estimator.predict_proba(model.dv.transform([record]))[0, 1])


@pytest.fixture(scope="session")
def model() -> LoadedModel:
    return load_model(MODEL_PATH)


@pytest.fixture
def app(model: LoadedModel) -> Any:
    return create_app(Settings(max_batch=50, max_body_bytes=64 * 1024), model)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """The process's children; one killed stays among them (a zombie) until the process reaps it."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def wait_until_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading the app
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout} s")


class Server:
    """The service as it ships (`python churn_serving.py`: granian, churn/server/launch.py), on a free port.

    Its output goes to a file, not a pipe: with one log line per request, a pipe nobody drains
    fills after a few hundred requests and stalls the workers.
    """

    def __init__(
        self,
        env: dict[str, str] | None = None,
        cwd: Path = PROJECT,
        log_dir: Path | None = None,
        command: list[str] | None = None,
        args: tuple[str, ...] = (),
    ):
        """`command` replaces the shipped server's; "{port}" in it is the free port. `args` follow it:
        ("serve",) is SageMaker's contract, on the port SAGEMAKER_BIND_TO_PORT names here."""
        self.port = free_port()
        self.command = command or [sys.executable, "churn_serving.py"]
        self.args = args
        self.url = f"http://127.0.0.1:{self.port}"
        port = "SAGEMAKER_BIND_TO_PORT" if "serve" in args else "PORT"
        self.env = {**os.environ, port: str(self.port), "WEB_CONCURRENCY": "2", **(env or {})}
        self.cwd = cwd
        self.log = Path(tempfile.mkdtemp(prefix="churn-server-") if log_dir is None else log_dir)
        self.log = self.log / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Server:
        cmd = [word.replace("{port}", str(self.port)) for word in [*self.command, *self.args]]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if wait:
            wait_until_ready(self.url + "/readyz", self.proc)
        return self

    def stop(self) -> str:
        """Stop with SIGTERM and return everything the server printed."""
        if self.proc is None:  # never started
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)
        return self.log.read_text()


# The book's own command (`gunicorn --bind 0.0.0.0:9696 churn_serving:app`), on stock gunicorn.
BOOK_GUNICORN = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:{port}", "churn_serving:app"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    running = Server().start()
    yield running
    running.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With CHURN_REQUIRE_SERVERS=1 (scripts/test.sh, CI) a server test that skips fails instead."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("server") and os.environ.get("CHURN_REQUIRE_SERVERS") == "1":
        report.outcome = "failed"
        report.longrepr = f"server test skipped but CHURN_REQUIRE_SERVERS=1: {report.longrepr}"
