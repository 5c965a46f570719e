"""End to end: the shipped server (and the book's gunicorn command) on a free port, spoken to over HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from tests.conftest import BOOK_GUNICORN, MODEL_PATH, Server, make_customer

pytestmark = pytest.mark.server


def test_the_books_client_gets_the_books_answer(server: Server) -> None:
    response = requests.post(f"{server.url}/predict", json=make_customer(), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"churn_probability": pytest.approx(0.0596, abs=5e-5), "churn": False}


def test_ping_health_ready_and_model(server: Server) -> None:
    assert requests.get(f"{server.url}/ping", timeout=10).text == "PONG"
    assert requests.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{server.url}/readyz", timeout=10).json()["status"] == "ready"
    assert requests.get(f"{server.url}/v1/model", timeout=10).json()["sklearn_version"]


def test_batch_over_http_keeps_order(server: Server) -> None:
    rows = [make_customer(customerid=f"c{i}", tenure=i % 100) for i in range(200)]  # 73-99: flagged, scored
    rows[17]["contract"] = "monthly"
    body = requests.post(f"{server.url}/v1/predict", json={"customers": rows}, timeout=10).json()
    assert [p["customerid"] for p in body["predictions"]] == [f"c{i}" for i in range(200)]
    assert body["predictions"][17]["error"]["code"] == "validation_failed"
    assert body["summary"]["scored"] == 199
    assert [i for i, p in enumerate(body["predictions"]) if "warnings" in p][:2] == [73, 74]


def test_errors_are_json_over_http_too(server: Server) -> None:
    headers = {"Content-Type": "application/json"}
    response = requests.post(f"{server.url}/predict", data="{", headers=headers, timeout=10)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_json")
    response = requests.get(f"{server.url}/missing", timeout=10)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_logs_are_json_lines_on_stdout() -> None:
    server = Server().start()
    requests.get(f"{server.url}/ping", timeout=10)
    output = server.stop()
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines), output
    assert "Traceback" not in output


def test_a_tampered_model_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    shutil.copy(MODEL_PATH, tmp_path / "churn-model.bin")
    shutil.copy(MODEL_PATH.with_suffix(".json"), tmp_path / "churn-model.json")
    with (tmp_path / "churn-model.bin").open("ab") as f:
        f.write(b"tampered")
    server = Server(env={"CHURN_MODEL_PATH": str(tmp_path / "churn-model.bin")}).start(wait=False)
    assert server.proc is not None
    assert server.proc.wait(timeout=30) != 0
    output = server.stop()
    assert "cannot start" in output and "train.py" in output
    assert "Traceback" not in output


def test_a_bad_setting_stops_start_up_naming_the_variable() -> None:
    server = Server(env={"CHURN_THRESHOLD": "2"}).start(wait=False)
    assert server.proc is not None
    assert server.proc.wait(timeout=30) != 0
    output = server.stop()
    assert "CHURN_THRESHOLD" in output and "Traceback" not in output


def test_the_books_own_command_serves_the_same_answers(model: LoadedModel) -> None:
    """`gunicorn --bind 0.0.0.0:9696 churn_serving:app`, as the book runs its service, on stock gunicorn."""
    server = Server(command=BOOK_GUNICORN).start()
    try:
        body = requests.post(server.url + "/predict", json=make_customer(), timeout=10).json()
        assert body == ChurnService(model).predict_one(make_customer())
        assert requests.get(server.url + "/ping", timeout=10).text == "PONG"
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode == 0
