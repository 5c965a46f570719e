"""A finished job whose result Redis no longer holds: its status and its result route say the same thing.

RQ keeps a job in two Redis keys, its hash (rq:job:<id>, the status) and its result (the stream
rq:results:<id>). Both get CHURN_JOB_TTL, but a TTL can run out between the two reads of a poll and
maxmemory eviction takes keys one at a time, so either may be gone without the other. The keys here
are lost as Redis loses them: a TTL running out (PEXPIRE), and eviction (a key deleted whole; the
last tests evict for real, under maxmemory).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq.job import Job, JobStatus
from rq.results import Result

from churn.campaign.client import RequestRefused
from churn.campaign.scorers import jobs_scorer
from churn.config import Settings
from churn.core.model import LoadedModel
from churn.jobs.queue import JobQueue
from churn.server.app import create_app
from tests.conftest import make_customer
from tests.support.servers import RedisServer, RQWorker

pytestmark = pytest.mark.server

TTL = 60


@pytest.fixture(scope="module")
def store(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url)


@pytest.fixture(scope="module")
def api(model: LoadedModel, redis_server: RedisServer) -> Any:
    return api_on(model, redis_server.url)


def api_on(model: LoadedModel, url: str, ttl: int = TTL) -> Any:
    return create_app(Settings(redis_url=url, job_ttl=ttl, redis_timeout=1.0), model).test_client()


def hash_key(job_id: str) -> str:
    return f"rq:job:{job_id}"


def result_key(job_id: str) -> str:
    return f"rq:results:{job_id}"


def finish_job(api: Any, timeout: float = 30) -> str:
    """Submit a job of one customer and wait until the worker has finished it; its id."""
    job_id = str(api.post("/v1/jobs", json={"customers": [make_customer()]}).json["id"])
    deadline = time.monotonic() + timeout
    while api.get(f"/v1/jobs/{job_id}").status_code == 202:
        assert time.monotonic() < deadline, "the job did not finish in time"
        time.sleep(0.05)
    return job_id


def expire(store: redis.Redis, key: str) -> None:
    """The key's TTL runs out: Redis then drops it when it is next read (or sooner, by its expiry cycle)."""
    assert store.pexpire(key, 1)
    time.sleep(0.005)


def evict(store: redis.Redis, key: str) -> None:
    """Eviction under maxmemory: Redis deletes the whole key."""
    assert store.unlink(key) == 1


