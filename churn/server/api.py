"""HTTP routes: thin adapters from Flask requests to the ChurnService.

GET  /ping         PONG (the book's liveness check)
POST /predict      one customer -> {"churn_probability", "churn"} (the book's route)
POST /v1/predict   {"customers": [...]} -> one result or error per row, in input order
GET  /v1/model     the model's metadata
GET  /healthz      the process is alive
GET  /readyz       the model is loaded and the golden self-test passes
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request

from churn.core import jsonkeys
from churn.core.service import ChurnService
from churn.errors import ApiError, Code
from churn.server.wsgi import JSON, ROWS_KEY

bp = Blueprint("churn", __name__)
# The API's own semantic version (info.version of the OpenAPI document, /v2's version): a new route or
# field is a minor step, a change that breaks a client a major one. The model has its own version.
API_VERSION = "1.2.0"


def service() -> ChurnService:
    svc: ChurnService = current_app.extensions["churn"]
    return svc


def json_body() -> Any:
    """The request's JSON document; 415 when it is not declared JSON (in UTF-8), 400 when it does not parse."""
    if request.mimetype != JSON:
        raise ApiError(415, Code.UNSUPPORTED_MEDIA_TYPE, f"send the body as JSON with Content-Type: {JSON}")
    check_charset(request.mimetype_params)
    return parse_json(request.get_data(cache=False))


def check_charset(params: Mapping[str, str]) -> None:
    """Refuse a body whose Content-Type declares a charset other than UTF-8, the only one read: on every
    route that takes a body (JSON, CSV, JSON Lines), rather than read it as UTF-8 regardless."""
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise ApiError(415, Code.UNSUPPORTED_MEDIA_TYPE, "the body must be UTF-8")


def parse_json(body: bytes) -> Any:
    """Parse a request body (shared with churn.server.fastpath, so both paths give the same 400), keeping a
    repeated key for the validator to refuse (churn.core.jsonkeys)."""
    try:
        return jsonkeys.loads(body)
    except ValueError as e:
        raise ApiError(400, Code.INVALID_JSON, f"the body is not valid JSON: {e}") from None


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype=JSON)


@bp.get("/ping")
def ping() -> Response:
    return Response("PONG", mimetype="text/plain")


@bp.post("/predict")
def predict() -> Response:
    request.environ[ROWS_KEY] = 1
    return json_response(service().predict_one(json_body()))


@bp.post("/v1/predict")
def predict_batch() -> Response:
    result = service().predict_batch(json_body())
    request.environ[ROWS_KEY] = result["summary"]["rows"]
    return json_response(result)


@bp.get("/v1/model")
def model_metadata() -> Response:
    return json_response(service().model.metadata)


@bp.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    model = service().model
    test = model.self_test()
    body = {"status": "ready" if test["passed"] else "not_ready", "model_version": model.version, "self_test": test}
    return json_response(body, 200 if test["passed"] else 503)
