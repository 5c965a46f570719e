"""The RQ worker of the scoring jobs, made to outlive Redis going away at any moment, idle or busy.

What RQ 2.12 does on its own, and what is added here:
- idle, RQ's dequeue loop waits for a lost Redis with backoff (capped here at one heartbeat, not 60 s);
- short outages (a restart) are ridden out inside each Redis call by redis-py's own Retry (RIDE_OUT);
- while a work horse runs, RQ's monitor stops at the first failed heartbeat and leaves the horse
  alone; ChurnWorker keeps monitoring it through the outage instead;
- anything else makes RQ's work loop quit (it logs "quitting" with a traceback, which a filter drops
  when Redis is the cause): `serve` says so in one line, waits for Redis and starts a new RQ worker,
  because RQ has no loop of its own above `work()`;
- a job whose worker died anyway stays "started" in RQ's StartedJobRegistry until its heartbeat TTL
  runs out; RQ's maintenance (on any worker, between jobs) then retries it (Retry, set at enqueue) or
  fails it as abandoned. ChurnWorker shortens RQ's fixed 60 s of grace to one heartbeat and runs the
  maintenance every heartbeat, so that happens within 4 heartbeats (`abandoned_within`).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as RedisRetry
from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.job import Job

from churn.jobs.queue import JOB_TIMEOUT, QUEUE_NAME

log = logging.getLogger("churn.worker")
# One Redis call retries a lost connection for ~6 s (0.1 s doubling, at most 1 s, 9 times): a restart
# passes unnoticed, and a stop asked for during a longer outage is still honoured within seconds.
RIDE_OUT = RedisRetry(ExponentialBackoff(cap=1.0, base=0.05), retries=9, supported_errors=(RedisConnectionError,))
DEQUEUE_MARGIN = 15  # RQ blocks in its dequeue for worker_ttl - 15 s
RESTART_PAUSE = 1.0  # seconds between RQ work loops, so a persistent fault cannot spin


class WorkerStopped(Exception):
    """The worker was asked to stop while Redis was unreachable."""


def abandoned_within(heartbeat: int) -> int:
    """Seconds after its worker died by which an idle worker retries (or fails) a job."""
    # The heartbeat TTL (two heartbeats), then up to a maintenance interval plus a dequeue wait.
    return 4 * heartbeat


def connection(url: str, connect_timeout: float) -> Redis:
    """The worker's Redis client; RQ gives it a socket timeout longer than its blocking dequeue."""
    return Redis.from_url(url, socket_connect_timeout=connect_timeout, retry=RIDE_OUT)


class ChurnWorker(Worker):
    """RQ's forking worker that stays with its work horse through a Redis outage and finds dead jobs sooner."""

    def __init__(self, queues: list[Queue], connection: Redis, heartbeat: int, stopping: threading.Event):
        super().__init__(
            queues,
            connection=connection,
            job_monitoring_interval=heartbeat,
            maintenance_interval=heartbeat,
            worker_ttl=heartbeat + DEQUEUE_MARGIN,  # wakes from its dequeue each heartbeat, for maintenance
        )
        self.heartbeat_seconds = heartbeat
        self.max_connection_wait_time = float(heartbeat)  # RQ's idle reconnect backoff cap (its default: 60 s)
        self.stopping = stopping

    def clean_registries(self) -> None:
        """RQ's maintenance, with its lock released when it fails too: RQ releases it only on success, so
        a write Redis refused mid-cleaning (out of memory) left it for its 15 minutes, and no worker found
        abandoned jobs meanwhile. (Released for every queue: at worst two workers clean at once, which
        RQ's cleaning tolerates.)"""
        try:
            super().clean_registries()  # type: ignore[no-untyped-call]  # rq has no annotations here
        except BaseException:
            for queue in self.queues:
                with suppress(RedisError):
                    queue.release_maintenance_lock()  # type: ignore[no-untyped-call]
            raise

    def get_heartbeat_ttl(self, job: Job) -> int:
        # RQ's: the time to the next heartbeat + 60 s. One heartbeat of grace instead: a dead worker's
        # job is found sooner, and a slow heartbeat only makes an idempotent job run twice.
        remaining = (job.timeout or JOB_TIMEOUT) - self.current_job_working_time
        return int(max(0, min(remaining, self.heartbeat_seconds))) + self.heartbeat_seconds

    def maintain_heartbeats(self, job: Job) -> None:
        with self.riding_out("heartbeat"):
            super().maintain_heartbeats(job)

    def set_current_job_working_time(self, current_job_working_time: float, pipeline: Any = None) -> None:
        if pipeline is not None:  # queued on a pipeline: no I/O here
            super().set_current_job_working_time(current_job_working_time, pipeline)
            return
        with self.riding_out("job time"):
            super().set_current_job_working_time(current_job_working_time)

    @contextmanager
    def riding_out(self, what: str) -> Iterator[None]:
        """While a horse runs, a failed Redis write is logged and retried at the next heartbeat."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError) as e:
            if not self.horse_pid:
                raise
            log.warning("Redis unavailable during a job (%s: %s); the job goes on", what, type(e).__name__)

    def check_for_suspension(self, burst: bool) -> None:
        if self.stopping.is_set():  # asked to stop while this worker was starting
            raise StopRequested
        super().check_for_suspension(burst)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        except RedisError:
            if self.pubsub_thread is not None:  # what unsubscribe() would do, had Redis let it
                self.pubsub_thread.stop()
            raise


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets: installed before the worker says it is ready, so a stop
    sent at any moment afterwards is a clean stop, never the default handler's kill."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    return stopping


class RedisLossSaidOnce(logging.Filter):
    """Drops RQ's record of a work loop lost to Redis ("found an unhandled exception, quitting...", an
    ERROR with its traceback): serve() says it in one line and starts a new loop when Redis answers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], RedisError))


def say_redis_loss_once() -> None:
    rq_log = logging.getLogger("rq.worker")  # RQ's worker logs there (rq.worker.base)
    if not any(isinstance(f, RedisLossSaidOnce) for f in rq_log.filters):
        rq_log.addFilter(RedisLossSaidOnce())


def serve(redis: Redis, heartbeat: int, stopping: threading.Event | None = None) -> None:
    """Run RQ work loops until asked to stop; after a loop lost to Redis, wait for it and start another."""
    stopping = stopping if stopping is not None else stop_on_signals()
    say_redis_loss_once()
    while True:
        try:
            worker = ChurnWorker([Queue(QUEUE_NAME, connection=redis)], redis, heartbeat, stopping)
            worker.work(with_scheduler=False)
        except RedisError as e:
            if stopping.is_set():
                raise WorkerStopped(f"Redis is unreachable ({e})") from None
            log.warning("the worker lost Redis (%s: %s); it starts again when Redis answers", type(e).__name__, e)
        else:
            if stopping.is_set():
                return
            log.warning("RQ's work loop quit; it starts again when Redis answers")
        wait_for(redis, stopping)


def wait_for(redis: Redis, stopping: threading.Event) -> None:
    """Wait until Redis answers; a SIGTERM or SIGINT meanwhile stops the worker."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    delay = RESTART_PAUSE
    while not stopping.wait(delay):
        try:
            redis.ping()
        except RedisError:
            delay = min(delay * 2, 10.0)
            continue
        log.info("Redis answers again")
        return
    raise WorkerStopped("Redis is unreachable")
