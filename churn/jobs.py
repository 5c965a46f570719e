"""Asynchronous scoring jobs on Redis + RQ: the job function the worker runs and the queue the API talks to.

The job function is importable and free of request context. A worker process loads the model once
(worker.py calls init_worker before it starts; plain `rq worker` loads it at the first job), and
RQ's forked work horses inherit it, so no job pays for loading. Every Redis call has a socket
timeout and no retry, so a Redis that is gone or stalled gives QueueUnavailable quickly, not a hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from churn.config import Settings
from churn.model import load_model
from churn.service import ChurnService

QUEUE_NAME = "churn"
JOB_TIMEOUT = 600  # seconds one job may run: 100k rows score in well under a minute
STATES = {
    JobStatus.QUEUED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.STARTED: "running",
    JobStatus.FINISHED: "finished",
}  # anything else (failed, stopped, canceled) is "failed"

_service: ChurnService | None = None


class JobError(Exception):
    """A job the worker refuses; its message is safe to show to the caller."""


class QueueUnavailable(Exception):
    """Redis cannot be reached (or does not answer in time)."""


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


def score_batch(rows: list[Any], explain: int, explain_down: int, model_version: str) -> dict[str, Any]:
    """The job: /v1/predict's scoring of rows, refused if this worker serves another model than the API did."""
    service = worker_service()
    if service.model.version != model_version:
        raise JobError(
            f"the worker serves model {service.model.version} but the job was accepted for {model_version}: "
            "deploy the same model to the API and the workers, then resubmit"
        )
    return service.score_rows(rows, explain=explain, explain_down=explain_down)


def connect(url: str, timeout: float) -> redis.Redis:
    """A Redis client that fails fast: socket timeouts on connect and on every call, no retries."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


@dataclass(frozen=True)
class JobView:
    id: str
    state: str  # queued, running, finished or failed
    job: Job


class JobQueue:
    """Submit scoring jobs and look them up; Redis errors become QueueUnavailable."""

    def __init__(self, connection: redis.Redis, ttl: int):
        self.connection = connection
        self.queue = Queue(QUEUE_NAME, connection=connection)
        self.ttl = ttl

    def submit(self, rows: list[Any], explain: int, explain_down: int, model_version: str) -> str:
        with unavailable_on_redis_errors():
            job = self.queue.enqueue_call(
                score_batch,
                args=(rows, explain, explain_down, model_version),
                timeout=JOB_TIMEOUT,
                description=f"score {len(rows)} customers",  # RQ logs this; its default would quote the rows
                ttl=self.ttl,
                result_ttl=self.ttl,
                failure_ttl=self.ttl,
            )
        return str(job.id)

    def find(self, job_id: str) -> JobView | None:
        with unavailable_on_redis_errors():
            try:
                job = Job.fetch(job_id, connection=self.connection)
            except NoSuchJobError:
                return None
            status = job.get_status(refresh=False)
        return JobView(job_id, STATES.get(status, "failed") if status else "failed", job)

    def result(self, view: JobView) -> Any:
        with unavailable_on_redis_errors():
            return view.job.return_value()

    def failure(self, view: JobView) -> str:
        """What to tell the caller about a failed job: a JobError's own words, else nothing internal."""
        with unavailable_on_redis_errors():
            result = view.job.latest_result()
        last = (result.exc_string or "").strip().splitlines()[-1:] if result else []
        prefix = f"{JobError.__module__}.{JobError.__name__}: "
        if last and last[0].startswith(prefix):
            return last[0][len(prefix) :]
        return "the job failed in the worker; its log says why"


@contextmanager
def unavailable_on_redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
        raise QueueUnavailable(f"Redis is unavailable ({type(e).__name__})") from None
