"""CPU per POST /predict in one process, without load: what our code costs, and what a gunicorn worker adds.

    python bench/request_cost.py              # ~20 s
    python bench/request_cost.py --smoke      # a few hundred requests: proves it runs

Two figures, both the service as shipped (gunicorn.conf.py, LOG_LEVEL INFO: the JSON access line is
formatted and written, to /dev/null here; Prometheus multiprocess metrics in a temporary directory):

- app: the WSGI app (request middleware, fast path, metrics, drift, log line) called with a prepared
  environ, as a gunicorn worker calls it;
- worker: the worker class's own handle() (gunicorn's parser, environ, response) plus the app, one
  connection over a socketpair, the client's send and receive included. The thread hand-off and the
  poller are not in it: bench/run.py measures whole servers under wrk.

Each figure is the best of several rounds of process CPU time (time.process_time), which other jobs on
the machine disturb far less than wall time. Compare versions with the same command, one after another.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent


def load_worker() -> tuple[Any, Any]:
    """gunicorn's application and a worker of the shipped config, as the arbiter would make them."""
    from gunicorn.app.wsgiapp import WSGIApplication

    sys.argv = ["gunicorn", "-c", "gunicorn.conf.py", "churn_serving:app"]
    app = WSGIApplication("%(prog)s")
    cfg = app.cfg
    worker = cfg.worker_class(1, os.getpid(), [], app, 30, cfg, cfg.logger_class(cfg))
    worker.wsgi = app.wsgi()
    worker.alive = True
    if hasattr(worker, "settle_config"):  # what its init_process does before serving
        worker.settle_config()
    return app, worker


def app_request(wsgi: Any, body: bytes) -> Callable[[], None]:
    def once() -> None:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "9696", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1",
        }  # fmt: skip
        b"".join(wsgi(environ, lambda status, headers, exc_info=None: None))

    return once


def worker_request(worker: Any, body: bytes) -> Callable[[], None]:
    from gunicorn.workers.gthread import TConn

    head = f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    request = head.encode() + b"\r\n\r\n" + body
    client, server = socket.socketpair()
    conn = TConn(worker.cfg, server, ("127.0.0.1", 40000), ("127.0.0.1", 9696))
    conn.data_ready = True

    def once() -> None:
        client.sendall(request)
        if worker.handle(conn) is not True:
            raise RuntimeError("the worker closed the connection")
        if b'"churn_probability"' not in client.recv(65536):
            raise RuntimeError("unexpected answer")

    return once


def cost(once: Callable[[], None], requests: int, rounds: int) -> float:
    """Best CPU microseconds per call over the rounds, after a warm-up."""
    for _ in range(min(requests, 2000)):
        once()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            once()
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few hundred requests: check it runs")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.rounds = 200, 1
    os.chdir(PROJECT)
    sys.path.insert(0, str(PROJECT))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="churn-request-cost-")
    os.environ["LOG_LEVEL"] = "INFO"
    report, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115  # the log lines go there
    from churn.training import REFERENCE_CUSTOMER

    body = json.dumps(REFERENCE_CUSTOMER).encode()
    _, worker = load_worker()
    figures = {
        "app (middleware + fast path + metrics + drift + log line)": cost(
            app_request(worker.wsgi.wsgi_app, body), args.requests, args.rounds
        ),
        "worker handle() + app (gunicorn's parser, environ, response)": cost(
            worker_request(worker, body), args.requests, args.rounds
        ),
    }
    for name, us in figures.items():
        print(f"{us:7.1f} us CPU per POST /predict  {name}", file=report)


if __name__ == "__main__":
    main()
