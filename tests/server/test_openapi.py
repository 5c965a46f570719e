"""The OpenAPI document comes from the validator's own sources, and agrees with what it accepts."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.config import Settings
from churn.core import features, jsonkeys
from churn.core.model import LoadedModel
from churn.core.validation import CustomerValidator, InvalidCustomer
from churn.errors import FieldCode
from churn.server import openapi
from churn.server.app import create_app
from churn.server.middleware import OPEN_ROUTES
from churn.server.protocols import oip, tensors
from tests.conftest import make_customer
from tests.core.test_contract import json_schema, schema_validator

JSON_TYPE = "application/json"

# Rules of the app's url_map the document leaves out, each with why (as OpenAPI paths).
UNDOCUMENTED = {
    "/docs/init.js": "the script of the /docs page: a static file of Swagger UI's page, not an API",
    "/docs/{asset}": "Swagger UI's own static files (its CSS, JavaScript and icons), which /docs loads",
}
# Flask gives every rule these by itself (HEAD beside GET, OPTIONS everywhere); the document lists the rest.
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
FLASK_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


def customer_validator(model: LoadedModel) -> Any:
    schema = openapi.build(model, 100, secured=False)["components"]["schemas"]["Customer"]
    return schema_validator(schema)


def service_accepts(model: LoadedModel, record: Any) -> bool:
    try:
        CustomerValidator(model.contract()).validate(record)
    except InvalidCustomer:
        return False
    return True


def test_the_document_is_served_and_lists_every_route(client: Any) -> None:
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.0")
    assert set(doc["paths"]) >= {"/predict", "/v1/predict", "/v1/model", "/ping", "/healthz", "/readyz", "/metrics"}
    assert doc["info"]["x-model-version"] == client.application.extensions["churn"].model.version


def test_the_document_passes_openapi_spec_validator_and_names_every_operation(model: LoadedModel) -> None:
    from openapi_spec_validator import validate  # noqa: PLC0415

    from churn.server.api import API_VERSION  # noqa: PLC0415

    for secured in (False, True):
        doc = openapi.build(model, 100, secured=secured)
        validate(doc)
        assert doc["info"]["version"] == API_VERSION and API_VERSION.count(".") == 2  # semantic: pip installs it
        operations = [op for item in doc["paths"].values() for op in item.values()]
        ids = [op["operationId"] for op in operations]
        assert len(set(ids)) == len(ids) == len(operations)
        assert all("security" in op for op in operations)  # said, for every operation, even when open


def test_categories_come_from_the_models_vocabulary(model: LoadedModel) -> None:
    vocabulary = {**model.vocabulary, "contract": ["month-to-month", "one_year", "two_year", "three_year"]}
    retrained = dataclasses.replace(model, metadata={**model.metadata, "vocabulary": vocabulary})
    customer = openapi.build(retrained, 100, secured=False)["components"]["schemas"]["Customer"]
    assert customer["properties"]["contract"]["anyOf"][0]["enum"] == vocabulary["contract"]
    assert customer["required"] == list(features.FIELDS)


def test_field_error_codes_come_from_churn_errors(model: LoadedModel) -> None:
    doc = openapi.build(model, 100, secured=False)
    codes = doc["components"]["schemas"]["FieldError"]["properties"]["code"]["enum"]
    assert set(codes) == {v for k, v in vars(FieldCode).items() if k.isupper()}


def test_auth_is_documented_only_when_keys_are_set(model: LoadedModel) -> None:
    open_doc, secured_doc = (openapi.build(model, 100, secured=s) for s in (False, True))
    assert "401" not in open_doc["paths"]["/predict"]["post"]["responses"]
    assert secured_doc["paths"]["/predict"]["post"]["security"] == [{"bearerAuth": []}]
    assert "401" in secured_doc["paths"]["/v1/predict"]["post"]["responses"]
    assert secured_doc["paths"]["/healthz"]["get"]["security"] == []


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"contract": "Month-to-month", "paymentmethod": " Bank transfer (automatic) ", "gender": "FEMALE"},
        {"tenure": "41", "monthlycharges": " 79.85 ", "totalcharges": "", "seniorcitizen": "1"},
        {"totalcharges": "3300.00", "seniorcitizen": 0.0, "customerid": 12},
        {"tenure": 80, "monthlycharges": "0.5", "seniorcitizen": " +01. ", "customerid": None},
    ],
)
def test_what_the_service_accepts_the_schema_accepts(model: LoadedModel, overrides: dict[str, Any]) -> None:
    record = make_customer(**overrides)
    assert service_accepts(model, record)
    assert customer_validator(model).is_valid(record)


@pytest.mark.parametrize(
    "overrides",
    [
        {"contract": "monthly"},
        {"contract": 3},
        {"gender": None},
        {"tenure": -1},
        {"tenure": "forty"},
        {"totalcharges": "1e999"},
        {"totalcharges": "3.3e3"},
        {"tenure": 10_000},
        {"tenure": "\u0664\u0661"},
        {"monthlycharges": "1_000"},
        {"seniorcitizen": 2},
        {"seniorcitizen": "yes"},
        {"monthlycharges": True},
        {"customerid": "x" * 201},
    ],
)
def test_what_the_service_refuses_the_schema_refuses(model: LoadedModel, overrides: dict[str, Any]) -> None:
    record = make_customer(**overrides)
    assert not service_accepts(model, record)
    assert not customer_validator(model).is_valid(record)


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [({"totalcharges": None}, True), ({"tenure": None}, False), ({"customerid": None}, True),
     ({"customerid": 12.0}, True), ({"customerid": 2**64 - 1}, True), ({"customerid": -(2**63)}, True),
     ({"customerid": 2**64}, False), ({"customerid": -(2**63) - 1}, False), ({"customerid": 1.5}, False)],
)  # fmt: skip
def test_schema_and_service_agree_on_nulls_and_integer_ids(
    model: LoadedModel, changes: dict[str, Any], accepted: bool
) -> None:
    record = make_customer() | changes
    assert service_accepts(model, record) is accepted
    assert customer_validator(model).is_valid(record) is accepted


def test_docs_page_and_its_assets_are_served_locally(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and b"/docs/swagger-ui-bundle.js" in page.data
    assert b"http" not in page.data  # no absolute address: nothing is fetched from elsewhere
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for asset, kind in [("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")]:
        response = client.get(f"/docs/{asset}")
        assert response.status_code == 200 and response.mimetype == kind and len(response.data) > 10_000
    assert client.get("/docs/init.js").status_code == 200
    assert client.get("/docs/..%2Fschemas.py").status_code == 404
    assert client.get("/docs/index.html").json["error"]["code"] == "not_found"


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: "/v1/jobs/<job:job_id>" is "/v1/jobs/{job_id}"."""
    return FLASK_VARIABLE.sub(r"{\1}", rule)


