"""The OpenAPI document comes from the validator's own sources, and agrees with what it accepts."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from churn.core import features
from churn.core.model import LoadedModel
from churn.core.validation import CustomerValidator, InvalidCustomer
from churn.errors import FieldCode
from churn.server import openapi
from tests.conftest import make_customer
from tests.core.test_contract import schema_validator


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
