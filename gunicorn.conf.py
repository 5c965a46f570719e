"""gunicorn settings for churn-serving (`gunicorn -c gunicorn.conf.py churn_serving:app`).

PORT, WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_KEEPALIVE, GUNICORN_TIMEOUT and
GUNICORN_GRACEFUL_TIMEOUT override the values below; everything else is in churn/config.py.
"""

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]
from gunicorn.http import wsgi  # type: ignore[import-untyped]

from churn.config import ConfigError, Settings

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
worker_class = "gthread"
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


class QuietAccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, minus the access line's cost when gunicorn.access is silenced (as above).

    With a logconfig_dict gunicorn builds every request's access-log atoms (~10% of a worker's time
    on POST /predict under py-spy) before the WARNING level drops the line; churn.access logs instead.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


logger_class = QuietAccessLogger


class OneSendResponse(wsgi.Response):  # type: ignore[misc]
    """gunicorn's HTTP/1 response, sending its head together with the first body bytes.

    gunicorn sends the status line and headers with one sendall and the body with another; on a
    small JSON answer the second syscall (and the second TCP segment the client wakes for) is a
    share of a request's server CPU (bench/notes.md). The head is captured instead of
    sent, then goes out with the first body write, or at close (no body), or before a sendfile.
    """

    pending_head: bytes | None = None
    sock: Any  # gunicorn's socket, set by Response.__init__

    def send_headers(self) -> None:
        if self.headers_sent:
            return
        sock, capture = self.sock, _Capture()
        self.sock = capture
        try:
            super().send_headers()
        finally:
            self.sock = sock
        self.pending_head = b"".join(capture.parts)

    def flush_head(self) -> None:
        head, self.pending_head = self.pending_head, None
        if head:
            self.sock.sendall(head)

    def _emit_body(self, data: bytes) -> None:
        head = self.pending_head
        if head and not self.chunked:
            self.pending_head = None
            self.sock.sendall(head + data)
            return
        self.flush_head()
        super()._emit_body(data)

    def sendfile(self, respiter: Any) -> bool:
        self.send_headers()
        self.flush_head()
        return bool(super().sendfile(respiter))

    def close(self) -> None:
        self.send_headers()
        self.flush_head()
        super().close()


class _Capture:
    """Stands in for the socket while gunicorn writes the head."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.parts.append(bytes(data))


# wsgi.create() looks the class up at each request: every HTTP/1 response is a OneSendResponse.
wsgi.Response = OneSendResponse


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
