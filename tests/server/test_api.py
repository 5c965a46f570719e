"""The HTTP contract: the book's routes, the batch route, and one JSON error shape for every failure."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from churn.config import Settings
from churn.core import features
from churn.core.model import LoadedModel
from churn.core.service import ChurnService
from churn.server.app import create_app
from tests.conftest import book_probability, make_customer

JSON = "application/json"


def post(client: Any, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type=JSON)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == JSON
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


def test_ping_answers_pong_as_in_the_book(client: Any) -> None:
    response = client.get("/ping")
    assert response.status_code == 200 and response.get_data(as_text=True) == "PONG"


def test_predict_answers_as_the_book(client: Any, model: LoadedModel) -> None:
    body = post(client, "/predict", make_customer()).get_json()
    assert body == {"churn_probability": pytest.approx(0.0596, abs=5e-5), "churn": False}
    assert body["churn_probability"] == pytest.approx(book_probability(model), abs=1e-12)


def test_predict_decides_churn_with_the_configured_threshold(model: LoadedModel) -> None:
    client = create_app(Settings(threshold=0.05), model).test_client()
    assert post(client, "/predict", make_customer()).get_json()["churn"] is True


BAD_REQUESTS = [
    ("malformed JSON", "POST", "/predict", b'{"contract": ', JSON, 400, "invalid_json"),
    # NaN (as Python's json writes a missing value) is read as the float, then judged: a missing tenure
    ("NaN literal", "POST", "/predict", b'{"tenure": NaN}', JSON, 422, "validation_failed"),
    ("NaN beside a lone surrogate", "POST", "/predict", b'{"gender": "\\ud800", "tenure": NaN}', JSON, 400,
     "invalid_json"),
    ("invalid UTF-8", "POST", "/predict", b'{"gender": "\xff"}', JSON, 400, "invalid_json"),
    ("empty body", "POST", "/predict", b"", JSON, 400, "invalid_json"),
    ("form post", "POST", "/predict", b"gender=female", "application/x-www-form-urlencoded", 415,
     "unsupported_media_type"),
    ("no content type", "POST", "/predict", b"{}", None, 415, "unsupported_media_type"),
    ("text plain", "POST", "/v1/predict", b"{}", "text/plain", 415, "unsupported_media_type"),
    ("unknown route", "GET", "/nope", None, None, 404, "not_found"),
    ("GET on predict", "GET", "/predict", None, None, 405, "method_not_allowed"),
    ("DELETE on model", "DELETE", "/v1/model", None, None, 405, "method_not_allowed"),
    ("body over the limit", "POST", "/predict", b'{"x": "' + b"a" * 70_000 + b'"}', JSON, 413, "payload_too_large"),
    ("customer is a list", "POST", "/predict", b"[1, 2]", JSON, 422, "validation_failed"),
    ("customer is a string", "POST", "/predict", b'"hello"', JSON, 422, "validation_failed"),
    ("typo in contract", "POST", "/predict", json.dumps(make_customer(contract="monthly")).encode(), JSON, 422,
     "validation_failed"),
    ("batch is a list", "POST", "/v1/predict", b"[]", JSON, 422, "invalid_request"),
    ("batch without customers", "POST", "/v1/predict", b'{"rows": []}', JSON, 422, "invalid_request"),
    ("customers not a list", "POST", "/v1/predict", b'{"customers": {}}', JSON, 422, "invalid_request"),
    ("unknown batch option", "POST", "/v1/predict", b'{"customers": [], "explian": 3}', JSON, 422, "invalid_request"),
    ("batch over the limit", "POST", "/v1/predict", json.dumps({"customers": [{}] * 51}).encode(), JSON, 413,
     "batch_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "data", "content_type", "status", "code"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_get_a_json_error(
    client: Any, method: str, path: str, data: bytes | None, content_type: str | None, status: int, code: str
) -> None:
    response = client.open(path, method=method, data=data, content_type=content_type)
    assert_error(response, status, code)


def with_text(field: str, text: str) -> bytes:
    """The reference customer's JSON with field's value written as `text` (a number JSON allows, any size)."""
    return json.dumps(make_customer(**{field: None})).encode()[:-1] + f', "{field}": {text}}}'.encode()


# A number is judged per row, wherever it is and however large: never the parser's 400 for the whole body.
NUMBERS_ANYWHERE = [
    ("1e309", "tenure", "not_finite"), ("-1e999", "monthlycharges", "not_finite"), ("1" * 401, "tenure", "not_finite"),
    ("9" * 5000, "totalcharges", "not_finite"), ("Infinity", "seniorcitizen", "not_finite"),
    ("1e308", "tenure", "out_of_range"), ("1" * 300, "tenure", "out_of_range"),
    ("-1" + "0" * 400, "tenure", "not_finite"),
    ("1e309", "customerid", "out_of_range"), ("1" * 401, "customerid", "out_of_range"),
    ("100000000000000000000", "customerid", "out_of_range"), ("1e999", "extra", None), ("9" * 5000, "extra", None),
    ("NaN", "totalcharges", None), ("NaN", "extra", None), ("-0", "tenure", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "field", "code"), NUMBERS_ANYWHERE, ids=[f"{c[1]} {c[0][:8]}" for c in NUMBERS_ANYWHERE]
)
def test_a_number_of_any_size_is_judged_in_its_row(client: Any, text: str, field: str, code: str | None) -> None:
    body = with_text(field, text)
    single = client.post("/predict", data=body, content_type=JSON)
    batch = client.post("/v1/predict", data=b'{"customers": [' + body + b", {}]}", content_type=JSON)
    assert batch.status_code == 200
    row, other = batch.get_json()["predictions"]
    assert other["error"]["details"][0]["code"] == "no_known_fields"  # the rest of the batch is judged as ever
    if code is None:
        assert single.status_code == 200 and "error" not in row
        return
    (detail,) = assert_error(single, 422, "validation_failed")["details"]
    assert (detail["field"], detail["code"]) == (field, code) and row["error"]["details"] == [detail]
    if code == "out_of_range":  # with the accepted range, as every out_of_range
        assert detail["range"]["min"] <= 0 <= detail["range"]["max"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        *((json.dumps(v), kind) for v, kind in ((None, "null"), (5, "number"), ("x", "string"), ([], "array"))),
        *((json.dumps({"customers": v}), f'"customers" as {kind}') for v, kind in
          ((None, "null"), (5, "number"), ({}, "object"), ("[]", "string"), (True, "boolean"))),
        ('{"rows": []}', 'an object without "customers"'),
    ],
)  # fmt: skip
def test_a_batch_without_a_customers_array_is_told_what_it_sent(client: Any, body: str, said: str) -> None:
    """The message describes the value in the way: the body itself, or its "customers"."""
    answer = client.post("/v1/predict", data=body, content_type="application/json")
    error = answer.get_json()["error"]
    assert (answer.status_code, error["code"]) == (422, "invalid_request")
    assert error["message"].endswith(f"got {said}")


def test_validation_error_names_fields_and_allowed_values(client: Any) -> None:
    response = post(client, "/predict", make_customer(contract="monthly", tenure=None))
    error = assert_error(response, 422, "validation_failed")
    by_field = {d["field"]: d for d in error["details"]}
    assert by_field["contract"]["code"] == "unknown_category"
    assert by_field["contract"]["allowed"] == ["month-to-month", "one_year", "two_year"]
    assert by_field["tenure"]["code"] == "missing_field"


def test_batch_too_large_says_the_limit(client: Any) -> None:
    error = assert_error(post(client, "/v1/predict", {"customers": [{}] * 51}), 413, "batch_too_large")
    assert error["details"] == {"max_batch": 50, "rows": 51}
    assert "50" in error["message"]


def test_method_not_allowed_lists_allowed_methods(client: Any) -> None:
    response = client.get("/predict")
    assert "POST" in response.headers["Allow"]


def test_unexpected_errors_are_generic_500s_without_details(model: LoadedModel, caplog: Any) -> None:
    app = create_app(Settings(), model)

    def explode(payload: Any) -> Any:
        raise RuntimeError(f"secret customer data {payload}")

    app.extensions["churn"].predict_one = explode
    response = post(app.test_client(), "/predict", make_customer(customerid="SECRET-ID"))
    error = assert_error(response, 500, "internal_error")
    assert "SECRET" not in response.get_data(as_text=True) and error["details"] is None
    assert "unhandled error" in caplog.text


def test_batch_keeps_order_and_gives_each_bad_row_its_own_error(client: Any, model: LoadedModel) -> None:
    rows = [
        make_customer(customerid="a"),
        make_customer(customerid="b", contract="monthly"),
        "not a customer",
        make_customer(customerid="d", contract="Month-to-month", tenure=1),
        make_customer(customerid="e", tenure=None, gender="x"),
    ]
    response = post(client, "/v1/predict", {"customers": rows})
    assert response.status_code == 200
    body = response.get_json()
    predictions = body["predictions"]
    assert [p["index"] for p in predictions] == [0, 1, 2, 3, 4]
    assert [p["customerid"] for p in predictions] == ["a", "b", None, "d", "e"]
    assert [("error" in p) for p in predictions] == [False, True, True, False, True]
    assert predictions[0]["churn_probability"] == pytest.approx(book_probability(model), abs=1e-12)
    assert predictions[3]["churn"] is True
    assert predictions[1]["error"]["details"][0]["field"] == "contract"
    assert predictions[2]["error"]["details"][0]["code"] == "not_an_object"
    assert {d["field"] for d in predictions[4]["error"]["details"]} == {"tenure", "gender"}
    assert body["summary"] == {"rows": 5, "scored": 2, "rejected": 3, "churners": 1}
    assert body["model_version"] == model.version


def test_batch_results_equal_single_predictions(client: Any) -> None:
    rows = [make_customer(tenure=t, contract=c) for t in (0, 12, 72) for c in ("one_year", "two_year")]
    batch = post(client, "/v1/predict", {"customers": rows}).get_json()["predictions"]
    singles = [post(client, "/predict", row).get_json() for row in rows]
    assert [b["churn_probability"] for b in batch] == [s["churn_probability"] for s in singles]
    assert [b["churn"] for b in batch] == [s["churn"] for s in singles]


def test_empty_batch_is_an_empty_answer(client: Any) -> None:
    body = post(client, "/v1/predict", {"customers": []}).get_json()
    assert body["predictions"] == [] and body["summary"]["rows"] == 0


def test_model_route_returns_the_metadata(client: Any, model: LoadedModel) -> None:
    body = client.get("/v1/model").get_json()
    assert body["model_version"] == model.version
    assert body["reference_customer"]["customer"]["customerid"] == "synthetic-golden-customer"
    assert body["metrics"]["test_auc"] == pytest.approx(0.858, abs=0.002)
    assert body["vocabulary"]["contract"] == ["month-to-month", "one_year", "two_year"]


def test_health_and_readiness(client: Any, model: LoadedModel) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["self_test"]["passed"] is True
    assert ready.get_json()["model_version"] == model.version


def test_readiness_fails_when_the_self_test_fails(model: LoadedModel) -> None:
    golden = model.metadata["reference_customer"]
    skewed = {**model.metadata, "reference_customer": {**golden, "churn_probability": 0.5}}
    client = create_app(Settings(), dataclasses.replace(model, metadata=skewed)).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["status"] == "not_ready"


def test_far_out_values_are_refused_with_the_accepted_range(client: Any) -> None:
    for field, value in [("tenure", 10_000), ("monthlycharges", 1e6), ("tenure", 1e308), ("totalcharges", 1e9)]:
        for body in (make_customer(**{field: value}), make_customer(**{field: str(int(value))})):
            error = assert_error(post(client, "/predict", body), 422, "validation_failed")
            (detail,) = error["details"]
            assert (detail["field"], detail["code"]) == (field, "out_of_range")
            assert detail["range"]["min"] <= value and detail["range"]["max"] < value
    rows = post(client, "/v1/predict", {"customers": [make_customer(tenure=10_000)]}).get_json()["predictions"]
    assert rows[0]["error"]["details"][0]["code"] == "out_of_range"


def test_values_just_outside_training_are_scored_and_flagged_in_batches(client: Any, model: LoadedModel) -> None:
    ranges = model.metadata["numeric_ranges"]
    rows = [make_customer(tenure=73), make_customer(tenure=80, monthlycharges=10.0), make_customer()]
    predictions = post(client, "/v1/predict", {"customers": rows}).get_json()["predictions"]
    assert [[w["field"] for w in p.get("warnings", [])] for p in predictions] == [
        ["tenure"],
        ["tenure", "monthlycharges"],
        [],
    ]
    warning = predictions[0]["warnings"][0]
    assert warning["code"] == "outside_training_range" and "73" in warning["message"]
    assert warning["range"] == {"min": ranges["tenure"]["min"], "max": ranges["tenure"]["max"]}
    assert all("churn_probability" in p for p in predictions)
    single = post(client, "/predict", make_customer(tenure=80)).get_json()
    assert set(single) == {"churn_probability", "churn"}  # the book's two keys, no flag
    assert (
        single["churn_probability"]
        == post(client, "/v1/predict", {"customers": [make_customer(tenure=80)]}).get_json()["predictions"][0][
            "churn_probability"
        ]
    )


def test_the_range_tolerance_setting_reaches_the_routes(model: LoadedModel) -> None:
    client = create_app(Settings(range_tolerance=0.0), model).test_client()
    error = assert_error(post(client, "/predict", make_customer(tenure=73)), 422, "validation_failed")
    assert error["details"][0]["code"] == "out_of_range"
    assert "/v1/predict" in client.get("/openapi.json").json["paths"]
    tenure = client.get("/openapi.json").json["components"]["schemas"]["Customer"]["properties"]["tenure"]
    assert tenure["anyOf"][0]["maximum"] == model.metadata["numeric_ranges"]["tenure"]["max"]


def test_a_row_with_none_of_the_models_fields_gets_one_small_error(client: Any) -> None:
    predictions = post(client, "/v1/predict", {"customers": [{}] * 50}).get_json()["predictions"]
    for p in predictions:
        assert [d["code"] for d in p["error"]["details"]] == ["no_known_fields"]
    answer = post(client, "/v1/predict", {"customers": [{}] * 50}).get_data()
    assert len(answer) < 50 * 250  # docs/api.md: "about 240 bytes"


def test_the_largest_answer_for_one_rejected_row_is_bounded(model: LoadedModel) -> None:
    """docs/api.md: a rejected row's answer is at most 20 KB. The worst row gives every field twice, under two
    spellings (ambiguous_field), with values whose quoted echo is the longest (60 characters that are
    each escaped to 11 bytes), so that every field also gets its longest own error."""
    service = ChurnService(model)
    worst = 0
    for ch in ("\U0010ffff", "\x00", "\\", "é", "'"):
        row: dict[str, Any] = {"customerid": [ch]}
        for name in features.FIELDS:
            row[name], row[name.upper()] = ch * 61, ch * 61 + "x"
        prediction = service.score_rows([row])["predictions"][0]
        assert len(prediction["error"]["details"]) == 2 * len(features.FIELDS) + 1
        worst = max(worst, len(json.dumps(prediction, ensure_ascii=False).encode()))
    assert 10_000 < worst <= 20_000


ARGUMENTS = {"<job:job_id>": "abc", "<model:model_name>": "churn", "<model:model_version>": "v1"}


def test_options_answers_204_with_allow_and_no_content(app: Any) -> None:
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for name, value in ARGUMENTS.items():
            path = path.replace(name, value)
        if rule.arguments - {"job_id", "model_name", "model_version"}:  # /docs/<asset>: one of its files
            path = "/docs/swagger-ui.css"
        response = client.open(path, method="OPTIONS")
        assert response.status_code == 204 and response.data == b"", path
        assert "Content-Type" not in response.headers and "Content-Length" not in response.headers, path
        assert set(response.headers["Allow"].split(", ")) == rule.methods, path


def test_options_on_a_path_no_route_matches_is_a_json_404(client: Any) -> None:
    assert_error(client.open("/no/such/route", method="OPTIONS"), 404, "not_found")


def test_options_on_a_protected_route_needs_a_key(model: LoadedModel) -> None:
    client = create_app(Settings(api_keys=("k" * 24,)), model).test_client()
    assert_error(client.open("/predict", method="OPTIONS"), 401, "unauthorized")
    assert client.open("/healthz", method="OPTIONS").status_code == 204


NOT_UTF8 = [b"\xff", b"\x80", b"\xc3", b"\xc3(", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"]


@pytest.mark.parametrize("bad", NOT_UTF8, ids=[b.hex() for b in NOT_UTF8])
@pytest.mark.parametrize("route", ["/predict", "/v1/predict", "/invocations", "/v2/models/churn/infer"])
def test_a_body_that_is_not_utf8_names_its_first_bad_byte(client: Any, route: str, bad: bytes) -> None:
    """Not the JSON parser's "surrogates not allowed": the byte where the text stops being UTF-8."""
    good = json.dumps({"customers": [make_customer()]} if route == "/v1/predict" else make_customer()).encode()
    at = good.index(b'"', good.index(b"contract") + len("contract") + 2) + 1  # inside the contract's value
    body = good[:at] + bad + good[at:]
    answer = client.post(route, data=body, content_type="application/json")
    assert answer.status_code == 400, answer.get_data()
    error = answer.json.get("error") or answer.json  # each protocol's own shape of the same message
    message = error if isinstance(error, str) else error["message"]
    assert f"not UTF-8 text (byte {at} is 0x{bad[0]:02x})" in message, message
