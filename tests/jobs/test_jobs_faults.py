"""Async jobs through faults, on a real redis-server and real worker processes.

Redis SIGKILLed (idle or mid-job) and restarted 3 s later from its append-only file; the work horse,
the worker or both SIGKILLed mid-job; Redis paused while clients hammer the job routes of a real
the real server. The worker outlives Redis, a job is never "running" forever (finished, retried or failed
within the documented bound) and scoring never waits behind the job routes.
"""

from __future__ import annotations

import csv
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import rq.worker.base
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from churn.jobs.queue import QUEUE_NAME
from churn.jobs.worker import ChurnWorker, RedisLossSaidOnce, abandoned_within, say_redis_loss_once
from churn.server.app import create_app
from tests.conftest import DATA_PATH, Server, make_customer
from tests.support.servers import RedisServer, RQWorker

pytestmark = pytest.mark.server

HEARTBEAT = 1  # seconds (CHURN_JOB_HEARTBEAT): the bound below scales with it
SLACK = 15  # seconds on top of the documented bound: process start-up, a busy test machine
COPIES = 5  # the data set five times over: a job that runs for a second or two
EXPLAIN = 19


@pytest.fixture(scope="module")
def long_csv() -> str:
    with DATA_PATH.open(newline="") as f:
        lines = f.read().splitlines()
    return "\n".join([lines[0], *(lines[1:] * COPIES)]) + "\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def api_for(model: LoadedModel, store: RedisServer, retries: int = 2) -> Any:
    settings = Settings(
        redis_url=store.url,
        redis_timeout=1.0,
        job_ttl=300,
        job_max_batch=100_000,
        job_max_cost=10**7,
        max_body_bytes=64 * 1024 * 1024,
        job_retries=retries,
    )
    return create_app(settings, model).test_client()


def start_worker(tmp: Path, store: RedisServer) -> RQWorker:
    return RQWorker(tmp, store.url, {"CHURN_JOB_HEARTBEAT": str(HEARTBEAT)}).start()


def submit_long(api: Any, body: str) -> str:
    response = api.post(f"/v1/jobs?explain={EXPLAIN}", data=body, content_type="text/csv")
    assert response.status_code == 202, response.json
    return str(response.json["id"])


def state_of(api: Any, job_id: str) -> str:
    response = api.get(f"/v1/jobs/{job_id}")
    if response.status_code == 503:
        return "unavailable"
    return str(response.json["status"] if response.status_code in (200, 202) else response.json["error"]["code"])


