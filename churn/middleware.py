"""The outermost WSGI layer: request id, API-key auth, one JSON log line and the HTTP metrics per request.

It wraps everything else (create_app installs it last), so it also sees requests that never reach a
route: 401s, 404s, 405s, 413s and whatever an inner fast path answers. It runs on every request, so
everything that can be is computed once: the route labels, the 401 answer, the key bytes.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from churn.api import ROWS_KEY
from churn.errors import Code, error_body
from churn.metrics import Metrics

log = logging.getLogger("churn.access")
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# The routes that need a key when keys are configured: scoring, batch jobs (every /v1/jobs route, present
# and future) and the metrics. Health checks stay open for the load balancer; the docs stay open because
# they hold nothing secret and tell a caller how to authenticate.
PROTECTED_PATHS = frozenset({"/predict", "/v1/predict", "/metrics"})
PROTECTED_PREFIXES = ("/v1/jobs",)
REQUEST_ID_HEADER = "X-Request-ID"
CALLER_KEY = "churn.caller"  # WSGI environ key: which key authorized the request ("key-2"), never the key
ANONYMOUS = "anonymous"
MAX_REQUEST_ID = 128
UNMATCHED = "unmatched"  # the one route label of every path no route matches: labels stay bounded
UNAUTHORIZED_BODY = orjson.dumps(
    error_body(Code.UNAUTHORIZED, "this route needs an API key: send the header Authorization: Bearer <key>")
)


def is_protected(path: str) -> bool:
    return path in PROTECTED_PATHS or path.startswith(PROTECTED_PREFIXES)


def valid_request_id(value: str) -> bool:
    """A caller's id is kept when it cannot break a header or a log line and is not absurdly long."""
    return len(value) <= MAX_REQUEST_ID and value.isascii() and value.isprintable()


class RouteLabels:
    """Map a request path to its route template (never the raw path), found from the app's url_map."""

    def __init__(self, url_map: Map):
        self.url_map = url_map
        self.static: dict[str, str] | None = None

    def label(self, path: str, method: str) -> str:
        if self.static is None:  # built at the first request, when every blueprint is registered
            self.static = {r.rule: r.rule for r in self.url_map.iter_rules() if not r.arguments}
        found = self.static.get(path)
        return found if found is not None else self.match(path, method)

    def match(self, path: str, method: str) -> str:
        try:
            rule, _ = self.url_map.bind("localhost").match(path, method, return_rule=True)
        except HTTPException:  # not found, wrong method or a redirect
            return UNMATCHED
        return str(rule.rule)


class RequestMiddleware:
    """Wrap a WSGI app with the request id, auth, the request log line and the request metrics."""

    def __init__(self, app: WSGIApp, *, url_map: Map, api_keys: tuple[str, ...], metrics: Metrics):
        self.app = app
        self.routes = RouteLabels(url_map)
        self.keys = tuple(key.encode() for key in api_keys)
        self.metrics = metrics
        self.model_version = metrics.model_version

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = environ.get("HTTP_X_REQUEST_ID")
        if not request_id or not valid_request_id(request_id):
            request_id = os.urandom(12).hex()
        path = environ.get("PATH_INFO") or "/"
        route = self.routes.label(path, environ.get("REQUEST_METHOD", "GET"))
        status = ["500"]

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = status_line[:3]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status_line, headers, exc_info)

        try:
            caller = self.caller(environ) if self.keys and is_protected(path) else ANONYMOUS
            if caller is None:
                return self.unauthorized(environ, start)
            environ[CALLER_KEY] = caller
            # Flask has the whole body in memory when it returns, so this is the time to answer;
            # a streamed body's sending time is not included (no route streams).
            return self.app(environ, start)
        finally:
            self.finish(environ, route, status[0], started, request_id)

    def caller(self, environ: dict[str, Any]) -> str | None:
        """The key that authorizes the request, by position ("key-1"), or None."""
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        given = token.strip().encode("latin-1")  # WSGI headers are latin-1 strings: back to the bytes sent
        matched = None
        for position, key in enumerate(self.keys, 1):  # no early exit: the time taken does not say which key matched
            if hmac.compare_digest(given, key):
                matched = f"key-{position}"
        return matched

    def unauthorized(self, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        challenge = 'Bearer realm="churn-serving"'
        if environ.get("HTTP_AUTHORIZATION"):
            challenge += ', error="invalid_token"'
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(UNAUTHORIZED_BODY))),
            ("WWW-Authenticate", challenge),
        ]
        if environ.get("CONTENT_LENGTH", "0") not in ("", "0"):
            headers.append(("Connection", "close"))  # the body stays unread: do not make gunicorn drain it
        start("401 UNAUTHORIZED", headers)
        return [UNAUTHORIZED_BODY]

    def finish(self, environ: dict[str, Any], route: str, status: str, started: float, request_id: str) -> None:
        seconds = time.perf_counter() - started
        self.metrics.record_request(route, status, seconds)
        fields = {
            "request_id": request_id,
            "method": environ.get("REQUEST_METHOD"),
            "route": route,
            "status": int(status),
            "rows": environ.get(ROWS_KEY, 0),
            "latency_ms": round(seconds * 1000, 3),
            "model_version": self.model_version,
        }
        if log.isEnabledFor(logging.INFO):
            # A record built directly: logger.info() would also walk the stack to find its caller.
            record = logging.LogRecord(log.name, logging.INFO, __file__, 0, "request", None, None)
            record.fields = fields
            log.handle(record)
