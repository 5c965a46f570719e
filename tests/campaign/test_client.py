"""The client's retries and backoff against a real tiny HTTP server that answers from a script."""

from __future__ import annotations

import datetime
import json
import math
import threading
from collections.abc import Iterator
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from churn.campaign.client import (
    RequestRefused,
    RetryPolicy,
    ServiceClient,
    Unavailable,
    Unsendable,
    retry_after_seconds,
    score_sendable,
)
from tests.conftest import free_port

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02)
ECHO = object()
Answer = tuple[int, dict[str, str], Any]  # status, headers, JSON body; status 0 drops the connection


class FakeService(ThreadingHTTPServer):
    def __init__(self, answers: list[Answer]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeService

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append(
            {
                "auth": self.headers.get("Authorization"),
                "type": self.headers.get("Content-Type"),
                "body": json.loads(body or "null"),  # reads NaN, Infinity and integers of any size, as the service
            }
        )
        status, headers, payload = self.server.answers.pop(0) if self.server.answers else (200, {}, {"ok": True})
        if payload is ECHO:  # a /v1/predict answer to each row sent: its id as the customerid
            customers = self.server.requests[-1]["body"]["customers"]
            payload = {"model_version": "m", "predictions": [{"customerid": c["id"]} for c in customers]}
        if status == 0:
            self.close_connection = True
            self.connection.close()
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[FakeService]:
    server = FakeService([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def error(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{code} happened", "details": None}}


def test_5xx_429_and_dropped_connections_are_retried_until_success(fake: FakeService) -> None:
    fake.answers += [(503, {}, error("x")), (0, {}, None), (429, {"Retry-After": "0"}, error("busy"))]
    client = ServiceClient(fake.url, policy=FAST, api_key="s3cret")
    assert client.post_json("/v1/predict", {"n": 1}) == {"ok": True}
    assert len(fake.requests) == 4 and client.retries == 3
    assert {r["auth"] for r in fake.requests} == {"Bearer s3cret"}
    assert all(r["body"] == {"n": 1} for r in fake.requests)


def test_a_client_error_is_not_retried(fake: FakeService) -> None:
    fake.answers.append((422, {}, error("invalid_request")))
    with pytest.raises(RequestRefused) as caught:
        ServiceClient(fake.url, policy=FAST).post_json("/v1/predict", {})
    assert (caught.value.status, caught.value.code) == (422, "invalid_request")
    assert len(fake.requests) == 1


def test_a_failed_job_is_not_retried_though_it_is_a_500(fake: FakeService) -> None:
    fake.answers.append((500, {}, error("job_failed")))
    with pytest.raises(RequestRefused):
        ServiceClient(fake.url, policy=FAST).post_json("/v1/jobs/x", {})
    assert len(fake.requests) == 1


def test_a_server_without_jobs_is_not_retried_though_it_is_a_503(fake: FakeService) -> None:
    fake.answers.append((503, {}, error("jobs_disabled")))
    with pytest.raises(RequestRefused) as caught:
        ServiceClient(fake.url, policy=FAST).post_json("/v1/jobs", {})
    assert (caught.value.status, caught.value.code, len(fake.requests)) == (503, "jobs_disabled", 1)
    assert "jobs_disabled happened" in str(caught.value)  # the server's own message


@pytest.mark.parametrize("code", ["jobs_busy", "queue_unavailable", "not_ready", "upstream_unavailable"])
def test_a_503_that_heals_is_retried(fake: FakeService, code: str) -> None:
    fake.answers += [(503, {"Retry-After": "0"}, error(code))] * 2
    assert ServiceClient(fake.url, policy=FAST).post_json("/v1/jobs", {}) == {"ok": True}
    assert len(fake.requests) == 3


def test_retries_are_bounded(fake: FakeService) -> None:
    fake.answers += [(502, {}, error("bad_gateway"))] * 10
    with pytest.raises(Unavailable, match="4 times"):
        ServiceClient(fake.url, policy=FAST).post_json("/v1/predict", {})
    assert len(fake.requests) == 4


def test_an_unreachable_service_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="ConnectionError"):
        ServiceClient(f"http://127.0.0.1:{free_port()}", policy=FAST).post_json("/v1/predict", {})


def test_a_stop_request_ends_the_retries(fake: FakeService) -> None:
    fake.answers += [(503, {"Retry-After": "30"}, error("x"))] * 3
    stop = threading.Event()
    stop.set()
    with pytest.raises(Unavailable):
        ServiceClient(fake.url, policy=FAST, stop=stop).post_json("/v1/predict", {})
    assert len(fake.requests) == 1  # not 30 s of waiting, not another try


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=4)
    assert policy.delay(1, 7.0) == 7.0
    assert policy.delay(1, 3600.0) == 60.0
    assert 0.5 <= policy.delay(1, None) <= 1
    assert 2 <= policy.delay(3, None) <= 4
    assert 2 <= policy.delay(10, None) <= 4  # capped at max_delay


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), (" 12 ", 12.0), ("", None), (None, None), ("soon", None), ("-3", None)],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


