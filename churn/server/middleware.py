"""The outermost WSGI layer: the route, API-key auth, the request body, one JSON log line and the HTTP metrics.

It wraps everything else (create_app installs it last), so it also sees requests that never reach a
route: 401s, 404s, 405s, 413s and whatever an inner fast path answers. Every decision about a request
is taken here, once, on what the request will actually reach: the route is resolved from the app's
own url_map (the one Flask dispatches with, which merges no slashes), and the auth check, the fast
path, the metrics label and the log line all use that one route. Every route needs a key when keys
are configured, except the few listed in OPEN_ROUTES: a path that matches no route is not open either.

A path has one spelling (`spelled_once`): canonical once decoded, and no slash of it sent encoded
("/v1%2fpredict" decodes to "/v1/predict", but is not that path). The encoded slash is seen where the
server passes on the target as sent (gunicorn's RAW_URI, werkzeug's REQUEST_URI); granian passes only
the decoded path, so nginx in front forwards such a target with its escapes escaped once more
(.platform/nginx/conf.d/elasticbeanstalk/churn-paths.conf), and granian alone serves it decoded.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map
from werkzeug.wsgi import get_path_info

from churn.errors import ApiError, Code
from churn.logs import LineLog
from churn.server.body import framing, read_body, refusal_headers
from churn.server.metrics import Metrics
from churn.server.wsgi import BODY_KEY, CLOSE_KEY, ROUTE_KEY, ROWS_KEY, status_line

log = logging.getLogger("churn.access")
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ErrorShape = Callable[[ApiError], Any]  # an error as a protocol's body (churn.server.protocols)

# The route templates a caller may reach without a key when keys are configured: health checks for
# the load balancer, the model's metadata, the docs (nothing secret; they say how to authenticate), and
# the pages for people: the landing page and the model card (aggregate figures and what /v1/model says,
# no customer row; churn/server/pages.py). Everything else (scoring, jobs, metrics, any route added later,
# any path matching no route) needs one.
# The protocols' health checks are open for the same reason as /healthz, since their callers send no key:
# /ping is also SageMaker's health check, and the /v2 health and model-ready routes are what KServe's and
# Kubernetes' probes call. Each answers only whether the process is up or the model passes its self-test.
OPEN_ROUTES = frozenset(
    {"/ping", "/healthz", "/readyz", "/v1/model", "/openapi.json", "/docs", "/docs/init.js", "/docs/<asset>"}
    | {"/", "/model"}
    | {"/v2/health/live", "/v2/health/ready", "/v2/models/<model_name>/ready",
       "/v2/models/<model_name>/versions/<model_version>/ready"}
)  # fmt: skip
REQUEST_ID_HEADER = "X-Request-ID"
CALLER_KEY = "churn.caller"  # WSGI environ key: which key authorized the request ("key-2"), never the key
ANONYMOUS = "anonymous"
MAX_REQUEST_ID = 128
MAX_LOGGED_PATH = 200
UNMATCHED = "unmatched"  # the one route label of every path no route matches: labels stay bounded
UNAUTHORIZED = ApiError(
    401, Code.UNAUTHORIZED, "this route needs an API key: send the header Authorization: Bearer <key>"
)
UNAUTHORIZED_BODY = orjson.dumps(UNAUTHORIZED.body())


NOT_CANONICAL = ApiError(
    404,
    Code.NOT_FOUND,
    "no such route: a path has one spelling "
    "(one leading slash, no empty or dot segments, no trailing slash, no encoded slash)",
)
# Where a server passes on the request target as the client sent it (PEP 3333 has no such key):
# gunicorn's RAW_URI, werkzeug's (and uWSGI's, mod_wsgi's) REQUEST_URI. granian 2 passes neither.
RAW_TARGET_KEYS = ("RAW_URI", "REQUEST_URI")
ENCODED_SLASH = re.compile("%2f", re.IGNORECASE)


BAD_METHOD = ApiError(400, Code.BAD_REQUEST, "the request method is not an HTTP method (methods are upper case)")
METHOD = re.compile(r"[A-Z]{1,20}")


def canonical(path: str) -> bool:
    """Whether a path is spelled the one way routes are: werkzeug would strip extra leading slashes."""
    if path == "/":
        return True
    segments = path.split("/")
    return len(segments) > 1 and segments[0] == "" and all(s not in ("", ".", "..") for s in segments[1:])


def spelled_once(path: str, sent: str | None) -> bool:
    """Whether a request's path is spelled the one way routes are: canonical, and no slash sent encoded."""
    return canonical(path) and (sent is None or ENCODED_SLASH.search(sent) is None)


