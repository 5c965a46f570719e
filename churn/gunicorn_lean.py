"""gunicorn, lighter per request: the subclasses and replacements gunicorn.conf.py installs.

Each piece answers exactly what gunicorn's own code answers (tests/test_gunicorn_conf.py compares
them) and was kept because it measurably cut a worker's CPU per POST /predict (bench/notes.md).
They rely on gunicorn 27's internals (gthread's hooks, two module functions), which is why gunicorn
is pinned and the tests compare each one with the code it stands in for.

- QuietAccessLogger: no access-log atoms built for a silenced access log.
- OneSendResponse: the status line and headers go out with the body, in one send.
- LeanThreadWorker: gthread with a plain queue and threads instead of a ThreadPoolExecutor, its
  settings read once (SettledConfig), no drain of a body read to its end, the arbiter notified once a
  second.
- install(): the responses, the peer check against forwarded_allow_ips remembered per peer, and the
  Date header formatted once a second.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from gunicorn import util  # type: ignore[import-untyped]
from gunicorn.config import Config  # type: ignore[import-untyped]
from gunicorn.glogging import Logger  # type: ignore[import-untyped]
from gunicorn.http import message, wsgi  # type: ignore[import-untyped]
from gunicorn.http.body import Body, LengthReader  # type: ignore[import-untyped]
from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]


def install() -> None:
    """Put the replacements in place; gunicorn looks each one up where it is used, at each request."""
    wsgi.Response = OneSendResponse
    message._ip_in_allow_list = ip_in_allow_list
    util.http_date = HttpDate()


class QuietAccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, minus the access line's cost when gunicorn.access is silenced (gunicorn.conf.py).

    With a logconfig_dict gunicorn builds every request's access-log atoms (~10% of a worker's time
    on POST /predict under py-spy) before the WARNING level drops the line; churn.access logs instead.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


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


class SettledConfig(Config):  # type: ignore[misc]
    """A worker's gunicorn Config, each setting read through Config.__getattr__ once.

    gunicorn reads its settings per request (22 times for a POST /predict), each a __getattr__ and
    a Setting.get() (~0.6 us); a worker's settings never change (a reload starts new workers),
    so the first read stores the value as a plain attribute.
    """

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        self.__dict__[name] = value  # not setattr: Config refuses to set a setting that way
        return value


ALLOWED_PEERS_REMEMBERED = 1024  # a service facing the whole internet stops remembering there


def ip_in_allow_list(ip: str, allow_list: list[str], networks: list[Any]) -> bool:
    """gunicorn's check of a peer against forwarded_allow_ips, remembered per peer address.

    gunicorn parses the peer's address with ipaddress for every request (~3.4 us). The answer
    depends only on the address and the allow list (the networks are parsed from that list), and
    a service sees few peers: its load balancer, its proxy.
    """
    key = (ip, tuple(allow_list))
    allowed = _allowed.get(key)
    if allowed is None:
        allowed = bool(_ip_in_allow_list(ip, allow_list, networks))
        if len(_allowed) < ALLOWED_PEERS_REMEMBERED:
            _allowed[key] = allowed
    return allowed


def original(module: Any, name: str) -> Any:
    """module.name as gunicorn defined it, also when it was replaced before this module was (re)loaded."""
    return vars(module).setdefault(f"_churn_original_{name}", getattr(module, name))


_allowed: dict[tuple[str, tuple[str, ...]], bool] = {}
_ip_in_allow_list = original(message, "_ip_in_allow_list")


class HttpDate:
    """gunicorn's Date header value, formatted once a second instead of for every response."""

    def __init__(self) -> None:
        self.last: tuple[int, str] = (-1, "")

    def __call__(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return str(_http_date(timestamp))
        second = int(time.time())
        last = self.last  # one tuple, replaced whole: threads see a matching pair
        if last[0] != second:
            last = self.last = (second, _http_date(second))
        return last[1]


_http_date = original(util, "http_date")


class Finished:
    """A handled connection's outcome, read by gthread's finish_request as it reads a future."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None):
        self.value, self.error = value, error

    def cancelled(self) -> bool:
        return False

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class LeanThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker with a plain queue and threads in place of its ThreadPoolExecutor.

    Every request on a kept-alive connection goes poller -> pool -> poller. The executor wraps each
    hand-off in a Future (a Condition, locks, a semaphore, a callback list), ~10% of a worker's
    Python time on POST /predict under py-spy (bench/notes.md). Here the main thread puts the
    connection on a SimpleQueue; `threads` threads, started with the worker, take it, run gunicorn's
    own handle() and hand the outcome back through gunicorn's own pipe queue, as the executor's
    done-callback did. Everything else (poller, keep-alive, timeouts, shutdown) is gthread's.
    """

    jobs: queue.SimpleQueue[Any]
    next_notify = 0.0

    def init_process(self) -> None:
        self.settle_config()
        super().init_process()

    def settle_config(self) -> None:
        """This process's copy of the config becomes a SettledConfig (connections share it)."""
        self.cfg.__class__ = SettledConfig

    def get_thread_pool(self) -> Any:
        self.jobs = queue.SimpleQueue()
        for n in range(self.cfg.threads):
            threading.Thread(target=self.serve_jobs, name=f"churn-http-{n}").start()
        # As concurrent.futures does for its executors: when the interpreter exits by any path (a
        # timed-out worker's SIGABRT skips gthread's own shutdown), the threads are told to stop
        # before Python waits for them, after what is queued; otherwise the exit would wait forever.
        threading._register_atexit(self.shutdown)  # type: ignore[attr-defined]
        return self

    def enqueue_req(self, conn: Any) -> None:
        self.jobs.put(conn)

    def serve_jobs(self) -> None:
        while (conn := self.jobs.get()) is not None:
            try:
                done = Finished(self.handle(conn))
            except BaseException as e:  # as the executor did: finish_request closes the connection
                done = Finished(error=e)
            self.method_queue.defer(self.finish_request, conn, done)

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """gthread's, without draining a body that was read to its end (every well-formed POST /predict).

        gthread drains what is left of the body under a deadline: two settimeout calls (two ioctl
        syscalls, each letting the other threads take the GIL) around a read that finds nothing.
        A body read to its end has nothing to drain: the answer is gthread's, True.
        """
        if keepalive and read_to_end(getattr(conn.parser.mesg, "body", None)):
            return True
        return bool(super()._keepalive_after(conn, keepalive))

    def notify(self) -> None:
        """Tell the arbiter this worker is alive at most once a second, not at every poller wake-up.

        gthread's loop notifies each time it wakes (an os.utime syscall), about once per request
        under load; the arbiter only needs it within `timeout` seconds (30).
        """
        now = time.monotonic()
        if now >= self.next_notify:
            self.next_notify = now + NOTIFY_SECONDS
            super().notify()

    def shutdown(self, wait: bool = False) -> None:
        """The executor's shutdown(wait=False): queued connections are still served, then threads end."""
        for _ in range(self.cfg.threads):
            self.jobs.put(None)


NOTIFY_SECONDS = 1.0


def read_to_end(body: Any) -> bool:
    """Whether a request body was read to its declared end and nothing of it is left unread."""
    return (
        isinstance(body, Body)
        and isinstance(body.reader, LengthReader)
        and body.reader.length == 0
        and body.buf.tell() == 0
        and not body.failed
    )
