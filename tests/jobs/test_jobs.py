"""Async jobs against a real redis-server, a real worker process and the app (in-process and under the real server)."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.server.app import create_app
from tests.conftest import MODEL_PATH, Server, make_customer
from tests.support.servers import RedisServer, RQWorker

pytestmark = pytest.mark.server


@pytest.fixture
def jobs_client(model: LoadedModel, redis_server: RedisServer) -> Any:
    settings = Settings(redis_url=redis_server.url, job_ttl=60, redis_timeout=1.0, job_max_batch=500)
    return create_app(settings, model).test_client()


def wait_finished(client: Any, status_url: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(status_url)
        if response.status_code != 202:
            return response
        assert response.json["status"] in ("queued", "running")
        time.sleep(0.1)
    raise AssertionError(f"job at {status_url} still pending after {timeout} s")


def test_a_json_job_goes_from_queued_to_finished_with_the_same_predictions(
    jobs_client: Any, worker: RQWorker, client: Any
) -> None:
    rows = [make_customer(customerid=f"j{i}", tenure=i) for i in range(30)]
    rows[3]["contract"] = "monthly"
    rows[5]["tenure"] = 100  # scored, flagged
    rows[6]["tenure"] = 10_000  # refused
    submitted = jobs_client.post("/v1/jobs", json={"customers": rows, "explain": 2})
    assert submitted.status_code == 202
    body = submitted.json
    assert submitted.headers["Location"] == body["status_url"] == f"/v1/jobs/{body['id']}"
    assert (body["status"], body["rows"]) == ("queued", 30)
    assert wait_finished(jobs_client, body["status_url"]).status_code == 200
    result = jobs_client.get(body["result_url"])
    assert result.status_code == 200
    direct = client.post("/v1/predict", json={"customers": rows, "explain": 2}).json
    assert result.json == direct  # same shape and same numbers as the synchronous route
    assert result.json["predictions"][3]["error"]["code"] == "validation_failed"
    assert result.json["predictions"][5]["warnings"][0]["code"] == "outside_training_range"
    assert result.json["predictions"][6]["error"]["details"][0]["code"] == "out_of_range"
    assert "tenure" not in worker.log.read_text()  # RQ's job log lines quote no customer data


def test_a_csv_upload_is_a_job_too(jobs_client: Any, worker: RQWorker) -> None:
    lines = (MODEL_PATH.parent / "data" / "WA_Fn-UseC_-Telco-Customer-Churn.csv").read_text().splitlines()[:21]
    submitted = jobs_client.post("/v1/jobs?explain=1", data="\n".join(lines), content_type="text/csv")
    assert submitted.status_code == 202, submitted.json
    assert wait_finished(jobs_client, submitted.json["status_url"]).status_code == 200
    result = jobs_client.get(submitted.json["result_url"]).json
    assert result["summary"] == {**result["summary"], "rows": 20, "scored": 20}
    assert [p["customerid"] for p in result["predictions"]] == [line.split(",")[0] for line in lines[1:]]
    assert all(len(p["reasons"]) == 1 for p in result["predictions"])


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{", "application/json", 400, "invalid_json"),
        (json.dumps({"rows": []}), "application/json", 422, "invalid_request"),
        (json.dumps({"customers": [], "explain": 99}), "application/json", 422, "invalid_request"),
        (json.dumps({"customers": [{}] * 501}), "application/json", 413, "batch_too_large"),
        (json.dumps({"customers": []}), "application/json", 422, "invalid_request"),
        ("customerid,gender\n", "text/csv", 422, "invalid_request"),
        ("", "text/csv", 422, "invalid_request"),  # no customer, as a header alone
        ("customerid,customerid\n1,2\n", "text/csv", 400, "invalid_csv"),
        ("customerid,gender\n1,female,extra\n", "text/csv", 400, "invalid_csv"),  # a line longer than the header
        ("customerid,gender\n1,female\n2\n", "text/csv", 400, "invalid_csv"),  # a line shorter than it
        ("a,b\n1,2\n", "text/csv", 400, "invalid_csv"),  # no header (it names no column): 2 of 20 cells
        ("customerid,gender\n1,female\n", "text/csv; charset=latin-1", 415, "unsupported_media_type"),
        ("x", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_a_bad_submission_is_refused_at_once(
    jobs_client: Any, body: str, content_type: str, status: int, code: str
) -> None:
    response = jobs_client.post("/v1/jobs", data=body, content_type=content_type)
    assert (response.status_code, response.json["error"]["code"]) == (status, code)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "", "application/jsonlines"])
def test_a_job_in_another_type_is_told_both_types_a_job_may_be_sent_in(jobs_client: Any, content_type: str) -> None:
    response = jobs_client.post("/v1/jobs", data=b"x", headers={"Content-Type": content_type} if content_type else {})
    error = response.json["error"]
    assert (response.status_code, error["code"]) == (415, "unsupported_media_type")
    assert "application/json" in error["message"] and "text/csv" in error["message"]


@pytest.mark.parametrize(
    ("job_id", "code"),
    [
        ("no-such-job", "job_not_found"),
        ("bad$id", "not_found"),
        ("x" * 65, "job_not_found"),
        ("x" * 5000, "job_not_found"),
    ],
)
def test_an_unknown_job_is_404(jobs_client: Any, job_id: str, code: str) -> None:
    # an id of other characters matches no route; one of any length is not looked up, and not found
    for url in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/result"):
        response = jobs_client.get(url)
        assert (response.status_code, response.json["error"]["code"]) == (404, code)


def test_a_failed_job_is_500_with_the_workers_reason(
    redis_server: RedisServer, worker: RQWorker, jobs_client: Any, tmp_path: Path
) -> None:
    """A worker serving another model than the API refuses the job rather than mix two models' scores."""
    other = tmp_path / "churn-model.bin"
    shutil.copy(MODEL_PATH, other)
    metadata = json.loads(MODEL_PATH.with_suffix(".json").read_text())
    metadata["model_version"] = "churn-lr-other"
    other.with_suffix(".json").write_text(json.dumps(metadata))
    worker.stop()  # only the odd worker may take this job
    odd = RQWorker(tmp_path, redis_server.url, {"CHURN_MODEL_PATH": str(other)}).start()
    try:
        submitted = jobs_client.post("/v1/jobs", json={"customers": [make_customer()]}).json
        response = wait_finished(jobs_client, submitted["status_url"])
    finally:
        odd.stop()
        worker.start()
    assert response.status_code == 500
    error = response.json["error"]
    assert error["code"] == "job_failed" and "churn-lr-other" in error["message"]
    assert "Traceback" not in error["message"]
    assert jobs_client.get(submitted["result_url"]).status_code == 500