def sent_path(environ: Mapping[str, Any]) -> str | None:
    """The path as the client sent it, escapes and all; None when the server does not pass it on."""
    for key in RAW_TARGET_KEYS:
        target = environ.get(key)
        if isinstance(target, str) and target:
            path = target_path(target)
            # Only this request's own target: granian copies os.environ into every environ, RAW_URI included.
            decoded = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            return path if path is not None and unquote(path, encoding="latin-1") == decoded else None
    return None


def target_path(target: str) -> str | None:
    """The path of a request target, in origin form ("/a?b") or absolute form ("http://host/a?b")."""
    path = target.partition("?")[0].partition("#")[0]
    if path.startswith("/"):  # not urlsplit: it would read "//a/b" as the host "a"
        return path
    try:
        return urlsplit(path).path
    except ValueError:  # not a URL at all (an invalid IPv6 host): no path to speak of
        return None


def valid_request_id(value: str) -> bool:
    """A caller's id is kept when it cannot break a header or a log line and is not absurdly long."""
    return len(value) <= MAX_REQUEST_ID and value.isascii() and value.isprintable()


class RouteLabels:
    """Resolve a request path to the route template Flask will dispatch it to, from the app's url_map."""

    def __init__(self, url_map: Map):
        self.url_map = url_map
        self.static: dict[str, str] | None = None

    def label(self, path: str, method: str) -> str:
        if self.static is None:  # built at the first request, when every blueprint is registered
            self.static = {r.rule: r.rule for r in self.url_map.iter_rules() if not r.arguments}
        found = self.static.get(path)
        return found if found is not None else self.match(path, method)

    def match(self, path: str, method: str) -> str:
        adapter = self.url_map.bind("localhost")
        try:
            rule, _ = adapter.match(path, method, return_rule=True)
        except MethodNotAllowed as e:
            # The path is a route's, the method is not: that route answers (405), as for a route without
            # parameters, so an open route's 405 needs no key either.
            rule, _ = adapter.match(path, sorted(e.valid_methods or ())[0], return_rule=True)
        except HTTPException:  # not found or a redirect
            return UNMATCHED
        return template(rule.rule)


def error_shape(shapes: Mapping[str, ErrorShape], path: str) -> ErrorShape | None:
    """The error shape of the protocol whose prefix the path is under, or None for the service's own.

    By path rather than by route: a path under /v2 that no route matches (a model name the route refuses,
    a wrong method) is still asked by a client of the protocol, which reads only the protocol's shape.
    """
    for prefix, shape in shapes.items():
        if path == prefix or path.startswith(prefix + "/"):
            return shape
    return None


def template(rule: str) -> str:
    """A rule as labels and docs show it: "/v1/jobs/<job:job_id>" is "/v1/jobs/<job_id>"."""
    return CONVERTER.sub(r"<\1>", rule)


CONVERTER = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>")


