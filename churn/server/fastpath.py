"""A lean WSGI path for the two scoring routes' common case, inside the Flask app.

Profiling POST /predict in a server worker showed Flask's per-request machinery (request and
response objects, routing, context push/pop, header handling) costing many times the scoring itself.
For a POST that the request middleware resolved to /predict or /v1/predict, declared `application/json`
(with parameters too: many clients add `; charset=utf-8`), this wrapper takes the body the middleware read
(churn.server.body), calls the same api.check_charset, api.parse_json and ChurnService methods the Flask
views call and answers the same bytes (status, headers, body) with none of that machinery. The media type
is read as Flask reads it (api.media_type). Every other request goes to Flask unchanged.

It wraps Flask's own wsgi_app in create_app, so the middleware wrapped around app.wsgi_app afterwards
(route, auth, body, request log, metrics) sees every request, fast or not. It bypasses Flask's
before_request/after_request hooks: cross-cutting concerns belong in that WSGI middleware, and
create_app refuses to build an app that has such hooks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from werkzeug.http import HTTP_STATUS_CODES

from churn.core.service import ChurnService
from churn.errors import ApiError, Code, error_body
from churn.server import api
from churn.server.wsgi import BODY_KEY, JSON, ROUTE_KEY, ROWS_KEY, status_line

log = logging.getLogger("churn")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Handler = Callable[[ChurnService, Any, dict[str, Any]], Any]


def predict(service: ChurnService, payload: Any, environ: dict[str, Any]) -> Any:
    return service.predict_one(payload)


def predict_batch(service: ChurnService, payload: Any, environ: dict[str, Any]) -> Any:
    result = service.predict_batch(payload)
    environ[ROWS_KEY] = result["summary"]["rows"]
    return result


# The rows a route records before it reads the body, as the Flask views do (None: set on success).
ROUTES: dict[str, tuple[Handler, int | None]] = {"/predict": (predict, 1), "/v1/predict": (predict_batch, None)}


def declares_json(content_type: str) -> bool:
    """Whether Flask's views would read the body as JSON (the bare type, nearly every request, unparsed)."""
    return content_type == JSON or api.media_type(content_type) == JSON


class FastScoring:
    """Serve well-formed scoring requests directly; hand everything else to the wrapped Flask app."""

    def __init__(self, flask_app: WSGIApp, service: ChurnService):
        self.flask_app = flask_app
        self.service = service
        self.statuses = {code: status_line(code) for code in HTTP_STATUS_CODES}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = ROUTES.get(environ.get(ROUTE_KEY, ""))
        content_type = environ.get("CONTENT_TYPE", "")
        if route is None or environ.get("REQUEST_METHOD") != "POST" or not declares_json(content_type):
            return self.flask_app(environ, start_response)
        handler, rows = route
        if rows is not None:
            environ[ROWS_KEY] = rows
        status, payload = self.answer(handler, content_type, environ.get(BODY_KEY, b""), environ)
        data = orjson.dumps(payload)
        start_response(self.statuses[status], [("Content-Type", JSON), ("Content-Length", str(len(data)))])
        return [data]

    def answer(self, handler: Handler, content_type: str, body: bytes, environ: dict[str, Any]) -> tuple[int, Any]:
        """Status and JSON document, exactly as the Flask view and its error handlers would give them."""
        try:
            api.check_charset(content_type)  # as api.json_body does after the media type
            return 200, handler(self.service, api.parse_json(body), environ)
        except ApiError as e:
            return e.status, e.body()
        except Exception:
            log.exception("unhandled error")
            return 500, error_body(Code.INTERNAL_ERROR, "internal server error")
