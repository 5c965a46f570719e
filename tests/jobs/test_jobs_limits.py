"""What one job may cost and how many may be in flight; every job-route input, by class, is a 4xx, never a 500.

On a real redis-server; most tests need no worker (their jobs stay queued, which is what the
in-flight limits count).
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.server.app import create_app
from tests.conftest import DATA_PATH, make_customer
from tests.support.servers import RedisServer, RQWorker

pytestmark = pytest.mark.server

KEYS = ("first-key-0123456789", "second-key-0123456789")
CSV_LINES = DATA_PATH.read_text().splitlines()


@pytest.fixture
def store(redis_server: RedisServer) -> RedisServer:
    redis.Redis.from_url(redis_server.url).flushdb()  # each test counts its own jobs
    return redis_server


def app_for(model: LoadedModel, store: RedisServer, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "redis_url": store.url,
        "redis_timeout": 1.0,
        "job_ttl": 60,
        "job_max_batch": 1000,
        "jobs_per_caller": 10**6,
        "jobs_max_active": 10**6,
        **overrides,
    }
    return create_app(Settings(**options), model).test_client()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def code(response: Any) -> tuple[int, str | None]:
    return response.status_code, (response.json or {}).get("error", {}).get("code")


@pytest.mark.parametrize(
    ("rows", "explain", "explain_down", "accepted"),
    [(10, 9, 0, True), (10, 9, 1, False), (100, 0, 0, True), (101, 0, 0, False), (1, 19, 19, True), (3, 19, 19, False)],
)
def test_a_job_costing_more_than_the_budget_is_413_with_the_limit(
    model: LoadedModel, store: RedisServer, rows: int, explain: int, explain_down: int, accepted: bool
) -> None:
    """The cost is rows x (1 + explain + explain_down), checked at submission, as JSON and as CSV."""
    api = app_for(model, store, job_max_cost=100)
    json_body = {"customers": [make_customer()] * rows, "explain": explain, "explain_down": explain_down}
    csv_body = "\n".join([CSV_LINES[0], *CSV_LINES[1 : rows + 1]])
    answers = [
        api.post("/v1/jobs", json=json_body),
        api.post(f"/v1/jobs?explain={explain}&explain_down={explain_down}", data=csv_body, content_type="text/csv"),
    ]
    for response in answers:
        if accepted:
            assert response.status_code == 202
        else:
            assert code(response) == (413, "job_too_large")
            cost = rows * (1 + explain + explain_down)
            assert response.json["error"]["details"] == {
                "max_cost": 100, "cost": cost, "rows": rows, "explain": explain, "explain_down": explain_down,
            }  # fmt: skip


def test_jobs_in_flight_are_limited_per_key_and_in_all(model: LoadedModel, store: RedisServer, tmp_path: Path) -> None:
    api = app_for(model, store, api_keys=KEYS, jobs_per_caller=3, jobs_max_active=5)
    batch = {"customers": [make_customer()]}
    first, second = auth(KEYS[0]), auth(KEYS[1])
    assert all(api.post("/v1/jobs", json=batch, headers=first).status_code == 202 for _ in range(3))
    refused = api.post("/v1/jobs", json=batch, headers=first)
    assert code(refused) == (429, "too_many_jobs") and refused.headers["Retry-After"]
    assert refused.json["error"]["details"] == {"scope": "caller", "limit": 3}
    assert all(api.post("/v1/jobs", json=batch, headers=second).status_code == 202 for _ in range(2))
    refused = api.post("/v1/jobs", json=batch, headers=second)  # its own 3rd job, but the 6th in all
    assert code(refused) == (429, "too_many_jobs")
    assert refused.json["error"]["details"] == {"scope": "all", "limit": 5}
    worker = RQWorker(tmp_path, store.url).start()
    try:  # once jobs finish, there is room again
        deadline = time.monotonic() + 30
        while (response := api.post("/v1/jobs", json=batch, headers=second)).status_code == 429:
            assert time.monotonic() < deadline, "the finished jobs still count as in flight"
            time.sleep(0.1)
        assert response.status_code == 202
    finally:
        worker.stop()


def test_concurrent_submissions_never_exceed_the_limit(model: LoadedModel, store: RedisServer) -> None:
    app = create_app(
        Settings(redis_url=store.url, redis_timeout=1.0, job_ttl=60, jobs_per_caller=3, job_route_slots=64), model
    )
    statuses: list[int] = []
    barrier = threading.Barrier(24)

    def submit() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/v1/jobs", json={"customers": [make_customer()]}).status_code)

    threads = [threading.Thread(target=submit) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(statuses) == 24 and set(statuses) <= {202, 429}
    assert statuses.count(202) <= 3


def test_job_requests_over_the_slots_of_a_process_are_503_at_once(model: LoadedModel, store: RedisServer) -> None:
    """Every slot taken (here by requests blocked in Redis): the next job request is refused without waiting."""
    app = create_app(Settings(redis_url=store.url, redis_timeout=1.0, job_route_slots=1), model)
    slots = app.extensions["churn.jobs.queue"].slots
    assert slots.acquire(blocking=False)  # as a request in flight would
    try:
        for response in (
            app.test_client().get("/v1/jobs/abc"),
            app.test_client().post("/v1/jobs", json={"customers": [make_customer()]}),
        ):
            assert code(response) == (503, "jobs_busy") and response.headers["Retry-After"]
        assert response.headers["Connection"] == "close"  # the POST's body was never read
        assert app.test_client().post("/v1/predict", json={"customers": [make_customer()]}).status_code == 200
    finally:
        slots.release()
    assert app.test_client().get("/v1/jobs/abc").status_code == 404


ASCII_INTEGER = st.integers(0, 10**12).map(str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.text(max_size=12), ASCII_INTEGER, st.just("9" * 5000)))
def test_any_query_option_value_is_a_job_or_a_422(model: LoadedModel, store: RedisServer, value: str) -> None:
    api = app_for(model, store)
    body = "\n".join(CSV_LINES[:3])
    response = api.post(f"/v1/jobs?explain={urllib.parse.quote(value)}", data=body, content_type="text/csv")
    plain = value.isascii() and value.isdigit() and len(value) <= 9
    if plain and int(value) <= 19:
        assert response.status_code == 202
    else:
        assert code(response) == (422, "invalid_request")


@pytest.mark.parametrize(
    "query",
    ["explain=1&explain=1", "explain=%C2%B2", "explain=%D9%A3", "explain=1_0", "explain=+1", "explain=-1",
     "explain=1e1", "explain=%EF%BC%99", "explain= 1", "colour=red", "customers=1", "explain"],
)  # fmt: skip
def test_odd_query_options_are_refused(model: LoadedModel, store: RedisServer, query: str) -> None:
    api = app_for(model, store)
    response = api.post(f"/v1/jobs?{query}", data="\n".join(CSV_LINES[:3]), content_type="text/csv")
    if query == "customers=1":  # the body is the customers: the query cannot replace them
        assert response.status_code == 202
    else:
        assert code(response) == (422, "invalid_request")


def test_a_json_job_with_query_options_is_refused_rather_than_ignored(model: LoadedModel, store: RedisServer) -> None:
    response = app_for(model, store).post("/v1/jobs?explain=3", json={"customers": [make_customer()]})
    assert code(response) == (422, "invalid_request")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# An encoded "/" changes the path's shape, not the id: how such paths are answered is the middleware's
# path canonicalization (tests of their own), not the job routes'.
@given(job_id=st.text(min_size=1, max_size=80).filter(lambda text: "/" not in text))
def test_any_job_id_is_a_404(model: LoadedModel, store: RedisServer, job_id: str) -> None:
    """An id of a job's characters, however long, is job_not_found; any other matches no route."""
    api = app_for(model, store)
    quoted = urllib.parse.quote(job_id, safe="")
    wanted = (404, "job_not_found") if re.fullmatch(r"[A-Za-z0-9-]+", job_id) else (404, "not_found")
    for url in (f"/v1/jobs/{quoted}", f"/v1/jobs/{quoted}/result"):
        assert code(api.get(url)) == wanted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(job_id=st.text(alphabet="abcdef0123456789-XYZ", min_size=65, max_size=5000))
