"""campaign.py --async against the real server, redis-server and worker: giving up on a job, resuming, API keys."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn.campaign.run import state_path
from tests.campaign.test_campaign_server import campaign_cmd, wait_for_progress
from tests.conftest import DATA_PATH, Server
from tests.support.servers import RedisServer, RQWorker

pytestmark = pytest.mark.server

KEY = "campaign-key-0123456789"


def without_key(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without CHURN_API_KEY, plus extra."""
    return {**{k: v for k, v in os.environ.items() if k != "CHURN_API_KEY"}, **(extra or {})}


def run_campaign(
    source: Path, out: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    cmd = campaign_cmd(source, out, *args)
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=without_key(env))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CRM export twice over (14k rows)."""
    lines = DATA_PATH.read_text().splitlines()
    path = tmp_path_factory.mktemp("input") / "customers.csv"
    path.write_text("\n".join([lines[0], *lines[1:], *lines[1:]]) + "\n")
    return path


@pytest.fixture(scope="module")
def expected(source: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("expected") / "out.csv"
    assert run_campaign(source, out, "--offline", "--explain", "1").returncode == 0
    return out.read_bytes()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, RQWorker]]:
    tmp = tmp_path_factory.mktemp("stack")
    store = RedisServer(tmp).start()
    worker = RQWorker(tmp, store.url).start()
    api = Server(log_dir=tmp, env={"REDIS_URL": store.url, "CHURN_API_KEYS": KEY}).start()
    yield api, worker
    api.stop()
    worker.stop()
    store.stop()


def test_a_job_that_does_not_finish_in_time_exits_5_and_resume_gives_the_whole_output(
    stack: tuple[Server, RQWorker], source: Path, expected: bytes, tmp_path: Path
) -> None:
    api, worker = stack
    out = tmp_path / "out.csv"
    args = ("--url", api.url, "--async", "--chunk-size", "500", "--concurrency", "2", "--explain", "1")
    env_key = {"CHURN_API_KEY": KEY}
    cmd = campaign_cmd(source, out, *args, "--job-timeout", "4")
    client = subprocess.Popen(cmd, env=without_key(env_key), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_progress(out, client, 2000)
    worker.signal(signal.SIGSTOP)  # jobs now wait in the queue
    try:
        stderr = client.communicate(timeout=60)[1].decode()
    finally:
        worker.signal(signal.SIGCONT)
    assert client.returncode == 5, stderr
    assert "did not finish within 4 s" in stderr and "--resume" in stderr
    state = json.loads(state_path(out).read_text())
    assert 2000 <= state["rows_done"] < 2 * 7043 and not state["complete"]
    resumed = run_campaign(source, out, *args, "--resume", env=env_key)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == expected


@pytest.mark.parametrize("how", ["env", "file", "flag", "none"])
def test_the_api_key_comes_from_the_environment_or_a_file_and_the_flag_warns(
    stack: tuple[Server, RQWorker], source: Path, expected: bytes, tmp_path: Path, how: str
) -> None:
    api, _ = stack
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    extra = {"file": ("--api-key-file", str(key_file)), "flag": ("--api-key", KEY)}.get(how, ())
    env = {"CHURN_API_KEY": KEY} if how == "env" else {}
    out = tmp_path / "out.csv"
    done = run_campaign(
        source, out, "--url", api.url, "--async", "--chunk-size", "3000", "--explain", "1", *extra, env=env
    )
    if how == "none":
        assert done.returncode == 4 and "unauthorized" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == expected
    assert ("--api-key shows the key to every user" in done.stderr) == (how == "flag")
