"""The OpenAPI 3 document, built from what validates requests: the customer contract (churn.core.contract,
from the model's vocabulary and training ranges), churn.errors and the settings. A new category in a
retrained model shows up here by itself.

The validator is more lenient than a plain enum: it takes raw CRM spellings ("Month-to-month") and
numeric strings ("41"). The contract's schemas say so with patterns beside the canonical values, so
that a customer the document calls invalid is one the service refuses, and the other way round.
The parts every operation shares, the error contract among them, are in churn.server.openapi_parts;
the protocols' routes in churn.server.openapi_mlflow (/invocations, /execution-parameters) and
churn.server.openapi_oip (/v2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from churn.config import Settings
from churn.core.contract import Contract
from churn.core.model import LoadedModel
from churn.server import openapi_mlflow, openapi_oip
from churn.server.api import API_VERSION
from churn.server.job_routes import JOB_ID as JOB_ID_FORMAT
from churn.server.openapi_parts import REF, error_schemas, errors, json_content, security
from churn.server.protocols import sagemaker

JOB_ID = f"^{JOB_ID_FORMAT.pattern}$"  # the ids the queue makes (any other is job_not_found)
JOB_ERRORS = {
    404: "No such job: it never existed, or it and its result are no longer kept (`job_not_found`)",
    410: "The job finished, but its result is no longer kept (expired, or evicted by Redis): submit it again "
    "(`result_expired`; details.status is `expired`)",
    413: "The body, the batch or the job's cost (rows x (1 + explain + explain_down)) is too large "
    "(`payload_too_large`, `batch_too_large`, `job_too_large`; details give the limit)",
    429: "As many jobs queued or running as allowed, for this API key or in all (`too_many_jobs`, with Retry-After)",
    500: "The job failed (`job_failed`); the message says why, details.reason names the cause",
    503: "Jobs are not configured (`jobs_disabled`), Redis is unreachable (`queue_unavailable`) or this server "
    "runs as many job requests as it takes at once (`jobs_busy`), with Retry-After",
}


def customer_schema(model: LoadedModel, contract: Contract) -> dict[str, Any]:
    return {
        **contract.schema(),
        "description": "One customer. Key names may also be CRM spellings (`MonthlyCharges`, `customerID`); "
        "fields the model does not use are ignored.",
        "additionalProperties": True,
        "example": dict(model.metadata["reference_customer"]["customer"]),
    }


def response_schemas(model: LoadedModel, contract: Contract, max_batch: int, job_max_batch: int) -> dict[str, Any]:
    explain_limit = len(model.scorer.fields)
    reason = {
        "type": "object",
        "required": ["field", "code", "value", "contribution"],
        "properties": {
            "field": {"type": "string"},
            "code": {"type": "string"},
            "value": {},
            "contribution": {"type": "number"},
        },
    }
    # the id as the request gave it (null when it gave none, or one the contract drops): the request's schema
    customerid = {**contract.customerid.schema(), "description": "The row's customerid, as sent"}
    scored = {
        "type": "object",
        "required": ["index", "customerid", "churn_probability", "churn", "percentile"],
        "properties": {
            "index": {"type": "integer"},
            "customerid": customerid,
            "churn_probability": {"type": "number", "minimum": 0, "maximum": 1},
            "churn": {"type": "boolean"},
            "percentile": {"type": "number", "minimum": 0, "maximum": 100},
            "reasons": {"type": "array", "items": reason},
            "reasons_down": {"type": "array", "items": reason},
            "warnings": {
                "type": "array",
                "items": {"$ref": REF + "FieldWarning"},
                "description": "Only on a row with a value outside the training range: scored, but check it",
            },
        },
    }
    rejected = {
        "type": "object",
        "required": ["index", "customerid", "error"],
        "properties": {"index": {"type": "integer"}, "customerid": customerid, "error": {"$ref": REF + "ErrorBody"}},
    }
    count = {"type": "integer", "minimum": 0}
    return {
        "Customer": customer_schema(model, contract),
        "Prediction": {
            "type": "object",
            "required": ["churn_probability", "churn"],
            "properties": {
                "churn_probability": {"type": "number", "minimum": 0, "maximum": 1},
                "churn": {"type": "boolean"},
            },
        },
        "BatchRequest": batch_request(explain_limit, max_items=max_batch, min_items=0),
        "BatchResponse": {
            "type": "object",
            "required": ["model_version", "threshold", "summary", "predictions"],
            "properties": {
                "model_version": {"type": "string"},
                "threshold": {"type": "number"},
                "summary": {
                    "type": "object",
                    "required": ["rows", "scored", "rejected", "churners"],
                    "properties": {k: count for k in ("rows", "scored", "rejected", "churners")},
                },
                "predictions": {
                    "type": "array",
                    "items": {"anyOf": [{"$ref": REF + "ScoredRow"}, {"$ref": REF + "RejectedRow"}]},
                },
            },
        },
        "ScoredRow": scored,
        "RejectedRow": rejected,
        "JobRequest": batch_request(explain_limit, max_items=job_max_batch, min_items=1),
        "JobStatus": {
            "type": "object",
            "required": ["id", "status", "status_url", "result_url"],
            "properties": {
                "id": {"type": "string"},
                "status": {"type": "string", "enum": ["queued", "running", "finished"]},
                "rows": {"type": "integer", "minimum": 0},
                "status_url": {"type": "string"},
                "result_url": {"type": "string"},
            },
        },
    }


def batch_request(explain_limit: int, *, max_items: int, min_items: int) -> dict[str, Any]:
    # No `default` keyword: generators (openapi-typescript) would make the field required; 0 is said instead.
    option = {"type": "integer", "minimum": 0, "maximum": explain_limit}
    return {
        "type": "object",
        "required": ["customers"],
        "additionalProperties": False,
        "properties": {
            "customers": {
                "type": "array",
                "minItems": min_items,
                "maxItems": max_items,
                # Rows are checked one by one: a bad row gets its own error in a 200 answer, so any
                # value is a valid item; the Customer branch gives generators and "Try it out" its shape.
                "items": {"anyOf": [{"$ref": REF + "Customer"}, {"description": "Any other value: a per-row error"}]},
            },
            "explain": {
                **option,
                "description": "How many fields raising the risk most to list per row (0 if left out)",
            },
            "explain_down": {
                **option,
                "description": "How many fields lowering the risk most to list per row (0 if left out)",
            },
        },
    }


def scoring_operation(operation_id: str, summary: str, request: str, response: str, secured: bool) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "requestBody": {"required": True, "content": json_content(request)},
        "responses": {
            "200": {"description": "Scored", "content": json_content(response)},
            **errors(400, *((401,) if secured else ()), 413, 415, 422, 500),
        },
        "security": security(secured),
    }


def job_errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": JOB_ERRORS[s], "content": json_content("Error")} for s in statuses}


def job_operations(secured: bool) -> dict[str, Any]:
    """The asynchronous job routes (churn/server/job_routes.py)."""
    job_id = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": JOB_ID}}]
    auth: dict[str, Any] = {"security": security(secured)}
    unauthorized: dict[str, Any] = errors(401) if secured else {}
    status: dict[str, Any] = {"description": "Queued or running", "content": json_content("JobStatus")}
    submit: dict[str, Any] = {
        "operationId": "submitJob",
        "summary": "Queue a batch for an RQ worker",
        # The CSV upload is described here rather than as a second media type: a schema cannot say
        # "a header of distinct column names", so a fuzzer would take any string for a valid CSV.
        "description": "The body is a batch like /v1/predict's (at least one customer). A CSV export can be "
        "sent instead, as `Content-Type: text/csv`, read as /invocations reads CSV: one customer per line, "
        "under a header line (raw CRM headers and spellings are fine) or in the CRM export's column order "
        "without one; options in the query string (`?explain=3`). An unreadable CSV, or a line with another "
        "number of cells than the header, is answered 400 `invalid_csv`.",
        "requestBody": {"required": True, "content": json_content("JobRequest")},
        "responses": {
            "202": {"description": "Queued; Location names the status URL", "content": json_content("JobStatus")},
            **errors(400, 415, 422, 500),
            **unauthorized,
            **job_errors(413, 429, 503),
        },
        **auth,
    }
    poll: dict[str, Any] = {
        "operationId": "getJob",
        "summary": "The job's state: 202 while queued or running, 200 once finished",
        "parameters": job_id,
        "responses": {"200": {"description": "Finished", "content": json_content("JobStatus")}, "202": status,
                      **unauthorized, **job_errors(404, 410, 500, 503)},
        **auth,
    }  # fmt: skip
    result: dict[str, Any] = {
        "operationId": "getJobResult",
        "summary": "The job's predictions, shaped as /v1/predict's response",
        "parameters": job_id,
        "responses": {"200": {"description": "The predictions", "content": json_content("BatchResponse")},
                      "202": status, **unauthorized, **job_errors(404, 410, 500, 503)},
        **auth,
    }  # fmt: skip
    return {
        "/v1/jobs": {"post": submit},
        "/v1/jobs/{job_id}": {"get": poll},
        "/v1/jobs/{job_id}/result": {"get": result},
    }


def get_operation(operation_id: str, summary: str, content: dict[str, Any], *extra: int) -> dict[str, Any]:
    """An open GET route (the middleware's OPEN_ROUTES): no key, whatever the settings."""
    responses = {"200": {"description": "OK", "content": content}}
    responses.update({str(s): {"description": "Not ready", "content": content} for s in extra})
    return {"get": {"operationId": operation_id, "summary": summary, "responses": responses, "security": []}}


def paths(secured: bool) -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    anything = {"application/json": {"schema": {"type": "object"}}}
    metrics = get_operation("getMetrics", "Prometheus metrics of every worker", text)
    metrics["get"]["security"] = security(secured)
    if secured:
        metrics["get"]["responses"].update(errors(401))
    return {
        "/predict": {
            "post": scoring_operation(
                "predict", "Score one customer (the book's route)", "Customer", "Prediction", secured
            )
        },
        "/v1/predict": {
            "post": scoring_operation(
                "predictBatch",
                "Score a batch, one result or error per row, in order",
                "BatchRequest",
                "BatchResponse",
                secured,
            )
        },
        "/v1/model": get_operation("getModel", "The model's metadata", anything),
        "/ping": get_operation("ping", "Liveness, as in the book: PONG", text),
        "/healthz": get_operation("healthz", "The process is alive", anything),
        "/readyz": get_operation("readyz", "The model is loaded and its golden self-test passes", anything, 503),
        "/metrics": metrics,
        **job_operations(secured),
        **page_operations(),
    }


def page_operations() -> dict[str, Any]:
    """The pages for people (churn/server/pages.py) and these docs (churn/server/ops.py): all open."""
    html = {"text/html": {"schema": {"type": "string"}}}
    card = get_operation("getModelCard", "The model card: the model, its held-out figures, what drives it", html)
    card["get"]["responses"].update(errors(404, said={404: "This deployment has no card for its model (`not_found`)"}))
    return {
        "/": get_operation("getLandingPage", "What this service is, its model and readiness, with links", html),
        "/model": card,
        "/docs": get_operation("getDocs", "This document in Swagger UI", html),
        "/openapi.json": get_operation(
            "getOpenApi", "This document", {"application/json": {"schema": {"type": "object"}}}
        ),
    }


def build(
    model: LoadedModel,
    max_batch: int,
    secured: bool,
    job_max_batch: int = 100_000,
    contract: Contract | None = None,
    *,
    transform: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole document for this model and these settings (contract: the service's, by default the model's;
    transform: what /execution-parameters answers, by default for the default settings)."""
    contract = contract or model.contract()
    transform = transform or sagemaker.transform_defaults(Settings(), model.metadata["vocabulary"])
    customer = model.metadata["reference_customer"]["customer"]  # the protocols' examples score it
    schemas = {
        **error_schemas(),
        **response_schemas(model, contract, max_batch, job_max_batch),
        **openapi_mlflow.schemas(customer, max_batch, transform),
        **openapi_oip.schemas(contract, model.version, customer, max_batch),
    }
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "churn-serving",
            "version": API_VERSION,  # the API's; the model's is its own field
            "x-model-version": model.version,
            "description": "The Machine Learning Bookcamp churn model. Every error has the shape of `Error`, "
            "except where a protocol has its own: `InvocationError` (`Error` with MLflow's two fields beside it) "
            "on /invocations, `InferenceError` (the Open Inference Protocol's) under /v2. "
            "The model served is `x-model-version` (also in /v1/model and every answer).",
        },
        "servers": [{"url": "/", "description": "The server that serves this document"}],
        "paths": {**paths(secured), **openapi_mlflow.paths(secured), **openapi_oip.paths(model.version, secured)},
        "components": {"schemas": schemas},
    }
    if secured:
        doc["components"]["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    return doc