class RequestMiddleware:
    """Wrap a WSGI app with the route, auth, the body, the request log line and the request metrics."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        url_map: Map,
        api_keys: tuple[str, ...],
        metrics: Metrics,
        max_body_bytes: int,
        error_shapes: Mapping[str, ErrorShape] | None = None,
    ):
        self.app = app
        # A protocol's paths answer this layer's refusals in the protocol's own error shape, so that its
        # clients can read them (error_shape); every other path in the service's.
        self.error_shapes = dict(error_shapes or {})
        self.routes = RouteLabels(url_map)
        self.keys = tuple(key.encode() for key in api_keys)
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.model_version = metrics.model_version
        self.access_log = LineLog(log, "request")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = environ.get("HTTP_X_REQUEST_ID")
        if not request_id or not valid_request_id(request_id):
            request_id = os.urandom(12).hex()
        path = get_path_info(environ)  # decoded exactly as Flask decodes it before routing
        sent = sent_path(environ)
        one_spelling = spelled_once(path, sent)
        route = environ[ROUTE_KEY] = (
            self.routes.label(path, environ.get("REQUEST_METHOD", "")) if one_spelling else UNMATCHED
        )
        status = ["500"]

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = status_line[:3]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status_line, headers, exc_info)

        try:
            caller = self.caller(environ) if self.keys else ANONYMOUS
            if caller is None and route not in OPEN_ROUTES:
                return self.refuse(environ, start, UNAUTHORIZED, self.challenge(environ))
            environ[CALLER_KEY] = caller or ANONYMOUS
            if not one_spelling:  # Flask would route it (werkzeug strips leading slashes, servers decode %2f)
                return self.refuse(environ, start, NOT_CANONICAL)
            if not METHOD.fullmatch(environ.get("REQUEST_METHOD", "")):  # werkzeug upper-cases "post"
                return self.refuse(environ, start, BAD_METHOD)
            try:
                frame = framing(environ)
                if frame.has_body:
                    read_body(environ, self.max_body_bytes, frame)
            except ApiError as e:
                return self.refuse(environ, start, e, refusal_headers(e))
            # Flask has the whole body in memory when it returns, so this is the time to answer;
            # a streamed body's sending time is not included (no route streams).
            return self.app(environ, start)
        finally:
            logged_path = path if sent is None else sent  # as sent, where the server says what was sent
            self.finish(environ, logged_path, route, status=status[0], started=started, request_id=request_id)

    def caller(self, environ: dict[str, Any]) -> str | None:
        """The key that authorizes the request, by position ("key-1"), or None."""
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        given = token.strip().encode("latin-1")  # WSGI headers are latin-1 strings: back to the bytes sent
        matched = None
        # no early exit: the time taken does not say which key matched
        for position, key in enumerate(self.keys, 1):
            if hmac.compare_digest(given, key):
                matched = f"key-{position}"
        return matched

    @staticmethod
    def challenge(environ: dict[str, Any]) -> list[tuple[str, str]]:
        value = 'Bearer realm="churn-serving"'
        if environ.get("HTTP_AUTHORIZATION"):
            value += ', error="invalid_token"'
        return [("WWW-Authenticate", value)]

    def refuse(
        self, environ: dict[str, Any], start: StartResponse, error: ApiError, extra: Sequence[tuple[str, str]] = ()
    ) -> list[bytes]:
        """Answer an error before the app runs; a body left unread (or half read) closes the connection."""
        data = self.error_data(get_path_info(environ), error)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *extra]
        if BODY_KEY not in environ and framing_has_body(environ):
            # The rest of the body would have to be read (or drained) to reuse the connection: close it.
            environ[CLOSE_KEY] = True
            headers.append(("Connection", "close"))
        start(status_line(error.status), headers)
        return [data]

    def error_data(self, path: str, error: ApiError) -> bytes:
        shape = error_shape(self.error_shapes, path)
        if shape is not None:
            return orjson.dumps(shape(error))
        return UNAUTHORIZED_BODY if error is UNAUTHORIZED else orjson.dumps(error.body())

    def finish(
        self, environ: dict[str, Any], path: str, route: str, *, status: str, started: float, request_id: str
    ) -> None:
        seconds = time.perf_counter() - started
        self.metrics.record_request(route, status, seconds)
        fields = {
            "request_id": request_id,
            "method": environ.get("REQUEST_METHOD"),
            "route": route,
            "path": path[:MAX_LOGGED_PATH],
            "status": int(status),
            "rows": environ.get(ROWS_KEY, 0),
            "latency_ms": round(seconds * 1000, 3),
            "model_version": self.model_version,
        }
        self.access_log.write(fields)


def framing_has_body(environ: dict[str, Any]) -> bool:
    """Whether the request declares a body (any Content-Length but 0, or chunks), even a malformed one."""
    return "HTTP_TRANSFER_ENCODING" in environ or environ.get("CONTENT_LENGTH", "0") not in ("", "0")
