"""The image's entry point: the API, `python churn_serving.py`, and on request RQ workers beside it.

CHURN_EMBEDDED_WORKERS=N (0 to 8, default 0) runs N `python worker.py` in the same container as the API,
working for the queue at REDIS_URL: how Elastic Beanstalk runs the async jobs (.ebextensions/05-app-env.config
sets 1; docs/deploy.md says why one container rather than a second environment). With 0, or with
no REDIS_URL (no queue to work for), this process *becomes* the API (exec): PID 1 is `python
churn_serving.py`, as it always was, and nothing below applies. Otherwise it stays PID 1, a supervisor:
- a worker that exits is started again, after a pause that doubles from 1 s to 30 s while it keeps
  exiting within a minute of its start (a worker that ran longer is started again after 1 s);
- the API exiting ends the container with the API's status (the workers are stopped first): the
  platform starts the container again, and meanwhile the load balancer's health check fails;
- SIGTERM or SIGINT goes to every child; the API finishes its requests in flight, a worker its job,
  and a worker still busy after CHURN_GRACEFUL_TIMEOUT is killed (its job is run again by another
  worker: scoring is idempotent);
- orphans (a work horse whose worker died) are reaped, as PID 1 must.
Workers run at a lower CPU priority (nice 10) than the API: a big job never slows /predict.
`python supervise.py --check` is the image's HEALTHCHECK: /readyz answers 200 and every worker is running.
Any other arguments go to the API (`docker run IMAGE serve`: SageMaker's contract, churn/server/launch.py).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from churn.config import ConfigError, Settings, read
from churn.logs import configure_logging

log = logging.getLogger("churn.supervise")

API = ("churn_serving.py",)
WORKER = ("worker.py",)
MAX_WORKERS = 8
WORKER_NICE = 10
FIRST_PAUSE, LONGEST_PAUSE, STEADY_RUN = 1.0, 30.0, 60.0  # seconds
SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT)


def embedded_workers(env: Mapping[str, str]) -> int:
    return read(
        env,
        "CHURN_EMBEDDED_WORKERS",
        int,
        0,
        ok=lambda v: 0 <= v <= MAX_WORKERS,
        want=f"a number of worker processes (0-{MAX_WORKERS})",
    )


def spawn(args: tuple[str, ...], nice: int = 0) -> int:
    """Start `python ARGS...` as a child with the default signal mask; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child: nothing here may raise back into the supervisor's loop
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            if nice:
                os.nice(nice)
            os.execv(sys.executable, [sys.executable, *args])  # noqa: S606 - our own scripts
        finally:
            os._exit(127)
    return pid


class Worker:
    """One embedded worker slot: its process, and when to start it again after it exits."""

    def __init__(self, slot: int):
        self.slot = slot
        self.process: int | None = None  # its pid while it runs
        self.started = 0.0
        self.pause = FIRST_PAUSE
        self.restart_at = 0.0

    def start(self) -> None:
        self.process, self.started = spawn(WORKER, WORKER_NICE), time.monotonic()
        log.info("worker %d started (pid %d)", self.slot, self.process)

    def exited(self, status: int, stopping: bool) -> None:
        self.process = None
        if stopping:
            log.info("worker %d stopped with status %d", self.slot, status)
            return
        ran = time.monotonic() - self.started
        if ran >= STEADY_RUN:
            self.pause = FIRST_PAUSE
        self.restart_at = time.monotonic() + self.pause
        log.warning(
            "worker %d exited with status %d after %.0f s; started again in %.0f s", self.slot, status, ran, self.pause
        )
        self.pause = min(self.pause * 2, LONGEST_PAUSE)  # the next pause, should it exit soon again


class Supervisor:
    """The API and the worker slots; ends when the API has exited and no worker runs any more."""

    def __init__(self, workers: int, graceful_timeout: int, api_args: tuple[str, ...] = ()):
        self.graceful_timeout = graceful_timeout
        self.api = spawn((*API, *api_args))
        self.api_status: int | None = None
        self.slots = [Worker(i) for i in range(1, workers + 1)]
        for slot in self.slots:
            slot.start()
        self.deadline: float | None = None  # once stopping: workers still running then are killed

    def run(self) -> int:
        while True:
            for pid, status in reap():
                self.exited(pid, os.waitstatus_to_exitcode(status))
            running = [s.process for s in self.slots if s.process is not None]
            if self.deadline is None:
                self.restart_workers()
            elif self.api_status is not None and not running:
                return self.api_status if self.api_status >= 0 else 128 - self.api_status
            elif time.monotonic() >= self.deadline:
                for pid in running:
                    log.warning("a worker (pid %d) still busy after %d s: killed", pid, self.graceful_timeout)
                    os.kill(pid, signal.SIGKILL)
            info = signal.sigtimedwait(SIGNALS, 0.5)
            if info is not None and info.si_signo != signal.SIGCHLD and self.deadline is None:
                log.info("signal %d: stopping the API and the workers", info.si_signo)
                os.kill(self.api, info.si_signo)
                self.stop()

    def exited(self, pid: int, status: int) -> None:
        if pid == self.api:
            self.api_status = status
            if self.deadline is None:
                log.error("the API exited with status %d: stopping the workers and the container", status)
                self.stop()
        for slot in self.slots:
            if pid == slot.process:
                slot.exited(status, stopping=self.deadline is not None)

    def restart_workers(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is None and now >= slot.restart_at:
                slot.start()

    def stop(self) -> None:
        """SIGTERM to every worker: RQ's warm shutdown, which finishes the job in hand first."""
        for slot in self.slots:
            if slot.process is not None:
                os.kill(slot.process, signal.SIGTERM)
        self.deadline = time.monotonic() + self.graceful_timeout


def reap() -> list[tuple[int, int]]:
    """Every child that has exited, the workers' orphaned work horses included."""
    done: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done.append((pid, status))


def check(env: Mapping[str, str]) -> int:
    """The HEALTHCHECK: ready, and as many workers running as asked for (read from /proc)."""
    port = env.get("PORT") or "9696"
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
    except OSError as e:
        sys.stderr.write(f"/readyz: {e}\n")
        return 1
    wanted = embedded_workers(env) if env.get("REDIS_URL") else 0
    running = sum(1 for pid in os.listdir("/proc") if pid.isdigit() and is_worker(pid))
    if running < wanted:
        sys.stderr.write(f"{running} of {wanted} workers running\n")
        return 1
    return 0


def is_worker(pid: str) -> bool:
    """An embedded worker: `python worker.py` whose parent is `python supervise.py`."""
    return arguments(pid)[1:2] == [WORKER[0]] and arguments(parent(pid))[1:] == [Path(__file__).name]


def arguments(pid: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:  # gone meanwhile
        return []


def parent(pid: str) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[1]  # after "pid (comm) state": the parent's pid


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        return check(os.environ)
    try:
        settings = Settings.from_env()
        workers = embedded_workers(os.environ)
    except ConfigError as e:
        sys.exit(f"churn-serving cannot start: {e}")
    configure_logging(settings.log_level)
    if workers and not settings.redis_url:
        log.warning("CHURN_EMBEDDED_WORKERS=%d but REDIS_URL is not set: jobs are off, no worker started", workers)
    if not workers or not settings.redis_url:
        os.execv(sys.executable, [sys.executable, *API, *argv[1:]])  # noqa: S606 - the API becomes this process
    log.info("running the API and %d embedded worker(s)", workers)
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)  # taken by sigtimedwait in run(), never by a handler
    return Supervisor(workers, settings.graceful_timeout, tuple(argv[1:])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
