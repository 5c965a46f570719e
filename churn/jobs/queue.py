"""Asynchronous scoring jobs on Redis + RQ: the job function the worker runs and the queue the API talks to.

The job function is importable and free of request context. A worker process loads the model once
(worker.py calls init_worker before it starts; plain `rq worker` loads it at the first job), and
RQ's forked work horses inherit it, so no job pays for loading. Every Redis call of the API has a
socket timeout and no retry, so a Redis that is gone or stalled gives QueueUnavailable quickly, not
a hang; after such a failure the API rests from Redis for a moment (BREAKER_SECONDS) and answers at once.

Scoring is idempotent (the same rows give the same bytes), so a job whose worker died is simply run
again (RQ's Retry, up to `retries` times): its rows and its result are stored compressed.
"""

from __future__ import annotations

import pickle
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result

from churn.config import Settings
from churn.core.model import load_model
from churn.core.service import ChurnService

QUEUE_NAME = "churn"
JOB_TIMEOUT = 600  # seconds one job may run: 100k rows score in well under a minute
STATES = {
    JobStatus.QUEUED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.STARTED: "running",
    JobStatus.FINISHED: "finished",
}  # anything else (failed, stopped, canceled) is "failed"
# A finished job whose result Redis no longer holds: RQ keeps the status (the hash rq:job:<id>) and the
# result (the stream rq:results:<id>) in two keys. Both get CHURN_JOB_TTL, but maxmemory eviction takes
# keys one at a time, and a TTL can run out between the status's read and the result's.
EXPIRED = "expired"
IN_FLIGHT = frozenset(status.value for status, state in STATES.items() if state != "finished")
ACTIVE_KEY = "churn:jobs:active"  # sorted set of "<caller> <job id>" by submission time: the jobs in flight
SUBMITTING_SECONDS = 60  # an entry whose job does not exist (yet) counts as in flight for this long
BREAKER_SECONDS = 1.0
COMPRESSION = 1  # zlib level: JSON results shrink ~20x at ~100 MB/s; higher levels gain little
# What RQ records when a job's worker or work horse died under it (registry cleanup, horse monitor).
WORKER_LOST = ("AbandonedJobError", "Work-horse terminated unexpectedly", "Job was stuck in intermediate queue")
TIMED_OUT = "JobTimeoutException"

_service: ChurnService | None = None


class JobError(Exception):
    """A job the worker refuses; its message is safe to show to the caller."""


class QueueUnavailable(Exception):
    """Redis cannot be reached (or does not answer in time)."""


class TooManyJobs(Exception):
    """The caller, or everyone together, has as many jobs in flight as allowed; details say which limit."""

    def __init__(self, message: str, details: dict[str, Any]):
        super().__init__(message)
        self.details = details


def init_worker(service: ChurnService) -> None:
    """Give this worker process its service (model loaded once, before any job)."""
    global _service  # noqa: PLW0603 - one service per worker process, by design
    _service = service


def worker_service() -> ChurnService:
    if _service is None:  # a plain `rq worker`: load once per process, at the first job
        settings = Settings.from_env()
        init_worker(
            ChurnService(
                load_model(settings.model_path, sklearn_objects=False),
                settings.threshold,
                settings.job_max_batch,
                range_tolerance=settings.range_tolerance,
            )
        )
    assert _service is not None  # noqa: S101 - set just above
    return _service


def score_batch(rows: bytes | list[Any], explain: int, explain_down: int, model_version: str) -> bytes:
    """The job: /v1/predict's scoring of rows, refused if this worker serves another model than the API did.

    Returns the response body as compressed JSON: what the result route sends, and a small Redis value.
    """
    service = worker_service()
    if service.model.version != model_version:
        raise JobError(
            f"the worker serves model {service.model.version} but the job was accepted for {model_version}: "
            "deploy the same model to the API and the workers, then resubmit"
        )
    if isinstance(rows, bytes):  # a list: queued by an API from before rows were compressed
        rows = pickle.loads(zlib.decompress(rows))  # noqa: S301 - our own API wrote it, as RQ pickles job data
    result = service.score_rows(rows, explain=explain, explain_down=explain_down)
    return zlib.compress(orjson.dumps(result), COMPRESSION)