def answer(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json


def both(api: Any, job_id: str) -> tuple[tuple[int, Any], tuple[int, Any]]:
    """(status route's answer, result route's answer)."""
    return answer(api.get(f"/v1/jobs/{job_id}")), answer(api.get(f"/v1/jobs/{job_id}/result"))


def assert_agree(status: tuple[int, Any], result: tuple[int, Any]) -> str:
    """The two answers of one job agree; the state they agree on (finished, expired or not_found)."""
    state = state_of("status", status)
    assert state_of("result", result) == state, (status, result)
    if state != "finished":
        assert status == result  # a refusal: the same status, code, message and details from both routes
    return state


def state_of(route: str, response: tuple[int, Any]) -> str:
    """The state one answer of either route reports (finished, expired or not_found)."""
    if response[0] == 200:
        assert response[1]["status"] == "finished" if route == "status" else "predictions" in response[1]
        return "finished"
    code = response[1]["error"]["code"]
    assert (response[0], code) in ((410, "result_expired"), (404, "job_not_found")), response
    assert "submit the job again" in response[1]["error"]["message"]
    return "expired" if code == "result_expired" else "not_found"


def expected(hash_kept: bool, result_kept: bool) -> str:
    """What a finished job's routes answer, from which of its two keys Redis still holds."""
    if not hash_kept:
        return "not_found"  # RQ cannot read a job without its hash: nothing is known of it
    return "finished" if result_kept else "expired"


LOSSES: dict[str, Callable[[redis.Redis, str], None]] = {"expired": expire, "evicted": evict}


@pytest.mark.parametrize("how", sorted(LOSSES))
@pytest.mark.parametrize(
    ("lost", "state"),
    [(("result",), "expired"), (("hash",), "not_found"), (("result", "hash"), "not_found")],
    ids=["result", "hash", "both"],
)
def test_a_finished_job_that_lost_its_keys_says_so_on_both_routes(
    api: Any, worker: RQWorker, store: redis.Redis, how: str, lost: tuple[str, ...], state: str
) -> None:
    job_id = finish_job(api)
    assert assert_agree(*both(api, job_id)) == "finished"
    for key in lost:
        LOSSES[how](store, hash_key(job_id) if key == "hash" else result_key(job_id))
    status, result = both(api, job_id)
    assert assert_agree(status, result) == state
    if state == "expired":
        assert status[1]["error"]["details"] == {"id": job_id, "status": "expired"}


def test_a_result_lost_between_the_lookup_and_the_read_is_answered_as_the_status_route_answers(
    api: Any, worker: RQWorker, store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The result route reads the job, then its result: a TTL running out in between is result_expired too."""
    job_id = finish_job(api)
    find = JobQueue.find

    def find_then_lose_the_result(queue: JobQueue, wanted: str) -> Any:
        view = find(queue, wanted)
        evict(store, result_key(wanted))
        return view

    monkeypatch.setattr(JobQueue, "find", find_then_lose_the_result)
    result = answer(api.get(f"/v1/jobs/{job_id}/result"))
    monkeypatch.undo()
    status = answer(api.get(f"/v1/jobs/{job_id}"))
    assert assert_agree(status, result) == "expired"


@pytest.mark.parametrize("retried_as", ["queued", "started"])
def test_a_finished_job_that_rq_retries_anyway_keeps_answering_its_result(
    api: Any, worker: RQWorker, store: redis.Redis, retried_as: str
) -> None:
    """A worker killed while its work horse finishes the job: RQ's clean-up may requeue the job after it succeeded."""
    job_id = finish_job(api)
    Job.fetch(job_id, connection=store).set_status(JobStatus(retried_as))  # not in the queue: no worker takes it
    assert assert_agree(*both(api, job_id)) == "finished"


def test_a_retry_of_a_failed_attempt_is_still_in_flight(api: Any, store: redis.Redis) -> None:
    """Only a successful attempt stands for the job: after a failed one, a poll says the retry is queued."""
    job_id = str(uuid.uuid4())
    job = Job.create(len, args=([],), id=job_id, connection=store, status=JobStatus.QUEUED)
    job.save()
    Result.create_failure(job, ttl=TTL, exc_string="boom", worker_name="")
    assert answer(api.get(f"/v1/jobs/{job_id}"))[0] == 202
    assert answer(api.get(f"/v1/jobs/{job_id}/result"))[0] == 202


STATES = ("finished", "expired", "not_found")  # the order in which a job's keys run out


def test_jobs_whose_ttl_runs_out_never_say_finished_once_their_result_is_gone(
    model: LoadedModel, redis_server: RedisServer, worker: RQWorker
) -> None:
    """RQ's own TTLs (CHURN_JOB_TTL on both keys), running out while both routes are polled in turn.

    A TTL may run out between any two reads, so each read is judged on its own: the states read, in
    the order they were read, only ever move forward (finished, expired, not_found), and two reads in
    a row that report the same refusal give the same answer from either route.
    """
    api = api_on(model, redis_server.url, ttl=2)
    job_id = finish_job(api)
    reads: list[tuple[str, tuple[int, Any]]] = []
    deadline = time.monotonic() + 30
    while not reads or state_of(*reads[-1]) != "not_found":
        assert time.monotonic() < deadline, f"the job outlived its TTL: {[state_of(*r) for r in reads]}"
        for route in ("status", "result", "result", "status"):
            reads.append((route, answer(api.get(f"/v1/jobs/{job_id}" + ("/result" if route == "result" else "")))))
        time.sleep(0.01)
    states = [state_of(*read) for read in reads]
    assert states == sorted(states, key=STATES.index), "a job went back to an earlier state"
    assert states[0] == "finished" and states[-1] == "not_found"
    for (_, before), (_, after) in itertools.pairwise(reads):
        if before[0] != 200 and state_of("status", before) == state_of("status", after):
            assert before == after  # the same refusal: status, code, message and details


@pytest.fixture(scope="module")
def finished_keys(api: Any, worker: RQWorker, store: redis.Redis) -> tuple[bytes, bytes]:
    """A finished job's two keys, as Redis dumps them: each copy restored is one more finished job."""
    job_id = finish_job(api)
    dumped = store.dump(hash_key(job_id)), store.dump(result_key(job_id))
    assert dumped[0] is not None and dumped[1] is not None
    return dumped[0], dumped[1]


def finished_copy(store: redis.Redis, keys: tuple[bytes, bytes]) -> str:
    job_id = str(uuid.uuid4())
    store.restore(hash_key(job_id), TTL * 1000, keys[0])
    store.restore(result_key(job_id), TTL * 1000, keys[1])
    return job_id


STEPS = st.lists(
    st.sampled_from(["status", "result", *(f"{how} {key}" for how in LOSSES for key in ("hash", "result"))]),
    max_size=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_polls_in_any_order_with_keys_lost_in_between_agree_with_what_redis_holds(
    api: Any, store: redis.Redis, finished_keys: tuple[bytes, bytes], steps: list[str]
) -> None:
    """Each poll, of either route, answers from what Redis holds now; never "finished" then no result."""
    job_id = finished_copy(store, finished_keys)
    kept = {"hash": True, "result": True}
    states = []
    for step in [*steps, "status", "result"]:
        if step in ("status", "result"):
            response = answer(api.get(f"/v1/jobs/{job_id}" + ("/result" if step == "result" else "")))
            state = expected(kept["hash"], kept["result"])
            if state == "finished":
                assert response[0] == 200
                assert response[1]["status" if step == "status" else "predictions"]
            else:
                code = "result_expired" if state == "expired" else "job_not_found"
                assert (response[0], response[1]["error"]["code"]) == (410 if state == "expired" else 404, code)
            states.append(state)
            continue
        how, key = step.split()
        if kept[key]:
            LOSSES[how](store, hash_key(job_id) if key == "hash" else result_key(job_id))
            kept[key] = False
    order = ["finished", "expired", "not_found"]
    assert states == sorted(states, key=order.index)  # answers only ever move on: a lost key never comes back
    store.delete(hash_key(job_id), result_key(job_id))


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-random", "volatile-ttl", "volatile-random"])
def test_jobs_evicted_under_maxmemory_agree_on_both_routes_until_both_keys_are_gone(
    model: LoadedModel, finished_keys: tuple[bytes, bytes], tmp_path: Path, policy: str
) -> None:
    """A Redis of its own, short of memory: whichever key eviction takes first, the answers agree."""
    server = RedisServer(tmp_path).start()
    try:
        evicting = redis.Redis.from_url(server.url)
        jobs = [finished_copy(evicting, finished_keys) for _ in range(5)]
        api = api_on(model, server.url)
        assert {assert_agree(*both(api, job_id)) for job_id in jobs} == {"finished"}
        used = int(evicting.info("memory")["used_memory"])
        evicting.config_set("maxmemory-policy", policy)
        evicting.config_set("maxmemory", used + 256 * 1024)
        filler = b"x" * 16 * 1024
        for i in range(5000):
            evicting.set(f"filler:{i}", filler, ex=10 * TTL)  # a TTL beyond the jobs': volatile-ttl takes them first
            states = [assert_agree(*both(api, job_id)) for job_id in jobs]
            if set(states) == {"not_found"}:
                break
        else:
            raise AssertionError(f"eviction never took every job's keys: {states}")
        assert int(evicting.info("stats")["evicted_keys"]) > 0
    finally:
        server.stop()


class JobsOverTestClient:
    """campaign's ServiceClient over the app's test client, losing the first finished job's result where asked."""

    def __init__(self, api: Any, store: redis.Redis, lose: str):
        self.api, self.store, self.lose = api, store, lose
        self.lost: list[str] = []
        self.submitted = 0

    def post_json(self, path: str, payload: Any) -> Any:
        self.submitted += 1
        return self.refused_or(self.api.post(path, json=payload))

    def get_json(self, path: str) -> tuple[int, Any]:
        job_id = path.split("/")[3]
        status_poll = not path.endswith("/result")
        if status_poll and self.lose == "before the status poll" and not self.lost:
            wait_until(lambda: self.store.exists(result_key(job_id)))  # finished: the poll sees its result gone
            self.lose_result(job_id)
        response = self.api.get(path)
        if status_poll and self.lose == "after it" and response.status_code == 200 and not self.lost:
            self.lose_result(job_id)  # told "finished"; the result read next is gone
        return response.status_code, self.refused_or(response)

    def lose_result(self, job_id: str) -> None:
        evict(self.store, result_key(job_id))
        self.lost.append(job_id)

    @staticmethod
    def refused_or(response: Any) -> Any:
        if response.status_code >= 400:
            error = response.json["error"]
            raise RequestRefused(response.status_code, error["code"], error["message"])
        return response.json


def wait_until(check: Callable[[], Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.parametrize("lose", ["before the status poll", "after it"])
def test_campaign_async_submits_again_a_job_whose_result_is_gone(
    api: Any, worker: RQWorker, store: redis.Redis, lose: str
) -> None:
    client = JobsOverTestClient(api, store, lose)
    score = jobs_scorer(client, explain=0, stop=threading.Event(), poll=0.05)  # type: ignore[arg-type]
    result = score([make_customer(customerid="again")])
    assert len(client.lost) == 1 and client.submitted == 2
    assert result["predictions"][0]["customerid"] == "again"
