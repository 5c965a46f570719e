"""What gunicorn.conf.py installs into gunicorn (churn/gunicorn_lean.py): the response class (the head
goes out with the body in one send, in every case in order), the worker's lighter thread hand-off, its
settled config, and the remembered peer checks and Date header, each giving exactly what gunicorn's own
code gives."""

from __future__ import annotations

import email.utils
import os
import queue
import runpy
import signal
import threading
import time
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import requests
from gunicorn import util
from gunicorn.config import Config
from gunicorn.http import message, wsgi
from gunicorn.http.body import Body, EOFReader, LengthReader
from gunicorn.http.unreader import IterUnreader
from gunicorn.workers.gthread import ThreadWorker

from churn import gunicorn_lean as lean
from tests.conftest import PROJECT, Gunicorn, make_customer
from tests.ops_support import wait_for_workers, worker_pids

JSON = {"Content-Type": "application/json"}


class FakeRequest:
    def __init__(self, method: str = "POST", version: tuple[int, int] = (1, 1)):
        self.method, self.version = method, version

    def should_close(self) -> bool:
        return False


class FakeSocket:
    def __init__(self) -> None:
        self.sends: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sends.append(bytes(data))


@pytest.fixture(scope="module")
def conf(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any) -> dict[str, Any]:
    monkeypatch_module.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("metrics")))
    return runpy.run_path(str(PROJECT / "gunicorn.conf.py"))


@pytest.fixture(scope="module")
def response_class(conf: dict[str, Any]) -> Any:
    return lean.OneSendResponse


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as m:
        yield m


def respond(cls: Any, method: str, headers: list[tuple[str, str]], body: list[bytes]) -> list[bytes]:
    sock = FakeSocket()
    resp = cls(FakeRequest(method), sock, Config())
    resp.start_response("200 OK", headers)
    for part in body:
        resp.write(part)
    resp.close()
    return sock.sends


