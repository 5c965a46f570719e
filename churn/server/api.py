"""HTTP routes: thin adapters from Flask requests to the ChurnService.

GET  /ping         PONG (the book's liveness check)
POST /predict      one customer -> {"churn_probability", "churn"} (the book's route)
POST /v1/predict   {"customers": [...]} -> one result or error per row, in input order
GET  /v1/model     the model's metadata
GET  /healthz      the process is alive
GET  /readyz       the model is loaded and the golden self-test passes
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request
from werkzeug.http import parse_options_header

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
    check_charset(content_type())
    return parse_json(request.get_data(cache=False))


def content_type() -> str:
    """The request's Content-Type header as sent (check_charset reads it, not werkzeug's parse of it)."""
    return request.headers.get("Content-Type", "")


def media_type(header: str) -> str:
    """A Content-Type header's media type exactly as request.mimetype reads it (for churn.server.fastpath)."""
    return parse_options_header(header)[0].lower()


# The one charset a body is read in, as clients spell it (compared case-insensitively, quoted or not).
UTF8_NAMES = ("utf-8", "utf8")
SEPARATOR = re.compile("[;=]")
OWS = " \t"  # HTTP's optional whitespace (RFC 9110 5.6.3): not str.strip()'s, which takes U+00A0 too
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"[ \t]*(?:;|\Z)', re.DOTALL)  # RFC 9110 5.6.4's quoted-string
QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
MAX_SHOWN = 40


def check_charset(header: str) -> None:
    """Refuse (415) a body whose Content-Type declares any charset but UTF-8, the only one read: on every
    route that takes a body (JSON, CSV, JSON Lines), on both paths (churn.server.fastpath), rather than
    read it as UTF-8 regardless. No charset parameter means UTF-8; an empty one names no charset.

    Read from the header as sent: werkzeug's parse drops an empty value, a non-ASCII one and one with
    spaces around "=", and keeps only the last of a repeated parameter, so it would accept all of those.
    """
    for name, value in parameters(header):
        if name.removesuffix("*") == "charset" and not (value.isascii() and value.lower() in UTF8_NAMES):
            shown = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "..."
            raise ApiError(
                415,
                Code.UNSUPPORTED_MEDIA_TYPE,
                f"the body is read as UTF-8 only, and its Content-Type declares charset={shown!r}: "
                f"declare charset={UTF8_NAMES[0]} (or {UTF8_NAMES[1]}), or none",
                {"accepted": list(UTF8_NAMES)},
            )


def parameters(header: str) -> list[tuple[str, str]]:
    """A Content-Type header's parameters in order: (name lower-cased, value; "" when none is given).
    Spaces and tabs around a name, "=" and a token value are dropped, as a lenient reader does; a quoted
    value is what is between its quotes, spaces included, a backslash escape resolved (RFC 9110 5.6.4); a
    quote left open is part of a token value."""
    found = []
    rest = header.partition(";")[2]
    while rest:
        end = SEPARATOR.search(rest)
        name = (rest if end is None else rest[: end.start()]).strip(OWS).lower()
        rest = "" if end is None else rest[end.end() :]
        if end is None or end.group() == ";":  # a name without "=", or nothing between two ";"
            if name:
                found.append((name, ""))
            continue
        value, rest = parameter_value(rest)
        found.append((name, value))
    return found


def parameter_value(text: str) -> tuple[str, str]:
    """The value at the start of `text` (after a parameter's "="), and what follows it after its ";"."""
    text = text.lstrip(OWS)
    quoted = QUOTED.match(text)
    if quoted is not None:
        return QUOTED_PAIR.sub(r"\1", quoted.group(1)), text[quoted.end() :]
    value, _, rest = text.partition(";")
    return value.strip(OWS), rest


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
