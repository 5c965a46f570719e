"""Clients nobody here wrote, against the real server: tritonclient over the Open Inference Protocol, a
client generated from /openapi.json by openapi-python-client (installed, then called), Redocly's linter
on the served document, and the launcher's `serve` (SageMaker's contract) on SAGEMAKER_BIND_TO_PORT.
Each gets the reference customer's probability to the bit, as /predict gives it."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from churn.core import features
from tests.conftest import PROJECT, Server, make_customer

pytestmark = pytest.mark.server
KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
CUSTOMER = make_customer()
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def secured() -> Iterator[Server]:
    server = Server(env={"CHURN_API_KEYS": KEY, "WEB_CONCURRENCY": "1"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def reference(secured: Server) -> float:
    answer = requests.post(secured.url + "/predict", json=CUSTOMER, headers=AUTH, timeout=10)
    p: float = answer.json()["churn_probability"]
    return p


def test_tritonclient_scores_the_reference_customer_to_the_bit(secured: Server, reference: float) -> None:
    import tritonclient.http as triton  # noqa: PLC0415 - a dev dependency of this test only
    from tritonclient.utils import InferenceServerException  # noqa: PLC0415

    client = triton.InferenceServerClient(url=secured.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("churn")
    metadata = client.get_model_metadata("churn", headers=dict(AUTH))
    kinds = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    assert list(kinds) == list(features.FIELDS)
    rows = [CUSTOMER, make_customer(contract="two_year", tenure=60)]
    for binary in (True, False):
        inputs = []
        for name, kind in kinds.items():
            dtype = {"BYTES": object, "INT64": np.int64, "FP64": np.float64}[kind]
            tensor = triton.InferInput(name, [len(rows)], kind)
            tensor.set_data_from_numpy(np.array([r[name] for r in rows], dtype=dtype), binary_data=binary)
            inputs.append(tensor)
        outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("churn_probability", "churn")]
        result = client.infer("churn", inputs, outputs=outputs, request_id="r-7", headers=dict(AUTH))  # it adds to them
        assert result.get_response()["id"] == "r-7"
        probabilities = result.as_numpy("churn_probability").tolist()
        assert probabilities[0] == reference and probabilities[1] < reference
        assert result.as_numpy("churn").tolist() == [p >= 0.5 for p in probabilities]
    with pytest.raises(InferenceServerException, match=r"^\[401\] "):
        client.infer("churn", inputs)  # no key: the same middleware as every scoring route


def test_a_client_generated_from_the_openapi_document_installs_and_scores(
    secured: Server, reference: float, tmp_path: Path
) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(requests.get(secured.url + "/openapi.json", timeout=10).text)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # its ruff hook
    generate = [str(BIN / "openapi-python-client"), "generate", "--path", str(document), "--meta", "setup",
                "--output-path", str(tmp_path / "client")]  # fmt: skip
    made = subprocess.run(generate, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert made.returncode == 0 and "Warning" not in made.stdout, made.stdout + made.stderr
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--target", str(tmp_path / "site"), str(tmp_path / "client")]  # fmt: skip
    installed = subprocess.run(install, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    script = f"""
