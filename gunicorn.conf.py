"""gunicorn settings for churn-serving (`gunicorn -c gunicorn.conf.py churn_serving:app`).

PORT, WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_KEEPALIVE, GUNICORN_TIMEOUT and
GUNICORN_GRACEFUL_TIMEOUT override the values below; everything else is in churn/config.py.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from churn.config import ConfigError, Settings
from churn.gunicorn_lean import LeanThreadWorker, QuietAccessLogger
from churn.gunicorn_lean import install as install_lighter_gunicorn

try:
    _settings = Settings.from_env()
except ConfigError as e:
    sys.exit(f"churn-serving cannot start: {e}")

# prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is first imported, which is when the app is
# preloaded below, so it is settled here. Unset, each server gets a fresh private directory.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="churn-metrics-"))

bind = f"0.0.0.0:{_settings.port}"
# Load the model once in the master, before forking: a bad model stops start-up before any
# worker serves, and the workers share the model's memory.
preload_app = True
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
# gthread with keep-alive, chosen by measurement (BENCHMARKS.md, bench/notes.md): threads keep a slow
# client from blocking a worker; keep-alive saves the TCP connection the sync worker pays per request.
# worker_class: LeanThreadWorker below, gunicorn's gthread worker with a lighter hand-off
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# The control socket would be written under $HOME, which a container's user may not own; unused.
control_socket_disable = True

# gunicorn's own messages go to stdout as JSON lines too, like the application's.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "churn.logs.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}},
    "root": {"level": _settings.log_level, "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        # churn.access logs each request with more (request id, route, rows, model); no second line.
        "gunicorn.access": {"level": "WARNING", "handlers": ["stdout"], "propagate": False},
    },
}


install_lighter_gunicorn()
logger_class = QuietAccessLogger
# gthread (see above), with a lighter hand-off between its poller and its threads: churn/gunicorn_lean.py
worker_class = LeanThreadWorker


def on_starting(server: Any) -> None:
    """Wipe the metrics directory: files of a previous run would be added to this run's counts."""
    path = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (its recent window); its counters stay in the totals."""
    # Imported here, not at the top: prometheus-client must first be imported after the variable is set.
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