def test_a_sized_response_is_one_send_of_head_and_body(response_class: Any) -> None:
    sends = respond(response_class, "POST", [("Content-Type", "application/json"), ("Content-Length", "2")], [b"{}"])
    assert len(sends) == 1
    head, _, body = sends[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: 2" in head and body == b"{}"


def test_a_response_without_body_still_sends_its_head(response_class: Any) -> None:
    sends = respond(response_class, "HEAD", [("Content-Length", "5")], [b"hello"])
    assert len(sends) == 1 and sends[0].startswith(b"HTTP/1.1 200 OK") and sends[0].endswith(b"\r\n\r\n")
    assert respond(response_class, "POST", [("Content-Length", "0")], [])[0].endswith(b"\r\n\r\n")


def test_a_chunked_response_sends_the_head_first_then_chunks(response_class: Any) -> None:
    sends = respond(response_class, "POST", [("Content-Type", "text/plain")], [b"ab", b"c"])
    assert b"".join(sends).partition(b"\r\n\r\n")[2] == b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"
    assert sends[0].endswith(b"\r\n\r\n") and b"Transfer-Encoding: chunked" in sends[0]


def test_the_shipped_config_installs_it(response_class: Any) -> None:
    assert wsgi.Response.__name__ == response_class.__name__ == "OneSendResponse"
    assert wsgi.Response is lean.OneSendResponse  # installed by gunicorn.conf.py (the conf fixture ran it)


def test_a_settled_config_reads_every_setting_as_gunicorn_does(conf: dict[str, Any]) -> None:
    cfg = Config()
    cfg.set("keepalive", 75)
    cfg.set("forwarded_allow_ips", "10.0.0.1,127.0.0.1")
    expected = {name: getattr(cfg, name) for name in cfg.settings}
    cfg.__class__ = lean.SettledConfig
    for _ in range(2):  # the first read stores the value, the second finds it
        assert {name: getattr(cfg, name) for name in cfg.settings} == expected
    assert cfg.keepalive == 75 and cfg.forwarded_allow_ips == ["10.0.0.1", "127.0.0.1"]
    assert cfg.forwarded_allow_networks() and not cfg.is_ssl  # methods and properties still work
    with pytest.raises(AttributeError):
        cfg.no_such_setting  # noqa: B018


@pytest.mark.parametrize(
    ("ip", "allow"),
    [
        ("127.0.0.1", ["127.0.0.1", "::1"]),
        ("10.1.2.3", ["127.0.0.1", "::1"]),
        ("10.1.2.3", ["10.0.0.0/8"]),
        ("::1", ["127.0.0.1", "::1"]),
        ("not-an-ip", ["127.0.0.1"]),
        ("192.0.2.7", ["*"]),
    ],
)
def test_the_remembered_peer_check_answers_as_gunicorns(conf: dict[str, Any], ip: str, allow: list[str]) -> None:
    cfg = Config()
    cfg.set("forwarded_allow_ips", ",".join(allow))
    networks = cfg.forwarded_allow_networks()
    expected = lean._ip_in_allow_list(ip, cfg.forwarded_allow_ips, networks)
    assert lean._ip_in_allow_list is message._churn_original__ip_in_allow_list
    for _ in range(2):  # computed, then remembered
        assert message._ip_in_allow_list(ip, cfg.forwarded_allow_ips, networks) is expected


def test_the_peer_memory_is_bounded(conf: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    check = lean.ip_in_allow_list
    monkeypatch.setitem(check.__globals__, "ALLOWED_PEERS_REMEMBERED", 0)
    remembered = check.__globals__["_allowed"]
    before = dict(remembered)
    cfg = Config()
    cfg.set("forwarded_allow_ips", "10.0.0.0/8")
    assert check("10.9.9.9", cfg.forwarded_allow_ips, cfg.forwarded_allow_networks()) is True
    assert remembered == before


def test_the_date_header_is_gunicorns_for_the_current_second(conf: dict[str, Any]) -> None:
    assert util.http_date.__class__.__name__ == "HttpDate"
    for _ in range(3):
        before = email.utils.formatdate(time.time(), usegmt=True)
        got = util.http_date()
        after = email.utils.formatdate(time.time(), usegmt=True)
        assert got in (before, after)
    assert util.http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"  # a given time is formatted as given


class FakeQueue:
    """gunicorn's method queue: collects what the pool hands back to the main thread."""

    def __init__(self) -> None:
        self.handed: queue.SimpleQueue[tuple[Any, Any, Any]] = queue.SimpleQueue()

    def defer(self, callback: Any, conn: Any, done: Any) -> None:
        self.handed.put((callback, conn, done))


def lean_worker(conf: dict[str, Any], threads: int, handle: Any) -> Any:
    worker = lean.LeanThreadWorker.__new__(lean.LeanThreadWorker)
    worker.cfg = SimpleNamespace(threads=threads)
    worker.method_queue = FakeQueue()
    worker.handle = handle
    worker.finish_request = "finish_request"
    return worker


def test_the_lean_pool_hands_every_outcome_back_as_a_future_would(conf: dict[str, Any]) -> None:
    def handle(conn: str) -> bool:
        if conn == "broken":
            raise OSError("reset")
        return conn == "keep"

    worker = lean_worker(conf, 3, handle)
    before = set(threading.enumerate())
    pool = worker.get_thread_pool()
    for conn in ("keep", "close", "broken"):
        worker.enqueue_req(conn)
    handed = {
        conn: (callback, done)
        for callback, conn, done in (worker.method_queue.handed.get(timeout=10) for _ in range(3))
    }
    assert {conn: callback for conn, (callback, _) in handed.items()} == dict.fromkeys(handed, "finish_request")
    assert handed["keep"][1].result() is True and handed["close"][1].result() is False
    assert not any(done.cancelled() for _, done in handed.values())
    with pytest.raises(OSError, match="reset"):  # finish_request then closes the connection, as with a future
        handed["broken"][1].result()
    pool.shutdown(wait=False)
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_the_lean_pool_serves_queued_connections_before_it_stops(conf: dict[str, Any]) -> None:
    gate = threading.Event()
    worker = lean_worker(conf, 1, lambda conn: gate.wait(10))
    worker.get_thread_pool()
    for conn in range(3):
        worker.enqueue_req(conn)
    worker.shutdown(wait=False)  # as gthread does when it stops: what was accepted is still answered
    gate.set()
    assert sorted(worker.method_queue.handed.get(timeout=10)[1] for _ in range(3)) == [0, 1, 2]


def test_the_shipped_config_uses_the_lean_worker(conf: dict[str, Any]) -> None:
    assert conf["worker_class"] is lean.LeanThreadWorker
    assert issubclass(lean.LeanThreadWorker, ThreadWorker)


def body_of(data: bytes, declared: int | None) -> Any:
    unreader = IterUnreader([data])
    return Body(LengthReader(unreader, declared) if declared is not None else EOFReader(unreader))


def test_a_body_counts_as_read_to_its_end_only_when_nothing_is_left(conf: dict[str, Any]) -> None:
    read_to_end = lean.read_to_end
    whole, part, failed = body_of(b"abcdef", 6), body_of(b"abcdef", 6), body_of(b"abcdef", 6)
    assert whole.read(6) == b"abcdef" and read_to_end(whole)
    assert part.read(2) == b"ab" and not read_to_end(part)
    assert read_to_end(body_of(b"", 0))  # a request without a body
    failed.read(6)
    failed.failed = True  # what Body sets when its reader raised (the client went away mid-body)
    assert not read_to_end(failed) and not read_to_end(body_of(b"abc", None)) and not read_to_end(None)


class NoDrain:
    """A parser whose body must not be drained: the worker answers without calling finish_body."""

    def __init__(self, body: Any):
        self.mesg = SimpleNamespace(body=body)

    def finish_body(self, **_: Any) -> bool:
        raise AssertionError("drained")


def test_keep_alive_after_a_body_read_to_its_end_needs_no_drain(conf: dict[str, Any]) -> None:
    worker = lean.LeanThreadWorker.__new__(lean.LeanThreadWorker)
    whole = body_of(b"{}", 2)
    whole.read(2)
    conn = SimpleNamespace(parser=NoDrain(whole))
    assert worker._keepalive_after(conn, True) is True
    assert worker._keepalive_after(conn, False) is False  # gthread's answer when the response closes
    partly = body_of(b"{}", 2)
    with pytest.raises(AssertionError, match="drained"):  # a body left unread is drained as gthread does
        worker._keepalive_after(SimpleNamespace(parser=NoDrain(partly)), True)


def test_the_worker_tells_the_arbiter_it_lives_at_most_once_a_second(conf: dict[str, Any]) -> None:
    worker = lean.LeanThreadWorker.__new__(lean.LeanThreadWorker)
    calls: list[float] = []
    worker.tmp = SimpleNamespace(notify=lambda: calls.append(time.monotonic()))
    for _ in range(1000):  # a busy poller wakes up about once per request
        worker.notify()
    assert len(calls) == 1
    worker.next_notify = time.monotonic() - 0.001  # a second later
    worker.notify()
    assert len(calls) == 2 and Config().timeout >= lean.NOTIFY_SECONDS * 30  # far within gunicorn's timeout


@pytest.mark.server
def test_the_lean_worker_serves_concurrent_kept_alive_connections_and_logs_each_request() -> None:
    body = orjson.dumps(make_customer())
    expected = requests.Session()
    server = Gunicorn(env={"GUNICORN_THREADS": "2"}).start()  # fewer threads than connections
    try:
        answer = expected.post(server.url + "/predict", data=body, headers=JSON, timeout=10).content
        results: list[list[bytes]] = []

        def client() -> None:
            with requests.Session() as session:  # one kept-alive connection per client
                results.append([session.post(server.url + "/predict", data=body, headers=JSON, timeout=10).content
                                for _ in range(50)])  # fmt: skip

        clients = [threading.Thread(target=client) for _ in range(6)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
    finally:
        expected.close()
        output = server.stop()
    assert len(results) == 6 and all(r == [answer] * 50 for r in results)
    lines = [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert sum(line["logger"] == "churn.access" and line["route"] == "/predict" for line in lines) == 301
    assert any(line["message"] == "Using worker: LeanThreadWorker" for line in lines)


@pytest.mark.server
def test_a_worker_aborted_for_its_timeout_exits_at_once_and_is_replaced() -> None:
    """SIGABRT (the arbiter's timeout signal) skips gthread's shutdown; the threads must not hold the exit."""
    server = Gunicorn().start()
    try:
        first, victim = wait_for_workers(server, 2)
        os.kill(victim, signal.SIGABRT)
        deadline = time.monotonic() + 10
        while victim in worker_pids(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert victim not in worker_pids(server)
        assert first in wait_for_workers(server, 2)
        assert requests.get(server.url + "/readyz", timeout=10).status_code == 200
    finally:
        server.stop()
