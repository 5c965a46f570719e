"""A lean WSGI path for the two scoring routes' common case, inside the Flask app.

Profiling POST /predict in a gunicorn worker showed Flask's per-request machinery (request and
response objects, routing, context push/pop, header handling) costing ~15x the scoring itself. For
a POST to /predict or /v1/predict declared exactly `application/json` with a Content-Length within
the limit, this wrapper reads the body, calls the same api.parse_json and ChurnService methods the
Flask views call and answers the same bytes (status, headers, body) with none of that machinery.
Every other request, and any such request whose body is not fully there, goes to Flask unchanged.

It wraps Flask's own wsgi_app in create_app, so middleware wrapped around app.wsgi_app afterwards
(request ids, request log, metrics, authentication) sees every request, fast or not. It bypasses
Flask's before_request/after_request hooks: cross-cutting concerns belong in that WSGI middleware.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from werkzeug.http import HTTP_STATUS_CODES

from churn import api
from churn.errors import ApiError, Code, error_body
from churn.service import ChurnService

log = logging.getLogger("churn")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Handler = Callable[[ChurnService, Any, dict[str, Any]], Any]


def predict(service: ChurnService, payload: Any, environ: dict[str, Any]) -> Any:
    return service.predict_one(payload)


def predict_batch(service: ChurnService, payload: Any, environ: dict[str, Any]) -> Any:
    result = service.predict_batch(payload)
    environ[api.ROWS_KEY] = result["summary"]["rows"]
    return result


# The rows a route records before it reads the body, as the Flask views do (None: set on success).
ROUTES: dict[str, tuple[Handler, int | None]] = {"/predict": (predict, 1), "/v1/predict": (predict_batch, None)}


def status_line(code: int) -> str:
    """The status line werkzeug sends for a code (it upper-cases the reason phrase)."""
    return f"{code} {HTTP_STATUS_CODES[code].upper()}"


class FastScoring:
    """Serve well-formed scoring requests directly; hand everything else to the wrapped Flask app."""

    def __init__(self, flask_app: WSGIApp, service: ChurnService, max_body_bytes: int):
        self.flask_app = flask_app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.statuses = {code: status_line(code) for code in HTTP_STATUS_CODES}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = ROUTES.get(environ.get("PATH_INFO", ""))
        if (
            route is None
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("CONTENT_TYPE") != api.JSON
            or "HTTP_TRANSFER_ENCODING" in environ
        ):
            return self.flask_app(environ, start_response)
        length = content_length(environ)
        if length is None or length > self.max_body_bytes:
            return self.flask_app(environ, start_response)
        body = environ["wsgi.input"].read(length) if length else b""
        if len(body) != length:  # the client went away mid-body: let werkzeug answer it as it always has
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask_app(environ, start_response)
        handler, rows = route
        if rows is not None:
            environ[api.ROWS_KEY] = rows
        status, payload = self.answer(handler, body, environ)
        data = orjson.dumps(payload)
        start_response(self.statuses[status], [("Content-Type", api.JSON), ("Content-Length", str(len(data)))])
        return [data]

    def answer(self, handler: Handler, body: bytes, environ: dict[str, Any]) -> tuple[int, Any]:
        """Status and JSON document, exactly as the Flask view and its error handlers would give them."""
        try:
            return 200, handler(self.service, api.parse_json(body), environ)
        except ApiError as e:
            return e.status, e.body()
        except Exception:
            log.exception("unhandled error")
            return 500, error_body(Code.INTERNAL_ERROR, "internal server error")


def content_length(environ: dict[str, Any]) -> int | None:
    """The declared body length, or None when absent or malformed (werkzeug then decides)."""
    text = environ.get("CONTENT_LENGTH")
    if not text or not text.isdigit() or not text.isascii():
        return None
    return int(text)