def test_retry_after_as_an_http_date() -> None:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    later = format_datetime(now + datetime.timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp) == 90.0
    assert retry_after_seconds(format_datetime(now, usegmt=True), now=lambda: now.timestamp() + 5) == 0.0


def test_a_body_is_sent_with_the_numbers_as_read(fake: FakeService) -> None:
    row = {"tenure": math.nan, "a": math.inf, "b": -math.inf, "c": 10**30, "d": -(10**400), "e": -0.0, "f": "\u00e9"}
    ServiceClient(fake.url, policy=FAST, api_key="s3cret").post_json("/v1/predict", {"customers": [row]})
    (sent,) = fake.requests
    assert (sent["auth"], sent["type"]) == ("Bearer s3cret", "application/json")
    got = sent["body"]["customers"][0]
    assert math.isnan(got.pop("tenure")) and repr(got.pop("e")) == "-0.0"
    assert got == {"a": math.inf, "b": -math.inf, "c": 10**30, "d": -(10**400), "f": "\u00e9"}  # integers exactly


def predictions_of(fake: FakeService) -> Any:
    """A scorer over the fake, which answers each row sent with its own customerid."""

    def score(rows: list[Any]) -> dict[str, Any]:
        fake.answers.append((200, {}, ECHO))
        answer: dict[str, Any] = ServiceClient(fake.url, policy=FAST).post_json("/v1/predict", {"customers": rows})
        return answer

    return score


def test_a_row_that_cannot_be_written_as_json_gets_its_own_error_in_place(fake: FakeService) -> None:
    rows = [{"id": "a"}, {"id": "b", "when": datetime.date(2024, 1, 1)}, {"id": "c"}, {"id": "d", "name": "\ud800"}]
    body = score_sendable(predictions_of(fake), rows)
    assert [r["body"]["customers"] for r in fake.requests] == [[{"id": "a"}, {"id": "c"}]]
    predictions = body["predictions"]
    assert [p.get("customerid") for p in predictions] == ["a", None, "c", None]
    assert [p["error"]["code"] for p in predictions if "error" in p] == ["invalid_json"] * 2
    assert "(field when)" in predictions[1]["error"]["message"] and "(field name)" in predictions[3]["error"]["message"]
    assert body["model_version"] == "m"


def test_when_no_row_can_be_written_nothing_is_sent(fake: FakeService) -> None:
    body = score_sendable(predictions_of(fake), [{"id": "a", "x": {1, 2}}])
    assert fake.requests == [] and body["predictions"][0]["error"]["code"] == "invalid_json"


def test_a_request_option_that_cannot_be_written_is_the_callers_fault(fake: FakeService) -> None:
    client = ServiceClient(fake.url, policy=FAST)
    with pytest.raises(Unsendable):
        score_sendable(lambda rows: client.post_json("/v1/predict", {"customers": rows, "x": {1}}), [{"id": "a"}])
    assert fake.requests == []