def result_body(value: Any) -> bytes:
    """A finished job's response body (JSON bytes), from what score_batch returned."""
    if isinstance(value, bytes):
        return zlib.decompress(value)
    return orjson.dumps(value)  # a dict: scored by a worker from before results were compressed


def connect(url: str, timeout: float) -> redis.Redis:
    """A Redis client that fails fast: socket timeouts on connect and on every call, no retries."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=RedisRetry(NoBackoff(), 0)
    )


@dataclass(frozen=True)
class JobView:
    """A job as Redis holds it: RQ's status, and whether its result is gone (looked at once it finished)."""

    id: str
    status: JobStatus | None
    job: Job
    result_gone: bool = False

    @property
    def state(self) -> str:
        """queued, running, finished, failed or expired: the one rule the status and the result routes share."""
        state = STATES.get(self.status, "failed") if self.status else "failed"
        return EXPIRED if state == "finished" and self.result_gone else state


@dataclass(frozen=True)
class Limits:
    per_caller: int  # jobs in flight per caller
    active: int  # jobs in flight in all
    retries: int  # runs again of a job whose worker died


class JobQueue:
    """Submit scoring jobs and look them up; Redis errors become QueueUnavailable."""

    def __init__(self, connection: redis.Redis, ttl: int, limits: Limits | None = None):
        self.connection = connection
        self.queue = Queue(QUEUE_NAME, connection=connection)
        self.ttl = ttl
        self.limits = limits or Limits(per_caller=8, active=64, retries=2)
        self.resting_until = 0.0  # the circuit breaker: no Redis call before this (monotonic) time

    def submit(self, caller: str, rows: list[Any], explain: int, explain_down: int, model_version: str) -> str:
        """Queue a job for caller, or raise TooManyJobs when the caller or everyone has enough in flight."""
        job_id = str(uuid.uuid4())
        data = zlib.compress(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL), COMPRESSION)
        retry = Retry(max=self.limits.retries) if self.limits.retries else None
        with self.redis_calls():
            member = self.admit(caller, job_id)
            try:
                self.queue.enqueue_call(
                    score_batch,
                    args=(data, explain, explain_down, model_version),
                    timeout=JOB_TIMEOUT,
                    description=f"score {len(rows)} customers",  # RQ logs this; its default would quote the rows
                    ttl=self.ttl,
                    result_ttl=self.ttl,
                    failure_ttl=self.ttl,
                    job_id=job_id,
                    retry=retry,
                )
            except BaseException:
                self.connection.zrem(ACTIVE_KEY, member)
                raise
        return job_id

    def admit(self, caller: str, job_id: str) -> str:
        """Count the new job in, then refuse it if that makes too many: concurrent submissions never overshoot.

        RQ does not record who queued a job, hence this sorted set; finished jobs leave it lazily, here.
        """
        member = f"{caller} {job_id}"
        now = time.time()
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.zadd(ACTIVE_KEY, {member: now})
            pipe.expire(ACTIVE_KEY, self.ttl)
            pipe.zrange(ACTIVE_KEY, 0, -1, withscores=True)
            entries = [(m.decode(), score) for m, score in pipe.execute()[-1]]
        active = [*self.in_flight([e for e in entries if e[0] != member], now), member]
        mine = sum(1 for m in active if m.split(" ", 1)[0] == caller)
        counts = (("all", len(active), self.limits.active), ("caller", mine, self.limits.per_caller))
        over = [(scope, limit) for scope, count, limit in counts if count > limit]
        if over:
            self.connection.zrem(ACTIVE_KEY, member)
            scope, limit = over[0]
            who = "this service" if scope == "all" else "this API key"
            raise TooManyJobs(
                f"{who} already has {limit} jobs queued or running: collect their results, then submit more",
                {"scope": scope, "limit": limit},
            )
        return member

    def in_flight(self, entries: list[tuple[str, float]], now: float) -> list[str]:
        """The entries whose job is queued or running; the others leave the set."""
        with self.connection.pipeline(transaction=False) as pipe:
            for member, _ in entries:
                pipe.hget(Job.key_for(member.split(" ", 1)[1]), "status")
            statuses = pipe.execute()
        active: list[str] = []
        done: list[str] = []
        for (member, submitted), status in zip(entries, statuses, strict=True):
            # No job (yet): being submitted right now, or expired long ago.
            live = now - submitted < SUBMITTING_SECONDS if status is None else status.decode() in IN_FLIGHT
            (active if live else done).append(member)
        if done:
            self.connection.zrem(ACTIVE_KEY, *done)
        return active

    def find(self, job_id: str) -> JobView | None:
        """The job, or None when Redis holds no job hash for it (never made, expired or evicted).

        A finished job's result is checked for too (EXISTS, not the result itself: a status poll stays cheap).
        """
        with self.redis_calls():
            try:
                job = Job.fetch(job_id, connection=self.connection)
            except NoSuchJobError:
                return None
            status = job.get_status(refresh=False)
            finished = STATES.get(status) == "finished"
            result_key = Result.get_key(job_id)  # type: ignore[no-untyped-call]  # rq has no annotations here
            gone = finished and not self.connection.exists(result_key)
            if status in IN_FLIGHT and self.connection.exists(result_key) and succeeded(job):
                # RQ retried a job whose worker was lost although its work horse went on to finish it: the
                # retry changes nothing, so its result stands and a poll never goes from finished back to 202.
                status = JobStatus.FINISHED
        return JobView(job_id, status, job, result_gone=gone)

    def result(self, view: JobView) -> bytes | None:
        """The finished job's response body, or None when its result is gone (since find(), or no successful one)."""
        with self.redis_calls():
            value = view.job.return_value()
        return None if value is None else result_body(value)

    def failure(self, view: JobView) -> tuple[str, str]:
        """Why a job failed, as (reason, message): a JobError's own words, a lost worker, else nothing internal."""
        with self.redis_calls():
            result = view.job.latest_result()
        text = (result.exc_string or "").strip() if result else ""
        last = text.splitlines()[-1] if text else ""
        prefix = f"{JobError.__module__}.{JobError.__name__}: "
        if last.startswith(prefix):
            return "refused", last[len(prefix) :]
        if any(mark in text for mark in WORKER_LOST):
            return "worker_lost", (
                "the worker running this job stopped before it finished (killed, or cut off from Redis) "
                "and the job's retries are used up: resubmit it"
            )
        if TIMED_OUT in last:
            return "timeout", f"the job ran longer than {JOB_TIMEOUT} s and was stopped: submit smaller jobs"
        return "error", "the job failed in the worker; its log says why"

    @contextmanager
    def redis_calls(self) -> Iterator[None]:
        """Turn Redis failures into QueueUnavailable, and skip Redis for a moment after one."""
        if time.monotonic() < self.resting_until:
            raise QueueUnavailable("Redis failed a moment ago")
        try:
            yield
        except redis.exceptions.RedisError as e:
            # Unreachable, or answering with an error (out of memory, a read-only replica mid-failover, a
            # database index it does not have): the queue is unavailable either way, not a fault of ours.
            self.resting_until = time.monotonic() + BREAKER_SECONDS
            raise QueueUnavailable(f"Redis is unavailable ({type(e).__name__})") from None


def succeeded(job: Job) -> bool:
    """The job's latest attempt succeeded (a retry of a failed one has a failed result until it is run)."""
    latest = job.latest_result()
    return latest is not None and latest.type == Result.Type.SUCCESSFUL


def queued_jobs(connection: redis.Redis) -> int:
    """Jobs waiting for a worker (the queue's length): one Redis call, made once an interval by the metrics."""
    try:
        return int(Queue(QUEUE_NAME, connection=connection).count)
    except redis.exceptions.RedisError as e:
        raise QueueUnavailable(f"Redis is unavailable ({type(e).__name__})") from None
