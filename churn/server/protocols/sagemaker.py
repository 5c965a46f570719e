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

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Flask, Response, current_app

from churn.config import ConfigError, Settings
from churn.core import features
from churn.server.api import json_response

bp = Blueprint("sagemaker", __name__)
SERVE = "serve"  # the argument SageMaker runs the image with
PORT = 8080
BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"
EXECUTION_PARAMETERS = "churn.server.protocols.sagemaker"
MB = 1_000_000
MAX_PAYLOAD_MB = 1  # payloads are given in whole MB: the smallest mini-batch Batch Transform can be told to send
PAYLOAD_BYTES_PER_MB = 1 << 20  # whether SageMaker's MB is 10^6 or 2^20 bytes, the larger counts the most rows


def serve_port(environ: Mapping[str, str]) -> int:
    """The port of `serve`: SAGEMAKER_BIND_TO_PORT when SageMaker gives one, else 8080."""
    text = environ.get(BIND_TO_PORT, "").strip()
    if not text:
        return PORT
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        raise ConfigError(f"{BIND_TO_PORT}={text!r} is not valid: expected a TCP port (1-65535)")
    return int(text)


def transform_defaults(settings: Settings, vocabulary: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """What GET /execution-parameters answers for these settings and this model's vocabulary (the OpenAPI
    document shows it too).

    Batch Transform packs a mini-batch with as many lines as fit its payload, and the request is refused
    past CHURN_MAX_BATCH rows: MultiRecord only when CHURN_MAX_BATCH holds every line a payload can
    carry, the shortest lines the contract accepts included; one record a request otherwise.
    """
    payload_mb = max(1, min(MAX_PAYLOAD_MB, settings.max_body_bytes // MB))
    most_lines = (payload_mb * PAYLOAD_BYTES_PER_MB + 1) // shortest_line(vocabulary)  # the last without its end
    return {
        "MaxConcurrentTransforms": settings.workers * settings.threads,
        "BatchStrategy": "MultiRecord" if most_lines <= settings.max_batch else "SingleRecord",
        "MaxPayloadInMB": payload_mb,
    }


def shortest_line(vocabulary: Mapping[str, Sequence[Any]]) -> int:
    """The fewest bytes of a headerless CSV line the service scores: no id, each category in its shortest
    spelling (a spelling is never shorter than the model's name for it), a digit for each number and none
    for a blank one that reads as 0, the commas and the line end."""

    def fewest(field: str) -> int:
        if field == features.ID_FIELD or field in features.BLANK_IS_ZERO:
            return 0
        if field in features.NUMERICAL:
            return 1
        return min(len(str(value)) for value in vocabulary[field])

    columns = features.EXPORT_COLUMNS
    return sum(map(fewest, columns)) + len(columns)  # the commas between the cells, and the line end


def init_app(app: Flask, settings: Settings, vocabulary: Mapping[str, Sequence[Any]]) -> None:
    app.extensions[EXECUTION_PARAMETERS] = transform_defaults(settings, vocabulary)
    app.register_blueprint(bp)


@bp.get("/execution-parameters")
def execution_parameters() -> Response:
    parameters: dict[str, Any] = current_app.extensions[EXECUTION_PARAMETERS]
    return json_response(parameters)
