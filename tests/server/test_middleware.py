"""The outer WSGI layer: request ids, API-key auth, the request log line and bounded route labels."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.logs import configure_logging
from churn.server.app import create_app
from churn.server.middleware import UNMATCHED, RouteLabels, valid_request_id
from tests.conftest import make_customer

KEY, OTHER_KEY = "k" * 20, "rotated-key-0123456789"


@pytest.fixture
def secured(model: LoadedModel) -> Any:
    return create_app(Settings(max_batch=50, api_keys=(KEY, OTHER_KEY)), model).test_client()


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "churn.access"]  # type: ignore[attr-defined]


def test_a_callers_request_id_is_returned_and_logged(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = client.post("/predict", json=make_customer(), headers={"X-Request-ID": "trace-42"})
    assert response.headers["X-Request-ID"] == "trace-42"
    [line] = access_lines(caplog)
    assert line["request_id"] == "trace-42"
    assert (line["route"], line["status"], line["rows"], line["method"]) == ("/predict", 200, 1, "POST")
    assert line["model_version"].startswith("churn-lr-") and line["latency_ms"] > 0


@pytest.mark.parametrize("given", [None, "", "x" * 129, "bad\x01id", "caf\u00e9"])
def test_a_missing_or_unsafe_request_id_is_replaced(client: Any, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    first = client.get("/ping", headers=headers).headers["X-Request-ID"]
    second = client.get("/ping", headers=headers).headers["X-Request-ID"]
    assert first not in (given, second) and len(first) == 24
    assert valid_request_id(first)


def test_batch_rows_are_logged(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    client.post("/v1/predict", json={"customers": [make_customer(), make_customer(contract="x"), 3]})
    assert access_lines(caplog)[-1]["rows"] == 3


def test_the_log_never_holds_customer_data_or_keys(secured: Any, capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO")
    try:
        customer = make_customer(customerid="SECRET-ID-77", totalcharges=1234.5)
        secured.post("/v1/predict", json={"customers": [customer]}, headers={"Authorization": f"Bearer {KEY}"})
        secured.post("/predict", json={**customer, "contract": "weekly"}, headers={"Authorization": "Bearer nope"})
    finally:
        root.handlers, root.level = saved[0], saved[1]
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["status"] for line in lines if line["logger"] == "churn.access"] == [200, 401]
    for secret in ("SECRET-ID-77", "1234.5", "weekly", KEY, "nope", "month-to-month"):
        assert secret not in out


def test_route_labels_are_templates_and_bounded(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for path in ("/docs/swagger-ui.css", "/docs/other.js", "/no/such/path", "/etc/passwd", "/predict/"):
        client.get(path)
    routes = [line["route"] for line in access_lines(caplog)]
    # /docs/<asset> matches only the files it serves: other.js is a path no route matches
    assert routes == ["/docs/<asset>", UNMATCHED, UNMATCHED, UNMATCHED, UNMATCHED]


def test_route_labels_of_a_wrong_method_on_a_known_path(app: Any) -> None:
    labels = RouteLabels(app.url_map)
    assert labels.label("/predict", "GET") == "/predict"
    assert labels.label("/docs/x", "DELETE") == UNMATCHED


def test_without_keys_scoring_is_open(client: Any) -> None:
    assert client.post("/predict", json=make_customer()).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", f"Basic {KEY}", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", "Bearer \u00e9\u00e9"],
)
def test_scoring_needs_a_valid_key(secured: Any, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = secured.post("/predict", json=make_customer(), headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert set(response.json["error"]) == {"code", "message", "details"}
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="churn-serving"')


@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_every_configured_key_works(secured: Any, key: str, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {key}"}
    assert secured.post("/predict", json=make_customer(), headers=headers).status_code == 200
    body = {"customers": [make_customer()]}
    assert secured.post("/v1/predict", json=body, headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/predict", "/v1/predict", "/metrics", "/v1/jobs", "/v1/jobs/abc", "/v1/jobs/a/b"])
def test_protected_routes_are_refused_before_routing(secured: Any, path: str) -> None:
    # Even routes this branch does not have yet (/v1/jobs) answer 401, not 404: no route probing.
    assert secured.get(path).status_code == 401
    response = secured.post(path, data=b"x" * 10)
    assert response.status_code == 401 and response.headers["Connection"] == "close"


@pytest.mark.parametrize("path", ["/ping", "/healthz", "/readyz", "/openapi.json", "/docs", "/v1/model"])
def test_health_and_docs_stay_open(secured: Any, path: str) -> None:
    assert secured.get(path).status_code == 200


def test_an_unauthorized_request_is_logged_and_counted(secured: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    secured.post("/predict", json=make_customer())
    assert access_lines(caplog)[-1]["status"] == 401
    metrics = secured.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    assert 'churn_http_requests_total{route="/predict",status="401"} 1.0' in metrics
