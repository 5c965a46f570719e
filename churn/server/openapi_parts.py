"""The parts every operation of the OpenAPI document is built from: references to its schemas, JSON
bodies, security (from the request middleware's OPEN_ROUTES), and the service's one error contract (the
`Error` schema, from churn.errors, and the error responses an operation declares with `errors`).

churn.server.openapi (the service's own routes and the pages), churn.server.openapi_mlflow and
churn.server.openapi_oip (the protocols') all build on these, so that every route states its errors
and its key the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from churn.errors import Code, FieldCode, WarningCode
from churn.server.middleware import OPEN_ROUTES

REF = "#/components/schemas/"
ERROR_STATUSES = {
    400: "The body is not valid JSON (`invalid_json`)",
    401: "An API key is needed and was missing or wrong (`unauthorized`); see WWW-Authenticate",
    413: "The body or the batch is too large (`payload_too_large`, `batch_too_large`)",
    415: (
        "The body was not sent as application/json (`unsupported_media_type`), "
        "or in a content coding (`unsupported_content_encoding`)"
    ),
    422: "The request is well-formed JSON but not a valid request (`validation_failed`, `invalid_request`)",
    500: "A fault of the service (`internal_error`); the details are only in its log",
}
RANGE = {
    "type": "object",
    "required": ["min", "max"],
    "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
}


def public_codes(vocabulary: type) -> list[str]:
    return sorted(v for k, v in vars(vocabulary).items() if k.isupper() and isinstance(v, str))


def error_schemas() -> dict[str, Any]:
    field_error = {
        "type": "object",
        "required": ["field", "code", "message"],
        "properties": {
            "field": {"type": "string", "description": "The field, or '' for the record as a whole"},
            "code": {"type": "string", "enum": public_codes(FieldCode)},
            "message": {"type": "string"},
            "allowed": {"type": "array", "items": {}, "description": "The known values, for unknown_category"},
            "range": {**RANGE, "description": "The accepted range, for out_of_range"},
        },
    }
    warning = {
        "type": "object",
        "required": ["field", "code", "message", "range"],
        "properties": {
            "field": {"type": "string"},
            "code": {"type": "string", "enum": public_codes(WarningCode)},
            "message": {"type": "string"},
            "range": {**RANGE, "description": "The range training saw"},
        },
    }
    error = {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string", "description": "Stable machine-readable code: " + ", ".join(public_codes(Code))},
            "message": {"type": "string"},
            "details": {
                "anyOf": [
                    {"type": "array", "items": {"$ref": REF + "FieldError"}, "nullable": True},
                    {"type": "object", "additionalProperties": True},
                ],
                "description": "null, the list of FieldError of validation_failed, or an object (a job's reason)",
            },
        },
    }
    envelope = {"type": "object", "required": ["error"], "properties": {"error": {"$ref": REF + "ErrorBody"}}}
    return {"FieldError": field_error, "FieldWarning": warning, "ErrorBody": error, "Error": envelope}


def json_content(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF + ref}}}


def errors(*statuses: int, said: Mapping[int, str] = ERROR_STATUSES, schema: str = "Error") -> dict[str, Any]:
    """Error responses, each described as `said` says; `schema` is `Error` or a protocol's wrapping of it."""
    return {str(s): {"description": said[s], "content": json_content(schema)} for s in statuses}


def security(secured: bool) -> list[dict[str, list[str]]]:
    """An operation's security: the bearer key when keys are set, else none, said explicitly."""
    return [{"bearerAuth": []}] if secured else []


def operation(path: str, secured: bool, error: str, **fields: Any) -> dict[str, Any]:
    """An operation whose security, and 401 (in the `error` schema), are what the request middleware decides
    for its route: none if OPEN_ROUTES lists it, else the key when keys are set."""
    needs_key = secured and path.replace("{", "<").replace("}", ">") not in OPEN_ROUTES
    responses = {**fields.pop("responses"), **(errors(401, schema=error) if needs_key else {})}
    return {**fields, "responses": responses, "security": security(needs_key)}


def answers(description: str, ref: str, *not_ready: int) -> dict[str, Any]:
    """A 200 of one schema, and the statuses that say "not ready" in the same schema (the protocol's 400)."""
    return {str(s): {"description": description if s == 200 else "Not ready", "content": json_content(ref)}
            for s in (200, *not_ready)}  # fmt: skip