def test_an_id_longer_than_any_job_s_is_job_not_found(model: LoadedModel, store: RedisServer, job_id: str) -> None:
    api = app_for(model, store)
    for url in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/result"):
        assert code(api.get(url)) == (404, "job_not_found")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_any_csv_body_is_a_job_or_a_4xx(model: LoadedModel, store: RedisServer, body: bytes) -> None:
    response = app_for(model, store).post("/v1/jobs", data=body, content_type="text/csv")
    assert response.status_code in (202, 400, 413, 422), response.json
    if response.status_code != 202:
        assert response.json["error"]["code"] in ("invalid_csv", "invalid_request", "batch_too_large", "job_too_large")


@st.composite
def csv_bodies(draw: Any) -> tuple[str, bool]:
    """A CSV body of export lines, under the export's header or without it (Churn left out, as Batch Transform
    sends it), some lines a cell short or long, blank lines between; and whether a line is ragged."""
    header = draw(st.booleans())
    rows = [line.split(",") for line in draw(st.lists(st.sampled_from(CSV_LINES[1:40]), max_size=5))]
    if not header:
        rows = [row[:-1] for row in rows]
    width = len(CSV_LINES[0].split(",")) - (not header)
    for row in rows:
        change = draw(st.sampled_from([0, 0, 0, -1, -5, 1]))
        del row[len(row) + min(change, 0) :]
        row.extend(["x"] * max(change, 0))
    lines = [CSV_LINES[0]] * header + [",".join(row) for row in rows]
    lines = [line for one in lines for line in [one, *[""] * draw(st.integers(0, 1))]]
    ragged = any(len(row) != width for row in rows)
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines), ragged


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=csv_bodies())
def test_a_csv_job_is_read_by_the_rule_of_every_csv_body(model: LoadedModel, store: RedisServer,
                                                         case: tuple[str, bool]) -> None:  # fmt: skip
    """/v1/jobs and /invocations read a CSV body alike: a line with more or fewer cells than the header (or the
    export's 20 columns without one) is 400 invalid_csv on both, with the same message naming the line; any
    other body is a job of as many customers as /invocations scores."""
    body, ragged = case
    api = app_for(model, store)
    invocation = api.post("/invocations", data=body, content_type="text/csv")
    job = api.post("/v1/jobs", data=body, content_type="text/csv")
    assert (invocation.status_code == 400) == ragged, invocation.json
    if ragged:
        assert code(job) == (400, "invalid_csv") and invocation.json["error"]["code"] == "invalid_csv"
        assert job.json["error"]["message"] == invocation.json["error"]["message"]
        assert job.json["error"]["message"].startswith("line ")
    elif invocation.json["predictions"]:
        assert job.status_code == 202 and job.json["rows"] == len(invocation.json["predictions"]), job.json
    else:
        assert code(job) == (422, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        b"customerid,tenure\n1,\x002\n",  # NUL in a cell
        b"customerid,tenure\r1,2\r",  # bare carriage returns
        b'customerid,tenure\n"1,2\n',  # an unclosed quote
        b"customerid,tenure\n" + b"x" * 200_000 + b",1\n",  # a cell over the csv module's field limit
        b"\xef\xbb\xbfcustomerid\n1\n",  # a byte-order mark
        b"customerid\n\xff\xfe\n",  # not UTF-8
        b"\x00\n\x00\n",
    ],
)
def test_odd_csv_bytes_are_a_job_or_a_400(model: LoadedModel, store: RedisServer, body: bytes) -> None:
    response = app_for(model, store).post("/v1/jobs", data=body, content_type="text/csv")
    assert response.status_code == 202 or code(response) == (400, "invalid_csv"), response.json