def test_without_redis_url_the_job_routes_are_503_and_predict_still_works(client: Any) -> None:
    for method, url in (("post", "/v1/jobs"), ("get", "/v1/jobs/abc"), ("get", "/v1/jobs/abc/result")):
        response = getattr(client, method)(url, json={"customers": []})
        assert (response.status_code, response.json["error"]["code"]) == (503, "jobs_disabled")
    assert client.post("/v1/predict", json={"customers": [make_customer()]}).status_code == 200


def test_redis_going_away_gives_quick_503s_and_keeps_finished_results(tmp_path: Path) -> None:
    store = RedisServer(tmp_path).start()
    again = RedisServer(tmp_path, store.port)
    worker = RQWorker(tmp_path, store.url).start()
    api = Server(log_dir=tmp_path, env={"REDIS_URL": store.url, "CHURN_REDIS_TIMEOUT": "1"}).start()
    try:
        submitted = requests.post(f"{api.url}/v1/jobs", json={"customers": [make_customer()]}, timeout=10).json()
        status_url = api.url + submitted["status_url"]
        wait_until(lambda: requests.get(status_url, timeout=10).status_code == 200)
        store.signal(signal.SIGSTOP)  # a stalled Redis: connections open, no answers
        assert_quick_503(status_url)
        assert_quick_503(f"{api.url}/v1/jobs", post={"customers": [make_customer()]})
        store.stop()  # Redis gone: SIGTERM, it writes its append-only file
        assert_quick_503(status_url)
        assert requests.post(f"{api.url}/v1/predict", json={"customers": [make_customer()]}, timeout=10).ok
        again.start()  # back, from its append-only file
        # served again within moments (each API process rests from a failed Redis for BREAKER_SECONDS)
        result = get_until(api.url + submitted["result_url"], lambda r: r.status_code != 503, 10)
        assert result.status_code == 200 and result.json()["summary"]["scored"] == 1
    finally:
        api.stop()
        worker.stop()
        store.stop()
        again.stop()


def test_a_worker_stopped_while_redis_is_gone_exits_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    store = RedisServer(tmp_path).start()
    worker = RQWorker(tmp_path, store.url).start()
    try:
        store.stop()
        time.sleep(1)  # the worker notices and waits for Redis to come back
        assert worker.proc is not None and worker.proc.poll() is None
        worker.signal(signal.SIGTERM)
        assert worker.proc.wait(30) == 1
        log = worker.log.read_text()
        assert "churn worker stopped: Redis is unreachable" in log and "Traceback" not in log
    finally:
        worker.stop()
        store.stop()


def assert_quick_503(url: str, post: Any = None) -> None:
    started = time.monotonic()
    response = requests.get(url, timeout=15) if post is None else requests.post(url, json=post, timeout=15)
    assert (response.status_code, response.json()["error"]["code"]) == (503, "queue_unavailable")
    assert response.headers["Retry-After"]
    assert time.monotonic() - started < 10  # the socket timeout is 1 s; a hang would hit requests' 15 s


def wait_until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def get_until(url: str, done: Callable[[requests.Response], bool], timeout: float = 30) -> requests.Response:
    """GET url until done(response) or the time is up; the last response."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url, timeout=15)
        if done(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.1)
