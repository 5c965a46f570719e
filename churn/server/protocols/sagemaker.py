"""SageMaker's container contract ("Use your own inference code"), served by the same image and app.

SageMaker runs `docker run IMAGE serve` and talks to port 8080 (SAGEMAKER_BIND_TO_PORT instead, which
SageMaker sets only for an image labelled com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true):
churn.server.launch reads the argument and the port through serve_port(). The routes are the app's own:
    GET  /ping                   200 PONG once the model is loaded and verified (churn.server.api), open
    POST /invocations            MLflow's protocol, CSV and JSON Lines (churn.server.protocols.mlflow)
    GET  /execution-parameters   what Batch Transform should send, when the job leaves it unset
SageMaker authenticates its callers itself (IAM signs every InvokeEndpoint call) and sends the container
no key: run it on SageMaker without CHURN_API_KEYS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, current_app

from churn.config import ConfigError, Settings
from churn.server.api import json_response

bp = Blueprint("sagemaker", __name__)
SERVE = "serve"  # the argument SageMaker runs the image with
PORT = 8080
BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"
EXECUTION_PARAMETERS = "churn.server.protocols.sagemaker"
MB = 1_000_000
# A mini-batch of Batch Transform must fit one request (CHURN_MAX_BATCH rows): 1 MB holds about 6,000 rows
# of the CRM export (its lines are 92 to 218 bytes), and payloads are given in whole MB.
MAX_PAYLOAD_MB = 1


def serve_port(environ: Mapping[str, str]) -> int:
    """The port of `serve`: SAGEMAKER_BIND_TO_PORT when SageMaker gives one, else 8080."""
    text = environ.get(BIND_TO_PORT, "").strip()
    if not text:
        return PORT
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        raise ConfigError(f"{BIND_TO_PORT}={text!r} is not valid: expected a TCP port (1-65535)")
    return int(text)


def transform_defaults(settings: Settings) -> dict[str, Any]:
    """What GET /execution-parameters answers for these settings (the OpenAPI document shows it too)."""
    return {
        "MaxConcurrentTransforms": settings.workers * settings.threads,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": max(1, min(MAX_PAYLOAD_MB, settings.max_body_bytes // MB)),
    }


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXECUTION_PARAMETERS] = transform_defaults(settings)
    app.register_blueprint(bp)


@bp.get("/execution-parameters")
def execution_parameters() -> Response:
    parameters: dict[str, Any] = current_app.extensions[EXECUTION_PARAMETERS]
    return json_response(parameters)