def app_routes(app: Any) -> dict[str, set[str]]:
    """Each route the app answers, as an OpenAPI path, with the methods its views declare."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = openapi_path(rule.rule)
        if rule.endpoint != "static" and path not in UNDOCUMENTED:
            routes.setdefault(path, set()).update(rule.methods - AUTOMATIC_METHODS)
    return routes


def document_routes(doc: dict[str, Any]) -> dict[str, set[str]]:
    return {path: {m.upper() for m in item if m in HTTP_METHODS} for path, item in doc["paths"].items()}


@pytest.mark.parametrize("keys", [(), ("k" * 24,)], ids=["open", "secured"])
def test_every_route_the_app_answers_is_documented_with_its_methods_and_nothing_else(
    model: LoadedModel, keys: tuple[str, ...]
) -> None:
    app = create_app(Settings(api_keys=keys), model)
    doc = app.test_client().get("/openapi.json").json
    assert document_routes(doc) == app_routes(app)
    every_rule = {openapi_path(rule.rule) for rule in app.url_map.iter_rules()}
    assert set(UNDOCUMENTED) <= every_rule  # each exception is still a route: the list cannot rot


def test_a_route_added_without_documentation_is_caught(model: LoadedModel) -> None:
    app = create_app(Settings(), model)
    app.add_url_rule("/v1/jobs/<job:job_id>/cancel", "cancel", lambda job_id: "", methods=["POST"])
    app.add_url_rule("/v1/model", "model_put", lambda: "", methods=["PUT"])
    doc = app.test_client().get("/openapi.json").json
    routes, documented = app_routes(app), document_routes(doc)
    assert set(routes) - set(documented) == {"/v1/jobs/{job_id}/cancel"}
    assert routes["/v1/model"] - documented["/v1/model"] == {"PUT"}


def test_flask_rules_become_openapi_paths() -> None:
    assert openapi_path("/v1/jobs/<job:job_id>/result") == "/v1/jobs/{job_id}/result"
    assert openapi_path("/v2/models/<model:model_name>/versions/<model_version>") == (
        "/v2/models/{model_name}/versions/{model_version}"
    )
    assert openapi_path('/docs/<any("a.css", "b.js"):asset>') == "/docs/{asset}"


def test_only_the_middlewares_open_routes_are_documented_without_a_key(model: LoadedModel) -> None:
    doc = openapi.build(model, 100, secured=True)
    for path, item in doc["paths"].items():
        is_open = path.replace("{", "<").replace("}", ">") in OPEN_ROUTES
        for method, op in item.items():
            assert (op["security"] == []) is is_open, (method, path)
            assert ("401" in op["responses"]) is not is_open, (method, path)


def test_the_protocols_documented_shapes_come_from_their_modules(model: LoadedModel) -> None:
    schemas = openapi.build(model, 7, secured=False)["components"]["schemas"]
    request = schemas["InferenceRequest"]
    assert set(request["properties"]) == oip.REQUEST_KEYS
    tensor = request["properties"]["inputs"]["items"]
    assert set(tensor["properties"]) == oip.INPUT_KEYS
    assert set(tensor["properties"]["datatype"]["enum"]) == tensors.DATATYPES
    assert tensor["properties"]["shape"]["items"]["maximum"] == 7  # the batch limit of the settings
    assert set(tensor["properties"]["parameters"]["properties"]["content_type"]["enum"]) == {*oip.CONTENT_TYPES, None}
    assert request["properties"]["outputs"]["items"]["properties"]["name"]["enum"] == list(oip.OUTPUTS)
    example = {i["name"]: i["datatype"] for i in request["example"]["inputs"]}
    assert list(example) == list(features.FIELDS) and example["seniorcitizen"] == "INT64"
    forms = [branch for branch in schemas["InvocationRequest"]["anyOf"] if "required" in branch]
    assert [f["required"] for f in forms] == [["dataframe_split"], ["dataframe_records"], ["instances"], ["inputs"]]
    assert forms[1]["properties"]["dataframe_records"]["maxItems"] == 7


def answer_schema(doc: dict[str, Any], path: str, method: str, status: int, media: str) -> Any:
    """The documented schema of an answer, failing if the document does not have that status or media type."""
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, (method, path, status, sorted(responses))
    content = responses[str(status)]["content"]
    assert media in content, (method, path, status, media, sorted(content))
    return content[media]["schema"]


def conforms(doc: dict[str, Any], schema: Any, body: Any) -> list[str]:
    """The ways a JSON body breaks a documented schema ($refs resolved in the document's components)."""
    root = {"allOf": [json_schema(schema)], "components": json_schema(doc["components"])}
    return [error.message for error in jsonschema_rs.Draft7Validator(root).iter_errors(body)]


def csv_row(record: dict[str, Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([record.get(c, "") for c in features.EXPORT_COLUMNS])
    return out.getvalue()


def requests_of_every_operation(doc: dict[str, Any], version: str) -> list[tuple[str, str, dict[str, Any], int]]:
    """(method, path, request options, status): every documented operation, with answers and refusals."""
    schemas = doc["components"]["schemas"]
    customer, inference = make_customer(), schemas["InferenceRequest"]["example"]
    one_input = {"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [1], "data": [1]}]}
    v2 = "/v2/models/churn"
    return [
        ("GET", "/", {}, 200), ("GET", "/model", {}, 200), ("GET", "/docs", {}, 200),
        ("GET", "/openapi.json", {}, 200), ("GET", "/ping", {}, 200), ("GET", "/healthz", {}, 200),
        ("GET", "/readyz", {}, 200), ("GET", "/v1/model", {}, 200), ("GET", "/metrics", {}, 200),
        ("POST", "/predict", {"json": customer}, 200), ("POST", "/predict", {"json": {}}, 422),
        ("POST", "/predict", {"data": "{", "content_type": "application/json"}, 400),
        ("POST", "/v1/predict", {"json": {"customers": [customer, {}]}}, 200),
        ("POST", "/v1/jobs", {"json": {"customers": [customer]}}, 503),  # no Redis here
        ("GET", "/v1/jobs/abc-1", {}, 503), ("GET", "/v1/jobs/abc-1/result", {}, 503),
        ("GET", "/execution-parameters", {}, 200),
        ("POST", "/invocations", {"json": schemas["InvocationRequest"]["example"]}, 200),
        ("POST", "/invocations", {"json": [customer, {"contract": "weekly"}]}, 200),
        ("POST", "/invocations", {"data": csv_row(customer), "content_type": "text/csv",
                                  "headers": {"Accept": "text/csv"}}, 200),
        ("POST", "/invocations", {"json": {"instances": [customer], "params": {"a": 1}}}, 422),
        ("POST", "/invocations", {"json": [customer], "headers": {"Accept": "image/png"}}, 406),
        ("POST", "/invocations", {"data": "a\n", "content_type": "text/csv"}, 400),
        ("GET", "/v2", {}, 200), ("GET", "/v2/health/live", {}, 200), ("GET", "/v2/health/ready", {}, 200),
        ("GET", v2, {}, 200), ("GET", f"{v2}/versions/{version}", {}, 200), ("GET", "/v2/models/other", {}, 404),
        ("GET", f"{v2}/ready", {}, 200), ("GET", f"{v2}/versions/{version}/ready", {}, 200),
        ("GET", f"{v2}/versions/0/ready", {}, 404),
        ("POST", f"{v2}/infer", {"json": inference}, 200),
        ("POST", f"{v2}/versions/{version}/infer", {"json": {**inference, "parameters": {"binary_data_output": True}}},
         200),
        ("POST", f"{v2}/infer", {"json": one_input}, 422), ("POST", f"{v2}/infer", {"json": {"inputs": []}}, 400),
        ("POST", "/v2/models/other/infer", {"json": inference}, 404),
    ]  # fmt: skip


def check_answer(doc: dict[str, Any], app: Any, method: str, path: str, options: dict[str, Any], status: int) -> str:
    """Send the request, check its status and that the answer is what the document says; return its route."""
    answer = app.test_client().open(path, method=method, **options)
    assert answer.status_code == status, (method, path, answer.data[:300])
    rule, _ = app.url_map.bind("localhost").match(path, method, return_rule=True)
    route = openapi_path(rule.rule)
    schema = answer_schema(doc, route, method, status, answer.mimetype)
    if answer.mimetype == "application/json":
        assert conforms(doc, schema, answer.json) == [], (method, path, answer.json)
    return route


def test_every_operation_answers_as_documented(model: LoadedModel) -> None:
    app = create_app(Settings(max_batch=50), model)
    doc = app.test_client().get("/openapi.json").json
    tried = {
        (method, check_answer(doc, app, method, path, options, status))
        for method, path, options, status in requests_of_every_operation(doc, model.version)
    }
    assert tried == {(m, path) for path, methods in document_routes(doc).items() for m in methods}  # none left out


@pytest.mark.parametrize(
    "path", ["/predict", "/invocations", "/execution-parameters", "/v2", "/v2/models/churn", "/v2/models/churn/infer"]
)
def test_a_refusal_for_want_of_a_key_is_in_the_documented_shape_of_its_route(model: LoadedModel, path: str) -> None:
    app = create_app(Settings(api_keys=("k" * 24,)), model)
    doc = app.test_client().get("/openapi.json").json
    method = "POST" if path in ("/predict", "/invocations") or path.endswith("/infer") else "GET"
    check_answer(doc, app, method, path, {"json": {}} if method == "POST" else {}, 401)


def nullable_enums(node: Any, where: str = "") -> list[tuple[str, list[Any]]]:
    """Every schema of the document that is nullable and has an enum, with the enum."""
    if isinstance(node, list):
        return [found for i, item in enumerate(node) for found in nullable_enums(item, f"{where}/{i}")]
    if not isinstance(node, dict):
        return []
    here = [(where, node["enum"])] if node.get("nullable") and "enum" in node else []
    return here + [found for key, value in node.items() for found in nullable_enums(value, f"{where}/{key}")]


def test_a_nullable_enum_lists_null_as_openapi_3_0_3_and_schemathesis_read_it(model: LoadedModel) -> None:
    found = nullable_enums(openapi.build(model, 100, secured=False))
    assert found, "the inference request's content types are nullable enums"
    assert [where for where, enum in found if None not in enum] == []


ANY_ID = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=210),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(ANY_ID, min_size=1, max_size=8))
def test_every_id_a_batch_answers_with_fits_the_documented_answer(model: LoadedModel, ids: list[Any]) -> None:
    """Whatever customerid a row sends (any integer, any text, a float, none), the answer it gets back is
    in the documented shape: ids from 2**63 to 2**64 - 1 included, which an int64 could not hold."""
    app = create_app(Settings(max_batch=50), model)
    doc = app.test_client().get("/openapi.json").json
    rows = [make_customer(customerid=i) for i in ids]
    answer = app.test_client().post("/v1/predict", data=jsonkeys.dumps({"customers": rows}), content_type=JSON_TYPE)
    assert answer.status_code == 200
    assert conforms(doc, answer_schema(doc, "/v1/predict", "POST", 200, JSON_TYPE), answer.json) == []