def wait_state(api: Any, job_id: str, wanted: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (state := state_of(api, job_id)) not in wanted:
        assert time.monotonic() < deadline, f"job {job_id} still {state} after {timeout} s"
        time.sleep(0.05)
    return state


def restart_redis(store: RedisServer, tmp: Path, down: float = 3) -> RedisServer:
    """SIGKILL redis-server, then start it again `down` s later on the same port from its append-only file."""
    store.kill()
    time.sleep(down)
    return RedisServer(tmp, store.port).start()


def assert_scored_whole(api: Any, job_id: str, model: LoadedModel, body: str) -> None:
    result = api.get(f"/v1/jobs/{job_id}/result")
    assert result.status_code == 200
    rows = list(csv.DictReader(body.splitlines()))
    assert result.json == ChurnService(model, 0.5, len(rows)).score_rows(rows, explain=EXPLAIN)


def tracebacks_outside_job_attempts(log: str) -> int:
    """Tracebacks in a worker's log other than RQ's record of a job attempt that raised (which the retry
    follows): losing Redis is otherwise said in one line, however long it is gone (churn.jobs.worker)."""
    return sum("Traceback" in line and "exception raised while executing" not in line for line in log.splitlines())


def test_the_worker_outlives_redis_killed_while_idle(model: LoadedModel, store: RedisServer, tmp_path: Path) -> None:
    worker = start_worker(tmp_path, store)
    again = restart_redis(store, tmp_path)
    try:
        api = api_for(model, again)
        job_id = api.post("/v1/jobs", json={"customers": [make_customer()]}).json["id"]
        assert wait_state(api, job_id, {"finished", "job_failed"}, 30) == "finished"
        assert not worker.failed()
    finally:
        worker.stop()
        again.stop()


def test_the_worker_outlives_a_paused_redis_that_times_its_work_loop_out(
    model: LoadedModel, store: RedisServer, tmp_path: Path
) -> None:
    """RQ's work loop quits on a Redis timeout; the worker starts another once Redis answers again."""
    worker = start_worker(tmp_path, store)
    api = api_for(model, store)
    try:
        store.signal(signal.SIGSTOP)
        time.sleep(HEARTBEAT + 10 + 5)  # past the socket timeout RQ gives the worker's connection
        store.signal(signal.SIGCONT)
        job_id = api.post("/v1/jobs", json={"customers": [make_customer()]}).json["id"]
        assert wait_state(api, job_id, {"finished", "job_failed"}, 60) == "finished"
        assert not worker.failed()
        log = worker.log.read_text()
        assert "starts again when Redis answers" in log and tracebacks_outside_job_attempts(log) == 0
    finally:
        worker.stop()


@pytest.mark.parametrize("down", [3, 10])  # a restart the worker's Redis calls ride out, and a longer outage
def test_a_job_running_when_redis_is_killed_finishes_and_the_worker_carries_on(
    model: LoadedModel, store: RedisServer, tmp_path: Path, long_csv: str, down: float
) -> None:
    worker = start_worker(tmp_path, store)
    api = api_for(model, store)
    job_id = submit_long(api, long_csv)
    wait_state(api, job_id, {"running"}, 30)
    time.sleep(1.1)  # Redis writes its append-only file every second: the job's start is on disk
    again = restart_redis(store, tmp_path, down)
    try:
        api = api_for(model, again)
        bound = abandoned_within(HEARTBEAT) + SLACK
        assert wait_state(api, job_id, {"finished", "job_failed"}, bound) == "finished"
        assert_scored_whole(api, job_id, model, long_csv)
        later = api.post("/v1/jobs", json={"customers": [make_customer()]}).json["id"]
        assert wait_state(api, later, {"finished", "job_failed"}, 30) == "finished"
        assert not worker.failed()
        assert tracebacks_outside_job_attempts(worker.log.read_text()) == 0
    finally:
        worker.stop()
        again.stop()


@pytest.mark.parametrize("victim", ["horse", "worker", "both"])
def test_a_job_whose_worker_is_killed_is_finished_all_the_same(
    model: LoadedModel, store: RedisServer, tmp_path: Path, long_csv: str, victim: str
) -> None:
    """A killed horse is retried at once; a killed worker's horse finishes alone; both: another worker retries."""
    worker = start_worker(tmp_path, store)
    api = api_for(model, store)
    job_id = submit_long(api, long_csv)
    wait_state(api, job_id, {"running"}, 30)
    kill(worker, victim)
    other = start_worker(tmp_path, store) if victim != "horse" else worker
    try:
        bound = abandoned_within(HEARTBEAT) + SLACK
        assert wait_state(api, job_id, {"finished", "job_failed"}, bound) == "finished"
        assert_scored_whole(api, job_id, model, long_csv)
    finally:
        other.stop()
        worker.stop()


@pytest.mark.parametrize("victim", ["horse", "both"])
def test_a_job_whose_retries_are_used_up_fails_saying_its_worker_was_lost(
    model: LoadedModel, store: RedisServer, tmp_path: Path, long_csv: str, victim: str
) -> None:
    worker = start_worker(tmp_path, store)
    api = api_for(model, store, retries=0)
    job_id = submit_long(api, long_csv)
    wait_state(api, job_id, {"running"}, 30)
    kill(worker, victim)
    other = start_worker(tmp_path, store) if victim != "horse" else worker
    try:
        bound = abandoned_within(HEARTBEAT) + SLACK
        assert wait_state(api, job_id, {"finished", "job_failed"}, bound) == "job_failed"
        error = api.get(f"/v1/jobs/{job_id}").json["error"]
        assert error["details"]["reason"] == "worker_lost" and "retries are used up" in error["message"]
        assert api.get(f"/v1/jobs/{job_id}/result").status_code == 500
    finally:
        other.stop()
        worker.stop()


def kill(worker: RQWorker, victim: str) -> None:
    """SIGKILL the work horse, the worker or both (as when a container or machine dies)."""
    assert worker.proc is not None
    horses = worker.children()
    assert len(horses) == 1, horses
    if victim in ("worker", "both"):
        worker.proc.kill()
        worker.proc.wait(20)
    if victim in ("horse", "both"):
        os.kill(horses[0], signal.SIGKILL)  # the worker's child: a process this test started


def test_scoring_stays_fast_while_the_job_routes_wait_on_a_paused_redis(tmp_path: Path) -> None:
    """16 clients hammer the job routes of the real server (2 workers x 4 threads) whose Redis is paused."""
    store = RedisServer(tmp_path).start()
    timeout = 3.0
    api = Server(log_dir=tmp_path, env={"REDIS_URL": store.url, "CHURN_REDIS_TIMEOUT": str(timeout)}).start()
    stop = threading.Event()
    answers: list[tuple[int, str | None]] = []

    def hammer() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                r = session.get(f"{api.url}/v1/jobs/0123456789abcdef", timeout=30)
                if not stop.is_set():  # answered while Redis was paused
                    answers.append((r.status_code, r.headers.get("Retry-After")))

    clients = [threading.Thread(target=hammer) for _ in range(16)]
    try:
        store.signal(signal.SIGSTOP)
        for client in clients:
            client.start()
        time.sleep(1)  # every job route now waits on Redis or is refused
        slowest = 0.0
        for _ in range(30):
            started = time.monotonic()
            r = requests.post(f"{api.url}/predict", json=make_customer(), timeout=30)
            slowest = max(slowest, time.monotonic() - started)
            assert r.status_code == 200
        assert slowest < timeout / 2, f"a /predict took {slowest:.2f} s behind the job routes"
    finally:
        stop.set()
        store.signal(signal.SIGCONT)
        for client in clients:
            client.join(60)
        api.stop()
        store.stop()
    assert answers and {status for status, _ in answers} == {503}
    assert all(retry_after for _, retry_after in answers)


@pytest.mark.parametrize(
    ("error", "kept"),
    [(RedisConnectionError("Connection refused"), False), (RedisTimeoutError("timed out"), False),
     (ValueError("a bug"), True), (None, True)],
)  # fmt: skip
def test_rqs_record_of_a_loop_lost_to_redis_is_dropped_and_every_other_kept(
    error: Exception | None, kept: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """serve() says a lost Redis in one line; RQ's own ERROR with its traceback is dropped, nothing else."""
    say_redis_loss_once()
    say_redis_loss_once()  # once is enough: a second call adds no second filter
    rq_log = logging.getLogger("rq.worker")
    assert sum(isinstance(f, RedisLossSaidOnce) for f in rq_log.filters) == 1
    with caplog.at_level(logging.INFO, logger="rq.worker"):
        try:
            raise error or RuntimeError("placeholder")
        except Exception:
            rq_log.error("Worker w: found an unhandled exception, quitting...", exc_info=error is not None)
    assert [r.name for r in caplog.records if "quitting" in r.getMessage()] == (["rq.worker"] if kept else [])


REDIS_REFUSING = {
    "out of memory": [("config", "set", "maxmemory-policy", "noeviction"), ("config", "set", "maxmemory", "1")],
    "a read-only replica": [("replicaof", "127.0.0.1", "1")],  # a master that never answers: writes refused
}


@pytest.mark.parametrize("refusal", REDIS_REFUSING)
def test_redis_answering_with_an_error_is_queue_unavailable_not_a_500(
    model: LoadedModel, store: RedisServer, refusal: str
) -> None:
    """Redis reachable but refusing the calls is the queue being unavailable (503, Retry-After), as Redis
    unreachable is; scoring goes on."""
    api = api_for(model, store)
    client = redis.Redis.from_url(store.url)
    for command in REDIS_REFUSING[refusal]:
        client.execute_command(*command)
    answer = api.post("/v1/jobs", json={"customers": [make_customer()]})
    assert (answer.status_code, answer.json["error"]["code"]) == (503, "queue_unavailable"), answer.json
    assert int(answer.headers["Retry-After"]) > 0
    assert api.post("/predict", json=make_customer()).status_code == 200


def test_a_redis_database_index_it_lacks_is_queue_unavailable_on_every_job_route(
    model: LoadedModel, store: RedisServer
) -> None:
    settings = Settings(redis_url=store.url.rsplit("/", 1)[0] + "/99", redis_timeout=1.0)
    api = create_app(settings, model).test_client()
    for answer in (api.post("/v1/jobs", json={"customers": [make_customer()]}), api.get("/v1/jobs/abc-1")):
        assert (answer.status_code, answer.json["error"]["code"]) == (503, "queue_unavailable"), answer.json


def test_a_maintenance_that_redis_cuts_short_leaves_no_lock_behind(
    store: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RQ's registry cleaning failing on a refused write (out of memory): the maintenance lock is released,
    so the next heartbeat's maintenance (this worker's or another's) runs instead of 15 minutes later."""
    connection = redis.Redis.from_url(store.url)
    queue = Queue(QUEUE_NAME, connection=connection)
    worker = ChurnWorker([queue], connection, HEARTBEAT, threading.Event())

    def refused(*args: Any, **kwargs: Any) -> None:
        raise redis.exceptions.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'")

    with monkeypatch.context() as patch:
        patch.setattr(rq.worker.base, "clean_registries", refused)  # RQ's own call, inside its lock
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            worker.clean_registries()
    assert connection.exists(queue.registry_cleaning_key) == 0
    assert queue.acquire_maintenance_lock()  # the next one gets it
