"""gunicorn.conf.py's response class: the head goes out with the body in one send, in every case in order."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi

from tests.conftest import PROJECT


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
def response_class(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any) -> Any:
    monkeypatch_module.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("metrics")))
    return runpy.run_path(str(PROJECT / "gunicorn.conf.py"))["OneSendResponse"]


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
    assert Path(PROJECT / "gunicorn.conf.py").read_text().count("wsgi.Response = OneSendResponse") == 1
