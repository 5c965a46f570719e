"""Hostile HTTP on real servers: every spelling of every protected route, every framing of a body.

Raw bytes over sockets, straight to the shipped server (2 workers, API keys, a real Redis and worker)
and through the two nginx configurations this project ships: the local stack's (nginx/churn.conf.template)
and one like Elastic Beanstalk's platform nginx (tests/support/ops_support.py). Every answer is checked against
the request log line the service wrote for it, found by its X-Request-ID.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.server.app import create_app
from churn.server.middleware import template
from tests.conftest import BOOK_GUNICORN, Server, free_port
from tests.support.ops_support import CUSTOMER, Nginx, ProjectNginx
from tests.support.servers import RedisServer, RQWorker

pytestmark = pytest.mark.server
KEY = "hostile-test-key-0123456789"
LIMIT = 16 * 1024 * 1024  # CHURN_MAX_BODY_BYTES (the default), equal to nginx's client_max_body_size


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after this answer


def exchange(port: int, data: bytes, half_close: bool = False, timeout: float = 10, wait_close: float = 0) -> Answer:
    """Send raw bytes, read one answer, and see for up to `wait_close` s whether the server then closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
        if not raw:  # the server closed the connection without an answer
            return Answer(0, {}, b"", closed=True)
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        closed = False
        if wait_close:
            sock.settimeout(wait_close)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                closed = sock.recv(1) == b""
    return Answer(int(lines[0].split(" ")[1]), headers, body, closed)


