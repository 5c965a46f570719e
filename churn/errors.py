"""The error vocabulary: stable machine-readable codes shared by the API, its docs and its clients."""

from __future__ import annotations

from typing import Any


class Code:
    """Request-level error codes (the `error.code` of a response)."""

    BAD_REQUEST = "bad_request"  # not valid HTTP: refused by the HTTP server or nginx before the service
    URI_TOO_LONG = "uri_too_long"  # answered by nginx itself
    INVALID_JSON = "invalid_json"
    INVALID_BODY = "invalid_body"  # a framing the HTTP server cannot decode (a malformed chunk, a bad length)
    INCOMPLETE_BODY = "incomplete_body"  # the body ended before its declared Content-Length
    LENGTH_REQUIRED = "length_required"  # a chunked body (churn/server/body.py says why)
    INVALID_REQUEST = "invalid_request"
    VALIDATION_FAILED = "validation_failed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BATCH_TOO_LARGE = "batch_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNSUPPORTED_CONTENT_ENCODING = "unsupported_content_encoding"  # 415: a body gzip'd (or any coding): not decoded
    NOT_ACCEPTABLE = "not_acceptable"  # 406: the Accept header names no type the route can answer in
    UNAUTHORIZED = "unauthorized"
    NOT_READY = "not_ready"
    JOBS_DISABLED = "jobs_disabled"
    QUEUE_UNAVAILABLE = "queue_unavailable"
    JOB_NOT_FOUND = "job_not_found"
    JOB_FAILED = "job_failed"
    RESULT_EXPIRED = "result_expired"  # 410: the job finished, but Redis no longer holds its result
    JOB_TOO_LARGE = "job_too_large"  # 413: rows x (1 + explain + explain_down) over CHURN_JOB_MAX_COST
    TOO_MANY_JOBS = "too_many_jobs"  # 429: as many jobs in flight as allowed, for the key or in all
    JOBS_BUSY = "jobs_busy"  # 503: this process already serves CHURN_JOB_ROUTE_SLOTS job requests
    INVALID_CSV = "invalid_csv"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"  # answered by nginx itself (churn-errors.conf)
    INTERNAL_ERROR = "internal_error"


class FieldCode:
    """Field-level codes, found in the `details` of a validation error."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_CATEGORY = "unknown_category"
    INVALID_NUMBER = "invalid_number"
    NOT_FINITE = "not_finite"
    NEGATIVE_VALUE = "negative_value"
    OUT_OF_RANGE = "out_of_range"
    AMBIGUOUS_FIELD = "ambiguous_field"
    TOO_LONG = "too_long"
    NO_KNOWN_FIELDS = "no_known_fields"


class WarningCode:
    """Codes of the `warnings` of a scored batch row: accepted and scored, but worth a second look."""

    OUTSIDE_TRAINING_RANGE = "outside_training_range"


class ModelLoadError(Exception):
    """The model cannot be served; the message says what to do about it."""


class TrainingDataError(Exception):
    """A training export cannot be trained on; the message says what is wrong and where."""


class ApiError(Exception):
    """An error answered as {"error": {"code", "message", "details"}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}
