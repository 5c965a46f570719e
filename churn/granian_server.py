"""churn-serving under granian (a Rust HTTP server with a WSGI interface): `python -m churn.granian_server`.

A prototype from the server spike (issue 11 §3), settings from the same environment as gunicorn.conf.py:
PORT, WEB_CONCURRENCY (workers), GUNICORN_THREADS (Python threads per worker), GUNICORN_GRACEFUL_TIMEOUT.

What it settles that granian's command line does not:
- the app is built once in this process before any worker exists (gunicorn's preload_app): a bad model
  stops the start with its message before the port is bound, and the forked workers share the model;
- PROMETHEUS_MULTIPROC_DIR is created and wiped here, before prometheus-client is first imported;
- granian's own log lines are JSON lines on stdout like the app's (churn.logs.JsonFormatter).
granian has no hook at a worker's exit (gunicorn's child_exit): churn.metrics forgets dead workers' live
gauges itself at each scrape.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

# Hardening that is the server's to do, each measured in the spike (notes in the decision memo):
HEADER_BUFFER_BYTES = 16 * 1024  # request line + headers past this get granian's 431/414, like gunicorn's limits
# granian closes a connection that has not sent a whole head within this time, idle keep-alive included;
# a proxy in front must close its idle upstream connections sooner (nginx: upstream keepalive_timeout).
HEADER_READ_TIMEOUT_MS = 30_000


def settings_from_env() -> dict[str, Any]:
    """granian's settings from the environment; ConfigError says which variable is wrong."""
    from churn.config import Settings, read  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is settled

    env = os.environ

    def positive(name: str, default: int) -> int:
        return read(env, name, int, default, ok=lambda v: v > 0, want="a positive integer")

    return {
        "port": Settings.from_env().port,
        "workers": positive("WEB_CONCURRENCY", os.cpu_count() or 2),
        "threads": positive("GUNICORN_THREADS", 4),
        "graceful_timeout": positive("GUNICORN_GRACEFUL_TIMEOUT", 20),
    }


def metrics_dir() -> None:
    """Each server gets a fresh directory unless one is given; a given one is wiped (an old run's counts)."""
    path = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="churn-metrics-")))
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


def log_config() -> dict[str, Any]:
    """granian's loggers ('_granian', 'granian.access') as JSON lines on stdout; its access log stays off."""
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}
    return {
        "formatters": {"json": {"()": "churn.logs.JsonFormatter"}},
        "handlers": {"console": handler, "access": handler},
    }


def main() -> None:
    metrics_dir()
    from granian import Granian  # noqa: PLC0415
    from granian.constants import HTTPModes, Interfaces  # noqa: PLC0415
    from granian.http import HTTP1Settings  # noqa: PLC0415

    from churn.config import ConfigError  # noqa: PLC0415

    try:
        options = settings_from_env()
    except ConfigError as e:
        sys.exit(f"churn-serving cannot start: {e}")
    # Fork, not spawn: the workers inherit the app built below (Python 3.14 makes forkserver the default).
    multiprocessing.set_start_method("fork", force=True)
    from churn_serving import app  # noqa: PLC0415 - exits with its message on a bad model or setting

    server = Granian(
        "churn_serving:app",
        address="0.0.0.0",  # noqa: S104 - the container's port, as gunicorn.conf.py binds it
        port=options["port"],
        interface=Interfaces.WSGI,
        workers=options["workers"],
        blocking_threads=options["threads"],
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS, max_buffer_size=HEADER_BUFFER_BYTES),
        # Without it one worker's death (OOM, SIGKILL) stops the whole server with exit 1.
        respawn_failed_workers=True,
        # Without it SIGTERM waits for every in-flight request however long it runs.
        workers_kill_timeout=options["graceful_timeout"],
        log_dictconfig=log_config(),
    )
    server.serve(target_loader=lambda _target: app)


if __name__ == "__main__":
    main()
