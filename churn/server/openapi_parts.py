"""The parts every operation of the OpenAPI document is built from: references to its schemas, JSON
bodies, security, and the service's one error contract (the `Error` schema, from churn.errors, and the
error responses an operation declares with `errors`).

churn.server.openapi (the service's own routes) and churn.server.openapi_protocols (the protocols'
routes and the pages) both build on these, so that every route states its errors the same way.
"""

from __future__ import annotations

from typing import Any

from churn.errors import Code, FieldCode, WarningCode

REF = "#/components/schemas/"
ERROR_STATUSES = {
    400: "The body is not valid JSON (`invalid_json`)",
    401: "An API key is needed and was missing or wrong (`unauthorized`); see WWW-Authenticate",
    413: "The body or the batch is too large (`payload_too_large`, `batch_too_large`)",
    415: "The body was not sent as application/json (`unsupported_media_type`)",
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


def errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": ERROR_STATUSES[s], "content": json_content("Error")} for s in statuses}


def security(secured: bool) -> list[dict[str, list[str]]]:
    """An operation's security: the bearer key when keys are set, else none, said explicitly."""
    return [{"bearerAuth": []}] if secured else []
