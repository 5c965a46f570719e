"""Serve the app with granian: `python churn_serving.py` (what the container, `make serve` and the stack run).

granian (a Rust HTTP server with a WSGI interface) was chosen by measurement over gunicorn: ~2-4x the
requests per second at a third of the server CPU per request, it closes a connection whose body the
app refused unread, holds no thread for a client trickling its headers, and answers malformed HTTP
without an HTML page (docs/performance.md has the figures and the behaviours). What this module
settles that granian's command line does not:
- the app is built once, in this process, before any worker is forked: a bad model or setting stops
  the start with its message before the port is bound, and the workers share the loaded model;
- with jobs on, CHURN_JOB_ROUTE_SLOTS must be below CHURN_THREADS (granian's threads per worker), or
  job requests could take every thread from /predict (churn.config.check_job_route_slots);
- PROMETHEUS_MULTIPROC_DIR is created, or an old run's metric files removed from it, before
  prometheus-client is first imported;
- secrets leave os.environ once the app holds them: granian copies os.environ into every request's
  environ;
- granian's own log lines are JSON lines on stdout, like the app's;
- a worker ends with the server process: granian's workers would otherwise go on serving the port
  alone, unsupervised, after the server process is killed (SIGKILL, OOM);
- with CHURN_METRICS_EMF=1 this process, one per instance, writes the CloudWatch metric lines.
`python churn_serving.py serve` is SageMaker's way to start the image (`docker run IMAGE serve`): the
same app on port 8080, or SAGEMAKER_BIND_TO_PORT (churn.server.protocols.sagemaker), whatever PORT says.
The book's command, `gunicorn --bind 0.0.0.0:9696 churn_serving:app`, serves the same app too.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from churn.files import printable

# Each measured in the server spike (docs/performance.md):
HEADER_BUFFER_BYTES = 16 * 1024  # a request line and headers past this get granian's 414/431
# granian closes a connection that has not sent a whole head within this time, idle keep-alive
# included: a proxy in front must close its idle upstream connections sooner (nginx/churn.conf.template).
HEADER_READ_TIMEOUT_MS = 30_000
SECRETS = ("CHURN_API_KEYS", "REDIS_URL")  # read into the app's Settings; never in a request's environ
USAGE = "usage: python churn_serving.py [serve]   (serve: SageMaker's contract, port 8080)"


def fresh_metrics_dir() -> None:
    """Each server gets a fresh directory unless one is given. A given one is created if missing, and
    only an old run's metric files in it (prometheus-client's *.db) are removed: nothing else there is
    ours to delete (a mistyped `.` or $HOME included)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="churn-metrics-")
        return
    try:
        Path(given).mkdir(parents=True, exist_ok=True)
        for old in Path(given).glob("*.db"):
            old.unlink(missing_ok=True)
    except OSError as e:  # a file of that name, a folder that cannot be made or written
        sys.exit(f"churn-serving cannot start: PROMETHEUS_MULTIPROC_DIR {printable(given)}: {e.strerror or e}")


def log_config() -> dict[str, Any]:
    """granian's loggers as JSON lines on stdout; its access log stays off (churn.access logs each request)."""
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}
    return {
        "formatters": {"json": {"()": "churn.logs.JsonFormatter"}},
        "handlers": {"console": handler, "access": handler},
    }


PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def die_with(parent: int) -> None:
    """In a forked worker: have the kernel kill this process when the server process dies."""
    import ctypes  # noqa: PLC0415 - only workers, once

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: no such call
        return
    if os.getppid() != parent:  # the server died before the call above: the kernel will not tell us
        os._exit(1)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        print(f"{USAGE}\nsettings come from the environment (CHURN_*, PORT): docs/operations.md")  # noqa: T201
        sys.exit(0)
    if args not in ([], ["serve"]):  # SageMaker's training ("train") is not this image's job
        print(USAGE, file=sys.stderr)  # noqa: T201 - a command-line error, before logging exists
        sys.exit(2)
    fresh_metrics_dir()  # before anything imports prometheus-client
    from churn.config import ConfigError, Settings, check_job_route_slots  # noqa: PLC0415
    from churn.server.app import build_app  # noqa: PLC0415 - see above
    from churn.server.protocols import sagemaker  # noqa: PLC0415

    try:
        settings = Settings.from_env()
        if args == [sagemaker.SERVE]:
            settings = dataclasses.replace(settings, port=sagemaker.serve_port(os.environ))
        check_job_route_slots(settings, os.environ)  # here CHURN_THREADS is granian's threads per worker
    except ConfigError as e:
        sys.exit(f"churn-serving cannot start: {e}")
    app = build_app(settings)  # exits with its message on a bad model
    if args == [sagemaker.SERVE] and settings.api_keys:
        logging.getLogger("churn").warning(
            "serve: CHURN_API_KEYS is set, but SageMaker sends no key: its /invocations calls will get 401"
        )
    for name in SECRETS:
        os.environ.pop(name, None)

    from granian import Granian  # noqa: PLC0415 - only the server needs it
    from granian.constants import HTTPModes, Interfaces  # noqa: PLC0415
    from granian.http import HTTP1Settings  # noqa: PLC0415

    # Fork, not spawn: the workers inherit the app built above.
    multiprocessing.set_start_method("fork", force=True)
    server_pid = os.getpid()
    os.register_at_fork(after_in_child=lambda: die_with(server_pid))
    server = Granian(
        "churn_serving:app",  # granian's name for it; the app itself comes from target_loader
        address="0.0.0.0",  # noqa: S104 - the container's port: every interface
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=settings.threads,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS, max_buffer_size=HEADER_BUFFER_BYTES),
        respawn_failed_workers=True,  # otherwise one worker's death (OOM, SIGKILL) stops the whole server
        workers_kill_timeout=settings.graceful_timeout,  # otherwise SIGTERM waits for any request forever
        log_dictconfig=log_config(),
    )
    if settings.metrics_emf:  # this process, the workers' parent, writes the CloudWatch lines (churn/server/emf.py)
        from churn.server.emf import Emitter  # noqa: PLC0415

        emitter = Emitter.for_app(app, settings)
        server.on_startup(lambda: emitter.start(settings.metrics_emf_interval))
        server.on_shutdown(emitter.stop)  # after the workers stopped: the last interval's counts
    server.serve(target_loader=lambda _target: app)
