"""The fast paths answer exactly what the Flask views and the per-row validator answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from churn.config import Settings
from churn.core import features
from churn.core.model import LoadedModel, load_model
from churn.core.service import ChurnService
from churn.core.validation import InvalidCustomer
from churn.errors import Code
from churn.server.app import create_app
from churn.server.fastpath import FastScoring
from churn.server.wsgi import BODY_KEY, ROUTE_KEY
from tests.conftest import MODEL_PATH, make_customer
from tests.support import strategies
from tests.support.wsgi import environ as wsgi_environ


def call(wsgi: Any, body: bytes, path: str = "/predict", method: str = "POST", **headers: str) -> tuple[Any, ...]:
    """Run one request through a WSGI callable: (status, headers, body, rows recorded in the environ).

    The environ is what the request middleware hands on, around which both paths run: the route resolved
    (every route here is a path without parameters) and, for a body it read whole, that body. Without them
    the fast path would hand every request to Flask, and the comparison would be of Flask with itself."""
    environ = wsgi_environ(method, path, body, **headers)
    environ[ROUTE_KEY] = path
    if environ["CONTENT_LENGTH"] == str(len(body)):
        environ[BODY_KEY] = body
    seen: list[Any] = []
    chunks = wsgi(environ, lambda status, hdrs, exc_info=None: seen.append((status, list(hdrs))))
    data = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return seen[0][0], seen[0][1], data, environ.get("churn.rows")


@pytest.fixture
def both(app: Any) -> tuple[Any, Any]:
    fast = app.wsgi_app.app  # inside the request middleware, which must wrap the fast path
    assert isinstance(fast, FastScoring)
    return fast, fast.flask_app


BAD_ROW = make_customer(contract="monthly", tenure=-1)
CASES: list[tuple[str, bytes, dict[str, str]]] = [
    ("/predict", orjson.dumps(make_customer()), {}),
    ("/predict", orjson.dumps(make_customer(gender=None, monthlycharges="abc")), {}),
    ("/predict", orjson.dumps([1, 2]), {}),
    ("/predict", b"{not json", {}),
    ("/predict", b"", {}),
    ("/predict", b"\xff\xfe", {}),
    ("/predict", orjson.dumps(make_customer()), {"CONTENT_TYPE": "text/plain"}),
    ("/predict", orjson.dumps(make_customer()), {"CONTENT_TYPE": "application/json; charset=utf-8"}),
    ("/predict", orjson.dumps(make_customer()), {"REQUEST_METHOD": "GET"}),
    ("/v1/predict", orjson.dumps({"customers": [make_customer(), BAD_ROW, 7, make_customer(Contract="One year")]}), {}),
    ("/v1/predict", orjson.dumps({"customers": [make_customer()], "explain": 3, "explain_down": 2}), {}),
    ("/v1/predict", orjson.dumps({"customers": [make_customer()], "explain": 99}), {}),
    ("/v1/predict", orjson.dumps({"customers": [make_customer()] * 51}), {}),
    ("/v1/predict", orjson.dumps({"customers": []}), {}),
    ("/v1/predict", orjson.dumps({"rows": []}), {}),
    ("/v1/predict", orjson.dumps({"customers": [], "extra": 1}), {}),
    ("/v1/predict", b"[", {}),
]


@pytest.mark.parametrize(("path", "body", "headers"), CASES)
def test_fast_path_answers_byte_for_byte_what_flask_answers(
    both: tuple[Any, Any], path: str, body: bytes, headers: dict[str, str]
) -> None:
    fast, flask_app = both
    method = headers.pop("REQUEST_METHOD", "POST") if "REQUEST_METHOD" in headers else "POST"
    assert call(fast, body, path, method, **headers) == call(flask_app, body, path, method, **headers)


class CountingApp:
    """The Flask app behind the fast path, counting the requests the fast path hands it."""

    def __init__(self, app: Any):
        self.app, self.calls = app, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def paths(model: LoadedModel) -> tuple[Any, CountingApp]:
    """The fast path of one app, around its Flask app behind a counter; and that counter."""
    flask_app = create_app(Settings(), model).wsgi_app.app.flask_app
    counting = CountingApp(flask_app)
    return FastScoring(counting, flask_app.__self__.extensions["churn"]), counting


SCORING_BODIES = [("/predict", orjson.dumps(make_customer())), ("/predict", b"{not json"),
                  ("/v1/predict", orjson.dumps({"customers": [make_customer(), BAD_ROW]}))]  # fmt: skip
# Content-Types that are not JSON's, or not quite, to put the charset parameters on too
OTHER_MEDIA = ["text/plain", "application/jsonx", "application/json-patch+json", " application/json",
               "application/json ", "application/json\t", "", "application/ json", "*/*"]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request=st.sampled_from(SCORING_BODIES),
    declared=strategies.json_content_types(),
    media=st.one_of(st.none(), st.sampled_from(OTHER_MEDIA)),
)
def test_both_paths_take_one_decision_on_every_content_type(
    paths: tuple[Any, CountingApp], request: tuple[str, bytes], declared: tuple[str, bool], media: str | None
) -> None:
    """The same answer, byte for byte, for a Content-Type of any spelling of JSON and charset parameters of
    any spelling (tests/support/strategies.py); and the fast path answers every one declared JSON itself."""
    fast, counting = paths
    path, body = request
    content_type, _ = declared
    if media is not None:
        content_type = media + content_type.removeprefix(content_type.split(";")[0])
    before = counting.calls
    answer = call(fast, body, path, CONTENT_TYPE=content_type)
    assert answer == call(counting.app, body, path, CONTENT_TYPE=content_type)
    handed_on = media is not None and media.strip(" \t").lower() != "application/json"  # werkzeug strips spaces
    assert counting.calls == before + handed_on


@pytest.mark.parametrize(
    ("body", "declared", "status", "code"),
    [(b"x" * (65 * 1024), None, 413, "payload_too_large"), (orjson.dumps(make_customer()), 10, 400, "incomplete_body")],
    ids=["past the limit", "shorter than declared"],
)
def test_a_body_not_read_whole_reaches_neither_path(
    app: Any, body: bytes, declared: int | None, status: int, code: str
) -> None:
    """The request middleware refuses it before the fast path or Flask could take a part for the whole."""
    length = {} if declared is None else {"CONTENT_LENGTH": str(len(body) + declared)}
    seen: list[str] = []
    answer = orjson.loads(b"".join(app.wsgi_app(wsgi_environ("POST", "/predict", body, **length),
                                                lambda line, *_: seen.append(line))))  # fmt: skip
    assert (int(seen[0][:3]), answer["error"]["code"]) == (status, code)


def reference_score_rows(service: ChurnService, rows: Sequence[Any]) -> tuple[list[Any], Any, list[str]]:
    """The per-row path as the core shipped it: validate each row, then score the valid ones."""
    valid, rejected, out = [], [], []
    for index, row in enumerate(rows):
        try:
            customer, customerid = service.validator.validate(row)
        except InvalidCustomer as e:
            rejected.append(str(e))
            out.append({"index": index, "customerid": e.customerid, "error": e.details()})
            continue
        valid.append(customer)
        out.append({"index": index, "customerid": customerid})
    probabilities = service.scorer.probabilities(valid)
    return valid, probabilities, rejected


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[dict[str, Any]], np.ndarray, list[str]]] = []

    def observe(self, customers: Sequence[Any], probabilities: np.ndarray, rejected: Sequence[InvalidCustomer]) -> None:
        self.calls.append(([dict(c) for c in customers], probabilities.copy(), [str(e) for e in rejected]))

    def observe_one(self, customer: Any, probability: float) -> None:
        self.observe((customer,), np.array((probability,)), ())


CONTRACT = load_model(MODEL_PATH, sklearn_objects=False).contract()


@st.composite
def rows(draw: Any) -> Any:
    """Mostly clean customers (numbers over the whole accepted range), some with one or two fields broken
    in any way (tests/support/strategies.py), respelled or removed."""
    kind = draw(st.sampled_from(["clean", "clean", "broken", "raw_keys", "not_object"]))
    if kind == "not_object":
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)))
    customerid = draw(st.one_of(st.none(), st.text(max_size=3), st.integers(), st.just("x" * 201)))
    customer = make_customer(customerid=customerid)  # None removes it
    for name, spec in CONTRACT.fields.items():
        if name not in features.CATEGORICAL:
            customer[name] = draw(strategies.plain_values(spec))
    if kind == "broken":
        for field in draw(st.lists(st.sampled_from(features.FIELDS), min_size=1, max_size=2)):
            customer[field] = draw(strategies.values(CONTRACT.fields[field]))
    if kind == "raw_keys":
        customer["Contract"] = draw(st.sampled_from(["One year", "Month-to-month", "two_year", "monthly"]))
    return customer


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(rows(), max_size=12), explain=st.integers(0, 3))
def test_column_wise_batches_equal_the_per_row_path(model: LoadedModel, batch: list[Any], explain: int) -> None:
    recorder = Recorder()
    service = ChurnService(model, observer=recorder)
    result = service.score_rows(batch, explain=explain, explain_down=explain)
    valid, probabilities, rejected = reference_score_rows(service, batch)
    customers, observed, observed_rejected = recorder.calls[0]
    assert customers == valid
    assert [list(c) for c in customers] == [list(c) for c in valid]  # same key order too
    assert [type(v) for c in customers for v in c.values()] == [type(v) for c in valid for v in c.values()]
    assert observed.tolist() == probabilities.tolist()  # bit for bit
    assert observed_rejected == rejected
    predictions = result["predictions"]
    scored = [p for p in predictions if "error" not in p]
    assert [p["churn_probability"] for p in scored] == probabilities.tolist()
    for p, customer in zip(scored, valid, strict=True):
        assert {k: v for k, v in p.items() if k.startswith("reasons")} == model.explainer.reasons(
            customer, explain, explain
        )
    errors = [p["error"] for p in predictions if "error" in p]
    assert [e["message"] for e in errors] == rejected
    assert all(e["code"] == Code.VALIDATION_FAILED for e in errors)


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(rows(), max_size=6))
def test_batch_requests_through_both_paths_are_identical(model: LoadedModel, batch: list[Any]) -> None:
    app = create_app(Settings(max_batch=50, max_body_bytes=64 * 1024), model)
    try:
        body = orjson.dumps({"customers": batch, "explain": 2})
    except TypeError:  # integers beyond 64 bits: JSON can carry them, orjson cannot write them
        assume(False)
    fast = app.wsgi_app.app  # inside the request middleware
    assert call(fast, body, "/v1/predict") == call(fast.flask_app, body, "/v1/predict")