import json, sys
from churn_serving_client import AuthenticatedClient
from churn_serving_client.api.default import predict, predict_batch
from churn_serving_client.models import BatchRequest, Customer, Prediction, BatchResponse
client = AuthenticatedClient(base_url={secured.url!r}, token={KEY!r})
customer = Customer.from_dict(json.loads(sys.argv[1]))
one = predict.sync(client=client, body=customer)
batch = predict_batch.sync(client=client, body=BatchRequest(customers=[customer, customer]))
assert isinstance(one, Prediction) and isinstance(batch, BatchResponse), (one, batch)
print(json.dumps([one.churn_probability, [row.churn_probability for row in batch.predictions]]))
"""
    run_env = {**env, "PYTHONPATH": str(tmp_path / "site")}
    ran = subprocess.run([sys.executable, "-c", script, json.dumps(CUSTOMER)], cwd=tmp_path, env=run_env,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout) == [reference, [reference, reference]]


def test_redocly_finds_nothing_in_the_served_document(secured: Server, tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to install @redocly/cli (scripts/redocly.sh)")
    for name, headers in (("open", {}), ("secured", AUTH)):
        document = tmp_path / f"{name}.json"
        document.write_text(requests.get(secured.url + "/openapi.json", headers=headers, timeout=10).text)
        linted = subprocess.run([str(PROJECT / "scripts" / "redocly.sh"), str(document)], capture_output=True,
                                text=True, timeout=600, check=False)  # fmt: skip
        out = linted.stdout + linted.stderr
        assert linted.returncode == 0 and not re.search(r"\d+:\d+\s+(warning|error)\s", out), out


# Each way the shipped server refuses POST /invocations, over HTTP: (what, path, method, body, headers, status,
# the service's code, MLflow's error_code). tests/server/test_protocols.py has every layer's in process.
INVOCATION_REFUSALS = [
    ("no key", "/invocations", "POST", b"[]", {"Authorization": ""}, 401, "unauthorized", "UNAUTHENTICATED"),
    ("a wrong key", "/invocations", "POST", b"[]", {"Authorization": "Bearer no"}, 401, "unauthorized",
     "UNAUTHENTICATED"),
    ("a trailing slash", "/invocations/", "POST", b"[]", {}, 404, "not_found", "ENDPOINT_NOT_FOUND"),
    ("GET", "/invocations", "GET", b"", {}, 405, "method_not_allowed", "BAD_REQUEST"),
    ("not JSON", "/invocations", "POST", b"[", {}, 400, "invalid_json", "BAD_REQUEST"),
    ("an answer type nobody offers", "/invocations", "POST", b"[]", {"Accept": "image/png"}, 406, "not_acceptable",
     "BAD_REQUEST"),
    ("chunked", "/invocations", "POST", None, {"Transfer-Encoding": "chunked"}, 411, "length_required",
     "BAD_REQUEST"),
    ("a body declared too large", "/invocations", "POST", b"[]", {"Content-Length": str(1 << 30)}, 413,
     "payload_too_large", "BAD_REQUEST"),
    ("a batch too large", "/invocations", "POST", b"[" + b",".join([b"{}"] * 10_001) + b"]", {}, 413,
     "batch_too_large", "BAD_REQUEST"),
    ("latin-1", "/invocations", "POST", b"[]", {"Content-Type": "application/json; charset=latin-1"}, 415,
     "unsupported_media_type", "BAD_REQUEST"),
    ("gzip", "/invocations", "POST", b"[]", {"Content-Encoding": "gzip"}, 415, "unsupported_content_encoding",
     "BAD_REQUEST"),
    ("two forms", "/invocations", "POST", b'{"instances": [], "inputs": []}', {}, 422, "invalid_request",
     "BAD_REQUEST"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "method", "body", "headers", "status", "code", "error_code"),
    [case[1:] for case in INVOCATION_REFUSALS],
    ids=[case[0] for case in INVOCATION_REFUSALS],
)
def test_the_shipped_server_refuses_invocations_with_mlflows_error_code(
    secured: Server, path: str, method: str, body: bytes | None, headers: dict[str, str], status: int, code: str,
    error_code: str,
) -> None:  # fmt: skip
    """Sent as bytes on a socket (http.client), so that a framing requests would correct reaches the server."""
    sent = {"Content-Type": "application/json", **AUTH, **headers}
    connection = http.client.HTTPConnection("127.0.0.1", secured.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in sent.items():
            if value:
                connection.putheader(name, value)
        if body is not None and "Content-Length" not in sent:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(b"5\r\n[{}]\n\r\n0\r\n\r\n" if body is None else body)
        answer = connection.getresponse()
        document = json.loads(answer.read())
    finally:
        connection.close()
    assert answer.status == status, document
    assert (document["error_code"], document["error"]["code"]) == (error_code, code)
    assert document["message"] == document["error"]["message"]


def test_serve_is_sagemakers_contract_on_its_port(reference: float) -> None:
    server = Server(args=("serve",), env={"WEB_CONCURRENCY": "1"}).start()  # SAGEMAKER_BIND_TO_PORT: its port
    try:
        ping = requests.get(server.url + "/ping", timeout=10)
        assert (ping.status_code, ping.text.strip()) == (200, "PONG")
        line = ",".join("" if CUSTOMER.get(c) is None else str(CUSTOMER[c]) for c in features.EXPORT_COLUMNS)
        answer = requests.post(server.url + "/invocations", data=line + "\n" + line, timeout=10,
                               headers={"Content-Type": "text/csv", "Accept": "text/csv"})  # fmt: skip
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
        cells: list[Any] = [row.split(",") for row in answer.text.split("\n")]
        assert [(float(c[0]), c[1]) for c in cells] == [(reference, "false")] * 2
        parameters = requests.get(server.url + "/execution-parameters", timeout=10).json()
        # the defaults: a 1 MB payload of the shortest lines would pass CHURN_MAX_BATCH (tests/server/test_sagemaker.py)
        assert parameters["BatchStrategy"] == "SingleRecord" and parameters["MaxPayloadInMB"] == 1
    finally:
        server.stop()