def request(
    method: str, target: str, body: bytes = b"", key: bool = False, request_id: str = "", **extra: str
) -> bytes:
    headers = {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": str(len(body)), **extra}
    if key:
        headers["Authorization"] = f"Bearer {KEY}"
    if request_id:
        headers["X-Request-ID"] = request_id
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode() + body


class Stack:
    """The shipped server, the two nginx in front of it, and the book's own gunicorn command beside it
    (the same app, so the same refusals, whichever HTTP server runs it)."""

    def __init__(self, folder: Path):
        self.running = contextlib.ExitStack()  # stops what started, also when a later start fails
        try:
            self.start(folder)
        except BaseException:
            self.running.close()
            raise
        self.ids = itertools.count()
        self.log_offsets = {self.server.log: 0, self.gunicorn.log: 0}
        self.lines: dict[str, dict[str, Any]] = {}

    def start(self, folder: Path) -> None:
        self.redis = self.started(RedisServer(folder))
        self.worker = self.started(RQWorker(folder, self.redis.url))
        env = {"CHURN_API_KEYS": KEY, "REDIS_URL": self.redis.url, "CHURN_JOB_MAX_BATCH": "200000",
               "CHURN_JOBS_PER_CALLER": "1000", "CHURN_JOBS_MAX_ACTIVE": "1000"}  # fmt: skip
        self.server = self.started(Server(env=env, log_dir=folder))
        self.gunicorn = self.started(Server(env=env, log_dir=folder, command=BOOK_GUNICORN))
        self.nginx = {
            "project nginx": self.started(ProjectNginx([self.server.port], folder / "project-nginx")),
            "platform-like nginx": self.started(Nginx(self.server.port, folder / "platform-nginx")),
        }
        self.ports = {
            "server": self.server.port,
            "book gunicorn": self.gunicorn.port,
            **{name: n.port for name, n in self.nginx.items()},
        }

    def started(self, process: Any) -> Any:
        self.running.callback(process.stop)
        return process.start()

    def stop(self) -> None:
        self.running.close()

    def request_id(self) -> str:
        return f"hostile-{next(self.ids)}"

    def logged(self, answer: Answer) -> dict[str, Any] | None:
        """The service's request log line for an answer; None when the answer did not come from the service
        (nginx's or the HTTP server's own refusals carry no X-Request-ID)."""
        request_id = answer.headers.get("x-request-id")
        if request_id is None:
            return None
        for _ in range(100):
            for log, offset in self.log_offsets.items():
                with log.open("rb") as f:
                    f.seek(offset)
                    for line in f.read().decode().splitlines(keepends=True):
                        if not line.endswith("\n"):
                            break
                        self.log_offsets[log] += len(line.encode())
                        if '"churn.access"' in line:
                            record = json.loads(line)
                            self.lines[record["request_id"]] = record
            if request_id in self.lines:
                return self.lines.pop(request_id)
            time.sleep(0.02)
        raise AssertionError(f"no request log line for {request_id}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("hostile"))
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def job_id(stack: Stack) -> str:
    """A finished job submitted with a key: its result holds customer ids."""
    url, auth = stack.server.url, {"Authorization": f"Bearer {KEY}"}
    body = {"customers": [{**json.loads(CUSTOMER), "customerid": "SECRET-CUSTOMER-1"}]}
    job = requests.post(url + "/v1/jobs", json=body, headers=auth, timeout=10).json()
    for _ in range(200):
        if requests.get(url + job["status_url"], headers=auth, timeout=10).status_code == 200:
            return str(job["id"])
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def protected(job: str) -> list[tuple[str, str, bytes]]:
    """Every protected view: method, canonical path, a body it would accept."""
    batch = b'{"customers": [' + CUSTOMER + b"]}"
    return [
        ("POST", "/predict", CUSTOMER),
        ("POST", "/v1/predict", batch),
        ("GET", "/metrics", b""),
        ("POST", "/v1/jobs", batch),
        ("GET", f"/v1/jobs/{job}", b""),
        ("GET", f"/v1/jobs/{job}/result", b""),
    ]


def spellings(path: str) -> Iterator[tuple[str, str | None]]:
    """Raw request targets for a path, each with the path a server decodes it to (None: not the same path)."""
    slashes = [i for i, c in enumerate(path) if c == "/"]
    yield path, path
    for i in slashes:
        yield path[:i] + "/" + path[i:], None  # a repeated slash, at each slash
        yield path[:i] + "/%2f" + path[i + 1 :], None
        if i:  # an encoded slash in place of a slash (not the first): decoded to the same path, but not that path
            yield path[:i] + "%2F" + path[i + 1 :], None
            yield path[:i] + "%2f" + path[i + 1 :], None
        yield path[:i] + "/." + path[i:], None
        yield path[:i] + "/%2e" + path[i:], None
        yield path[:i] + "/x/.." + path[i:], None
    for i, c in enumerate(path):
        if c.isalpha():
            yield path[:i] + f"%{ord(c):02x}" + path[i + 1 :], path  # percent-encoded: decoded to the same path
            yield path[:i] + c.swapcase() + path[i + 1 :], None
    yield path + "/", None
    yield path + "/.", None
    yield path + ";x=1", None
    yield path + "%3bx=1", None
    yield path + "%00", None
    yield path + "%20", None
    yield path.upper(), None
    yield f"http://127.0.0.1{path}", path  # absolute form


def sent_path(target: str) -> str:
    """The path part of a target, escapes and all ("http://host/a%2fb?c" -> "/a%2fb")."""
    return target.partition("?")[0] if target.startswith("/") else urlsplit(target).path


def granian_decodes_it_to(target: str, path: str) -> bool:
    """Whether straight to granian a target is served as `path`: granian decodes %2f to "/" and passes
    the service no copy of the target as sent (docs/api.md: the documented exception)."""
    return unquote(sent_path(target)) == path


def served(answer: Answer) -> bool:
    """Whether a protected view itself answered (not a refusal before it)."""
    refused = {401, 404, 405, 400}
    return answer.status not in refused


FRONTS = ["server", "book gunicorn", "project nginx", "platform-like nginx"]
SERVERS = ["server", "book gunicorn"]


@pytest.mark.parametrize("front", FRONTS)
def test_no_spelling_of_a_protected_route_is_served_without_a_key(stack: Stack, job_id: str, front: str) -> None:
    port = stack.ports[front]
    for method, path, body in protected(job_id):
        for target, _ in spellings(path):
            request_id = stack.request_id()
            answer = exchange(port, request(method, target, body, request_id=request_id))
            assert answer.status in (400, 401), (front, method, target, answer.status, answer.body[:200])
            assert b"SECRET-CUSTOMER" not in answer.body and b"churn_probability" not in answer.body
            line = stack.logged(answer)
            if line is not None:  # nginx refuses some targets itself (400): they never reach the service
                assert line["status"] == answer.status == 401


@pytest.mark.parametrize("front", FRONTS)
def test_with_a_key_a_spelling_is_served_only_as_the_path_it_decodes_to(stack: Stack, job_id: str, front: str) -> None:
    port = stack.ports[front]
    for method, path, body in protected(job_id):
        for target, same_path in spellings(path):
            request_id = stack.request_id()
            answer = exchange(port, request(method, target, body, key=True, request_id=request_id))
            line = stack.logged(answer)
            if same_path is None and front == "server" and granian_decodes_it_to(target, path):
                assert line is not None and line["route"] == path.replace(job_id, "<job_id>"), (target, line)
                assert line["path"] == path  # all granian says of the target
            elif same_path is None:
                assert not served(answer), (front, method, target, answer.status)
                # a job route may match with another job id (a case-swapped one): the view finds no such job
                other_job = line is not None and json.loads(answer.body)["error"]["code"] == "job_not_found"
                assert line is None or other_job or (line["route"], line["status"]) == ("unmatched", answer.status)
            else:
                assert answer.status in (200, 202), (front, method, target, answer.status, answer.body[:200])
                # gunicorn passes the target on (RAW_URI): the path as sent; granian only the decoded path
                logged = sent_path(target) if front == "book gunicorn" else same_path
                assert line is not None and line["path"] == logged and line["status"] == answer.status
                assert line["route"] == path.replace(job_id, "<job_id>")


@pytest.fixture(scope="module")
def every_route(model: LoadedModel, job_id: str) -> list[tuple[str, str, str]]:
    """Every route of the app, open or not: (method, template, a concrete path of it)."""

    def concrete(rule: str) -> str:
        names = {
            "<job_id>": job_id,
            "<model_name>": "churn",
            "<model_version>": model.version,
            "<asset>": "swagger-ui.css",
        }
        for name, value in names.items():
            rule = rule.replace(name, value)
        return rule

    rules = create_app(Settings(), model).url_map.iter_rules()
    routes = [(m, template(r.rule)) for r in rules for m in sorted(r.methods - {"HEAD", "OPTIONS"})]
    return [(method, route, concrete(route)) for method, route in routes]


def encoded_slashes(path: str) -> Iterator[str]:
    """The path with an encoded slash in place of each slash but the first, and at the end; both cases."""
    for escape in ("%2f", "%2F"):
        yield from (path[:i] + escape + path[i + 1 :] for i, c in enumerate(path) if c == "/" and i)
        yield path + escape


@pytest.mark.parametrize("front", FRONTS)
def test_an_encoded_slash_matches_no_route_with_or_without_a_key(
    stack: Stack, every_route: list[tuple[str, str, str]], front: str
) -> None:
    for method, route, path in every_route:
        for target, key in itertools.product(encoded_slashes(path), (False, True)):
            answer = exchange(stack.ports[front], request(method, target, key=key, request_id=stack.request_id()))
            line = stack.logged(answer)
            assert line is not None, (front, target, answer.status)
            if front == "server" and granian_decodes_it_to(target, path):  # the documented exception
                assert (line["route"], line["path"]) == (route, path), (target, line)
                continue
            assert answer.status == (404 if key else 401), (front, method, target, answer.status)
            # as sent: gunicorn passes the target on, nginx sends it re-escaped; granian says only what it decoded
            logged = unquote(sent_path(target)) if front == "server" else sent_path(target)
            assert (line["route"], line["path"]) == ("unmatched", logged), (front, target)


@pytest.mark.parametrize("front", FRONTS)
def test_a_double_encoded_slash_is_decoded_once(stack: Stack, front: str) -> None:
    for target in ("/v1%252fpredict", "/v1/predict%252f", "/v2%252fhealth/live"):
        answer = exchange(stack.ports[front], request("POST", target, key=True, request_id=stack.request_id()))
        line = stack.logged(answer)
        assert answer.status == 404 and line is not None and line["route"] == "unmatched", (front, target)


def chunked(data: bytes, size: int = 4096) -> bytes:
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def rows(count: int) -> bytes:
    return b'{"customers": [' + b",".join([CUSTOMER] * count) + b"]}"


CSV_ROW = (
    b"8879-zkjof,female,0,no,no,41,yes,no,dsl,yes,no,yes,yes,yes,yes,one_year,yes,bank_transfer_(automatic),"
    b"79.85,3320.75\n"
)
CSV_HEAD = (
    b"customerid,gender,seniorcitizen,partner,dependents,tenure,phoneservice,multiplelines,internetservice,"
    b"onlinesecurity,onlinebackup,deviceprotection,techsupport,streamingtv,streamingmovies,contract,"
    b"paperlessbilling,paymentmethod,monthlycharges,totalcharges\n"
)
ROUTES = [("/predict", "application/json"), ("/v1/predict", "application/json"), ("/v1/jobs", "text/csv")]


def body_for(route: str, size: int) -> bytes:
    """A body for the route of about `size` bytes that the route would accept whole."""
    if route == "/predict":
        return CUSTOMER[:-1] + b', "padding": "' + b"x" * max(size - len(CUSTOMER) - 16, 0) + b'"}'
    if route == "/v1/jobs":
        return CSV_HEAD + CSV_ROW * max(size // len(CSV_ROW), 1)
    return rows(max(size // (len(CUSTOMER) + 1), 1))


def chunked_request(route: str, content_type: str, body: bytes, request_id: str) -> bytes:
    head = request("POST", route, key=True, request_id=request_id, **{"Content-Type": content_type})
    head = head.replace(b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n")
    return head + chunked(body)


@pytest.mark.parametrize("front", ["project nginx", "platform-like nginx"])
@pytest.mark.parametrize(("route", "content_type"), ROUTES)
def test_a_chunked_body_through_nginx_arrives_whole(stack: Stack, front: str, route: str, content_type: str) -> None:
    body = body_for(route, 200_000)
    answer = exchange(stack.ports[front], chunked_request(route, content_type, body, stack.request_id()))
    assert answer.status in (200, 202), answer.body[:300]
    if route == "/v1/jobs":
        assert json.loads(answer.body)["rows"] == body.count(b"\n") - 1  # every row, none dropped


@pytest.mark.parametrize("front", SERVERS)
@pytest.mark.parametrize(("route", "content_type"), ROUTES)
def test_a_chunked_body_straight_to_the_service_is_refused(
    stack: Stack, front: str, route: str, content_type: str
) -> None:
    """The HTTP server cannot say whether a chunked body ended properly: refused, never half read."""
    request_id = stack.request_id()
    answer = exchange(stack.ports[front], chunked_request(route, content_type, body_for(route, 200_000), request_id))
    assert answer.status == 411 and json.loads(answer.body)["error"]["code"] == "length_required"
    line = stack.logged(answer)
    assert line is not None and line["rows"] == 0


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize(("route", "content_type"), ROUTES)
def test_a_chunked_body_over_the_limit_is_refused_not_cut(
    stack: Stack, front: str, route: str, content_type: str
) -> None:
    body = body_for(route, LIMIT + 100_000)
    answer = exchange(stack.ports[front], chunked_request(route, content_type, body, stack.request_id()))
    assert answer.status == 413, answer.body[:300]
    assert json.loads(answer.body)["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("front", SERVERS)
@pytest.mark.parametrize(("route", "content_type"), ROUTES)
def test_a_body_shorter_than_its_content_length_is_refused(
    stack: Stack, front: str, route: str, content_type: str
) -> None:
    body = body_for(route, 8000)
    request_id = stack.request_id()
    head = request("POST", route, key=True, request_id=request_id, **{"Content-Type": content_type})
    head = head.replace(b"Content-Length: 0", f"Content-Length: {2 * len(body)}".encode())
    answer = exchange(stack.ports[front], head + body, half_close=True)
    assert answer.status == 400 and json.loads(answer.body)["error"]["code"] == "incomplete_body"
    line = stack.logged(answer)
    assert line is not None and line["request_id"] == request_id and line["status"] == 400 and line["rows"] == 0


MALFORMED_CHUNKS = {
    "chunk size not hex": b"zz\r\n{}\r\n0\r\n\r\n",
    "chunk size with junk": b"2;\x00\r\n{}\r\n0\r\n\r\n",
    "missing chunk terminator": b"2\r\n{}XX0\r\n\r\n",
    "NUL in a trailer": b"2\r\n{}\r\n0\r\nX-Trailer: a\x00b\r\n\r\n",
    "negative chunk size": b"-2\r\n{}\r\n0\r\n\r\n",
    "huge chunk size": b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("front", SERVERS)
@pytest.mark.parametrize("kind", MALFORMED_CHUNKS)
@pytest.mark.parametrize(("route", "content_type"), ROUTES)
def test_a_malformed_chunked_body_is_a_client_error(
    stack: Stack, front: str, kind: str, route: str, content_type: str
) -> None:
    request_id = stack.request_id()
    head = request("POST", route, key=True, request_id=request_id, **{"Content-Type": content_type})
    head = head.replace(b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n")
    answer = exchange(stack.ports[front], head + MALFORMED_CHUNKS[kind], half_close=True)
    # a 4xx in the error shape, or (for framing the HTTP server itself rejects) a connection closed unanswered
    assert 400 <= answer.status < 500 or (answer.status, answer.closed) == (0, True), (kind, answer.status)
    if answer.status:
        assert "error" in json.loads(answer.body) or "x-request-id" not in answer.headers
    log = stack.server.log.read_text() + stack.gunicorn.log.read_text()
    assert "Traceback" not in log and '"level":"ERROR"' not in log


N = len(CUSTOMER)
BAD_FRAMING = {
    "letters": "Content-Length: abc",
    "negative": "Content-Length: -5",
    "plus sign": f"Content-Length: +{N}",
    "hex": f"Content-Length: 0x{N:x}",
    "exponent": "Content-Length: 1e3",
    "empty": "Content-Length: ",
    "a list": f"Content-Length: {N}, {N}",
    "two different": f"Content-Length: {N}\r\nContent-Length: 5",
    "gzip transfer coding": "Transfer-Encoding: gzip",
    "identity transfer coding": "Transfer-Encoding: identity",
}


def framed(header: str) -> bytes:
    head = request("POST", "/predict", key=True, request_id="framing")
    return head.replace(b"Content-Length: 0\r\n", header.encode() + b"\r\n") + CUSTOMER


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("kind", BAD_FRAMING)
def test_a_bad_content_length_or_transfer_coding_is_refused_by_the_http_server(
    stack: Stack, front: str, kind: str
) -> None:
    """Each HTTP server refuses these itself, before the service sees them, in its own way (docs/api.md
    lists how): pinned, so that an upgrade that answers differently fails here and the docs are updated."""
    answer = exchange(stack.ports[front], framed(BAD_FRAMING[kind]))
    assert answer.status == 400 and "x-request-id" not in answer.headers, (front, kind, answer)
    if front == "server":  # granian: an empty 400
        assert answer.body == b"" and "content-type" not in answer.headers
    elif front == "book gunicorn":  # gunicorn: its own small HTML page
        assert answer.headers["content-type"] == "text/html"
    else:  # nginx: its own refusal, in the service's error shape (churn-errors.conf)
        assert json.loads(answer.body)["error"]["code"] == "bad_request"


def test_two_equal_content_lengths_are_one_for_granian_and_refused_by_the_others(stack: Stack) -> None:
    twice = framed(f"Content-Length: {N}\r\nContent-Length: {N}")
    statuses = {front: exchange(stack.ports[front], twice).status for front in FRONTS}
    assert statuses == {"server": 200, "book gunicorn": 400, "project nginx": 400, "platform-like nginx": 400}


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "x-unknown"])
def test_a_body_in_a_content_coding_is_refused_on_every_server(stack: Stack, front: str, coding: str) -> None:
    body = gzip.compress(CUSTOMER) if coding == "gzip" else CUSTOMER
    request_id = stack.request_id()
    answer = exchange(
        stack.ports[front],
        request("POST", "/predict", body, key=True, request_id=request_id, **{"Content-Encoding": coding}),
    )
    assert answer.status == 415 and answer.headers["accept-encoding"] == "identity", (front, coding, answer.status)
    assert json.loads(answer.body)["error"]["code"] == "unsupported_content_encoding"
    line = stack.logged(answer)
    assert line is not None and (line["status"], line["rows"]) == (415, 0)


def test_set_but_empty_api_keys_refuse_to_start(tmp_path: Path) -> None:
    server = Server(env={"CHURN_API_KEYS": " , "}, log_dir=tmp_path).start(wait=False)
    assert server.proc is not None
    server.proc.wait(timeout=30)
    output = server.stop()
    assert server.proc.returncode != 0
    assert "CHURN_API_KEYS is set but holds no key" in output and "Traceback" not in output
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/ping", timeout=2)


NGINX_REFUSALS = {
    "malformed request line": (b"GARBAGE\r\n\r\n", 400),
    "bad header line": (b"GET /ping HTTP/1.1\r\nHost: x\r\n: no name\r\n\r\n", 400),
    "target too long": (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "header too large": (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n", 400),
    "body declared too large": (
        request("POST", "/predict").replace(b"Content-Length: 0", b"Content-Length: 9999999999"),
        413,
    ),
    "a transfer coding nginx does not implement": (framed("Transfer-Encoding: gzip"), 400),
    "an encoded slash in a body declared too large": (
        request("POST", "/v1%2fpredict").replace(b"Content-Length: 0", b"Content-Length: 9999999999"),
        413,
    ),
    "nginx's own error page": (b"GET /.nginx-error/400 HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    "nginx's own error page, with an encoded slash": (b"GET /.nginx-error%2f400 HTTP/1.1\r\nHost: x\r\n\r\n", 404),
}


@pytest.mark.parametrize("front", ["project nginx", "platform-like nginx"])
@pytest.mark.parametrize("kind", NGINX_REFUSALS)
def test_what_nginx_refuses_itself_is_answered_in_the_error_shape(stack: Stack, front: str, kind: str) -> None:
    data, status = NGINX_REFUSALS[kind]
    answer = exchange(stack.ports[front], data)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert set(json.loads(answer.body)["error"]) == {"code", "message", "details"}


def test_no_api_process_answering_is_a_json_503_with_retry_after(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    nginx = ProjectNginx([dead], tmp_path, wait=False).start()
    try:
        answer = exchange(nginx.port, request("POST", "/predict", CUSTOMER))
    finally:
        nginx.stop()
    assert answer.status == 503 and answer.headers["retry-after"] == "2"
    assert json.loads(answer.body)["error"]["code"] == "upstream_unavailable"


def declared_but_not_sent(path: str, key: bool) -> bytes:
    head = request("POST", path, key=key)
    return head.replace(b"Content-Length: 0", b"Content-Length: 1073741824")  # 1 GiB, never sent


@pytest.mark.parametrize(("key", "status"), [(True, 413), (False, 401)])
def test_a_refusal_before_the_body_closes_the_connection_at_once(stack: Stack, key: bool, status: int) -> None:
    started = time.monotonic()
    answer = exchange(stack.ports["server"], declared_but_not_sent("/v1/predict", key), wait_close=5)
    assert answer.status == status and answer.closed
    assert time.monotonic() - started < 2  # closed, not drained or kept waiting for the body


def test_connections_holding_unsent_bodies_do_not_slow_other_clients(stack: Stack) -> None:
    held = []
    try:
        for i in range(16):
            sock = socket.create_connection(("127.0.0.1", stack.server.port), timeout=10)
            sock.sendall(declared_but_not_sent("/v1/predict", key=bool(i % 2)))
            held.append(sock)
        slowest = 0.0
        for _ in range(20):
            started = time.monotonic()
            assert requests.get(stack.server.url + "/ping", timeout=10).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        assert slowest < 1, slowest  # with gunicorn's drain, /ping took 4.7 s behind 8 such connections
    finally:
        for sock in held:
            sock.close()
