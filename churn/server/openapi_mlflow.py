"""MLflow's and SageMaker's routes in the OpenAPI document: POST /invocations (churn.server.protocols.mlflow,
which SageMaker's containers answer too) and GET /execution-parameters (churn.server.protocols.sagemaker).

Each shape comes from the module that reads or writes it: MLflow's forms (mlflow.FORMS), the media types
of an answer (formats), the batch limit from the settings, SageMaker's defaults from the settings. The
errors are the service's `Error` with MLflow's two fields beside it (`InvocationError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from churn.server.openapi_parts import ERROR_STATUSES, REF, answers, errors, json_content, operation
from churn.server.protocols import formats, mlflow

INVOCATION_ERRORS = {
    **ERROR_STATUSES,
    400: "The body is not valid JSON (`invalid_json`), CSV or JSON Lines (`invalid_csv`, `invalid_json`)",
    406: "The Accept header names none of the answer's media types (`not_acceptable`)",
    415: (
        "The body was sent as none of JSON, CSV and JSON Lines, or not in UTF-8 (`unsupported_media_type`), "
        "or in a content coding (`unsupported_content_encoding`)"
    ),
    422: "The JSON is not one of MLflow's forms, or has params (`invalid_request`)",
}


def schemas(customer: Mapping[str, Any], max_batch: int, transform: Mapping[str, Any]) -> dict[str, Any]:
    """The bodies' schemas; `customer` (the model's reference customer) makes the request's example."""
    found = invocation_schemas(max_batch)
    found["InvocationRequest"]["example"] = {"dataframe_records": [dict(customer)]}
    return {**found, "ExecutionParameters": execution_parameters_schema(transform)}


def invocation_schemas(max_batch: int) -> dict[str, Any]:
    rows = customer_rows(max_batch)
    params = {"type": "object", "maxProperties": 0, "nullable": True, "description": "The model takes none"}
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "additionalProperties": False,
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "data": {
                "type": "array",
                "maxItems": max_batch,
                "items": {"type": "array", "items": {}},
                "description": "One array per customer, one value per column",
            },
            "index": {"type": "array", "items": {}, "description": "pandas' index, one label per row; not used"},
        },
    }
    columns = {"type": "object", "additionalProperties": {"type": "array", "maxItems": max_batch, "items": {}},
               "description": "Each column's values, one per customer; every column of one length"}  # fmt: skip
    schemas = {"dataframe_split": split, "dataframe_records": rows, "instances": rows,
               "inputs": {"anyOf": [columns, rows]}}  # fmt: skip
    forms = {form: schemas[form] for form in mlflow.FORMS}  # a form added to mlflow.py fails here until described
    one_customer = {
        "anyOf": [{"$ref": REF + "Customer"}, {"type": "object"}],
        "not": {"anyOf": [{"required": [form], "properties": {form: {}}} for form in mlflow.FORMS]},
        "description": "One customer, as /predict takes it: an object with none of the forms' keys",
    }
    request = [
        {"type": "object", "required": [form], "additionalProperties": False,
         "properties": {form: schema, "params": params}, "description": f"MLflow's {form} form"}
        for form, schema in forms.items()
    ]  # fmt: skip
    prediction = {
        "type": "object",
        "required": ["churn_probability", "churn"],
        "properties": {
            "churn_probability": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
            "churn": {"type": "boolean", "nullable": True},
            "error": {"$ref": REF + "ErrorBody"},
        },
        "description": "A customer's score, or for a customer the checks refuse: both null, and its error",
    }
    return {
        "InvocationRequest": {"anyOf": [*request, {**rows, "description": "An array of customers"}, one_customer]},
        "InvocationPrediction": prediction,
        "InvocationResponse": {
            "type": "object",
            "required": ["predictions"],
            "properties": {"predictions": {"type": "array", "items": {"$ref": REF + "InvocationPrediction"}}},
        },
        "InvocationError": mlflow_error(),
    }


def customer_rows(max_batch: int) -> dict[str, Any]:
    # As in /v1/predict's batches: a bad row gets its own error in a 200 answer, so any item is valid.
    any_row = {"description": "Any other value: a per-row error"}
    return {"type": "array", "maxItems": max_batch, "items": {"anyOf": [{"$ref": REF + "Customer"}, any_row]}}


def mlflow_error() -> dict[str, Any]:
    """The service's Error, with MLflow's error_code and message beside it."""
    mlflow_fields = {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {
            "error_code": {
                "type": "string",
                "enum": sorted({mlflow.mlflow_error_code(status) for status in INVOCATION_ERRORS}),
                "description": "MLflow's ErrorCode name of the answer's status: "
                + ", ".join(f"{mlflow.mlflow_error_code(s)} for {s}" for s in sorted(INVOCATION_ERRORS)),
            },
            "message": {"type": "string"},
        },
    }
    return {"allOf": [{"$ref": REF + "Error"}, mlflow_fields]}


def execution_parameters_schema(transform: Mapping[str, Any]) -> dict[str, Any]:
    kinds = {int: "integer", str: "string"}
    return {
        "type": "object",
        "required": list(transform),
        "properties": {name: {"type": kinds[type(value)], "example": value} for name, value in transform.items()},
        "description": "The defaults Batch Transform takes when a job leaves them unset",
    }


def paths(secured: bool) -> dict[str, Any]:
    scored = {
        formats.JSON: {"schema": {"$ref": REF + "InvocationResponse"}},
        **{media: {"schema": {"type": "string"}} for media in formats.ANSWER_TYPES[1:]},
    }
    invocations = operation(
        "/invocations",
        secured,
        "InvocationError",
        operationId="invocations",
        summary="Score customers as MLflow's scoring server and SageMaker's containers do",
        # CSV and JSON Lines are described rather than listed as media types, as for /v1/jobs: a schema cannot
        # say "20 cells a line, or a header of distinct names", so a fuzzer would take any string for a valid one.
        description="The body is one of MLflow's JSON forms, one customer or an array of them. It can also be "
        f"sent as `{formats.CSV}` (one customer per line, under a header line or in the CRM export's column "
        f"order) or `{formats.JSON_LINES}` (one customer per line). The answer has one prediction per "
        "customer, in order, in the type Accept asks for (JSON when it asks for none).",
        requestBody={"required": True, "content": json_content("InvocationRequest")},
        responses={
            "200": {"description": "One prediction per customer", "content": scored},
            **errors(400, 406, 413, 415, 422, 500, said=INVOCATION_ERRORS, schema="InvocationError"),
        },
    )
    parameters = operation(
        "/execution-parameters",
        secured,
        "Error",
        operationId="getExecutionParameters",
        summary="What SageMaker Batch Transform should send, when the job leaves it unset",
        responses=answers("The defaults", "ExecutionParameters"),
    )
    return {"/invocations": {"post": invocations}, "/execution-parameters": {"get": parameters}}
