"""The route a request reaches is resolved once, and auth is decided on it: no spelling of a path skips the key.

In-process, with WSGI environs built by hand so that PATH_INFO is exactly what a server would pass on
(servers percent-decode the request target; some pass on the target as sent too, as RAW_URI or
REQUEST_URI; tests/system/test_hostile_http.py sends raw bytes to real ones).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.server.app import create_app
from churn.server.middleware import OPEN_ROUTES, UNMATCHED, canonical, sent_path, spelled_once, template
from tests.conftest import make_customer
from tests.support.wsgi import environ as wsgi_environ

KEY = "k" * 24
CUSTOMER = orjson.dumps(make_customer())


@pytest.fixture(scope="module")
def secured(model: LoadedModel) -> Any:
    return create_app(Settings(api_keys=(KEY,)), model)


def call(
    app: Any, method: str, path: str, body: bytes = b"", key: str | None = None, **server: str
) -> tuple[int, dict[str, Any]]:
    """One request through the whole WSGI stack: the status and the environ the layers filled in."""
    environ = wsgi_environ(method, path, body, **server)
    if key is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    statuses: list[str] = []
    b"".join(app.wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    return int(statuses[0][:3]), environ


def concrete(rule: str, model_version: str = "v1") -> str:
    return (
        rule.replace("<job_id>", "abc-123").replace("<asset>", "swagger-ui.css")
        .replace("<model_name>", "churn").replace("<model_version>", model_version)
    )  # fmt: skip


def protected_rules(app: Any) -> list[tuple[str, str]]:
    """Every route (template, method) that needs a key: all of them but the open ones."""
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if template(rule.rule) not in OPEN_ROUTES:
                out.append((template(rule.rule), method))
    return out


def spellings(path: str) -> Iterator[str]:
    """Other spellings of a path, as PATH_INFO shows them once a server has percent-decoded the target."""
    return (spelling for spelling in all_spellings(path) if spelling != path)  # "/".upper() is "/" itself


def all_spellings(path: str) -> Iterator[str]:
    segments = path.strip("/").split("/")
    yield "/" + path  # a second leading slash (also what /%2fpredict decodes to)
    yield "//" + path
    yield path + "/"
    yield path + "/."
    yield "/." + path
    yield "/x/.." + path
    yield path.upper()
    yield path.title()
    yield path + ";x=1"
    yield path + ";"
    yield path + "\\"
    yield "\\" + path[1:]
    yield path + "\x00"
    yield path + " "
    yield " " + path
    yield ""
    for i in range(1, len(segments)):
        yield "/" + "/".join(segments[:i]) + "//" + "/".join(segments[i:])
        yield "/" + "/".join(segments[:i]) + "/./" + "/".join(segments[i:])
        yield "/" + "/".join(segments[:i]) + f"/../{segments[i - 1]}/" + "/".join(segments[i:])


def test_without_a_key_every_spelling_of_every_protected_route_is_refused(secured: Any) -> None:
    rules = protected_rules(secured)
    assert {rule for rule, _ in rules} >= {"/predict", "/v1/predict", "/metrics", "/v1/jobs", "/v1/jobs/<job_id>",
                                           "/invocations", "/execution-parameters", "/v2", "/v2/models/<model_name>",
                                           "/v2/models/<model_name>/infer"}  # fmt: skip
    for rule, method in rules:
        path = concrete(rule)
        for spelling in itertools.chain([path], spellings(path)):
            status, environ = call(secured, method, spelling, CUSTOMER)
            assert status == 401, (method, spelling, status)
            assert environ.get("churn.rows", 0) == 0  # no scoring view ran


def test_with_a_key_only_the_canonical_spelling_is_served(secured: Any) -> None:
    for rule, method in protected_rules(secured):
        path = concrete(rule)
        for spelling in spellings(path):
            status, environ = call(secured, method, spelling, CUSTOMER, key=KEY)
            assert status == 404, (method, spelling, status)
            assert environ["churn.route"] == UNMATCHED
    assert call(secured, "POST", "/predict", CUSTOMER, key=KEY)[0] == 200


def test_open_routes_are_open_only_under_their_own_spelling(secured: Any) -> None:
    for rule in OPEN_ROUTES:
        path = concrete(rule, secured.extensions["churn"].model.version)
        assert call(secured, "GET", path)[0] == 200, path
        for spelling in spellings(path):
            assert call(secured, "GET", spelling)[0] == 401, spelling


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_an_open_route_answers_alike_with_or_without_a_key_whatever_the_method(secured: Any, method: str) -> None:
    """A method the route does not take is its 405 (or OPTIONS's 204) either way, not a 401: the route is
    the same, parameters or none."""
    model_version = secured.extensions["churn"].model.version
    for rule in OPEN_ROUTES:
        path = concrete(rule, model_version)
        anonymous, environ = call(secured, method, path)
        assert (anonymous, environ["churn.route"]) == (call(secured, method, path, key=KEY)[0], rule), (method, path)
        assert anonymous != 401, (method, path)


def test_every_open_route_exists(secured: Any) -> None:
    assert {template(rule.rule) for rule in secured.url_map.iter_rules()} >= OPEN_ROUTES


SEGMENT = st.sampled_from(["predict", "v1", "jobs", "metrics", "ping", "result", "abc", ".", "..", "", "PREDICT"])
PATHS = st.builds(
    lambda parts, lead, tail: lead + "/".join(parts) + tail,
    st.lists(SEGMENT, max_size=4),
    st.sampled_from(["/", "//", "", "///", "\\"]),
    st.sampled_from(["", "/", ";a", "/.", "%2f", "\x00"]),
) | st.text(st.characters(max_codepoint=255), max_size=30)  # PATH_INFO is latin-1 (PEP 3333)


@settings(max_examples=400, deadline=None)
@given(path=PATHS, method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]))
def test_the_route_the_middleware_resolves_is_the_route_flask_serves(secured: Any, path: str, method: str) -> None:
    status, environ = call(secured, method, path, CUSTOMER, key=KEY)
    route = environ["churn.route"]
    if route == UNMATCHED:
        assert status in (404, 405), (path, status)
    else:
        path = path.encode("latin-1").decode(errors="replace")  # what Flask routes on
        assert canonical(path)
        adapter = secured.url_map.bind("localhost")
        method_of_the_route = method if status != 405 else sorted(adapter.allowed_methods(path))[0]
        assert template(adapter.match(path, method_of_the_route, return_rule=True)[0].rule) == route
    anonymous, _ = call(secured, method, path, CUSTOMER)
    assert anonymous == 401 or (route in OPEN_ROUTES and anonymous == status)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", True),
        ("/predict", True),
        ("/v1/jobs/abc-1/result", True),
        ("//predict", False),
        ("/predict/", False),
        ("/./predict", False),
        ("/v1/../predict", False),
        ("", False),
        ("predict", False),
        ("/v1//predict", False),
    ],
)
def test_canonical_paths(path: str, expected: bool) -> None:
    assert canonical(path) is expected


@pytest.mark.parametrize("method", ["post", "Post", "P0ST", "", "POST ", "GET\x00"])
def test_a_method_that_is_not_an_http_method_is_refused(secured: Any, method: str) -> None:
    status, environ = call(secured, method, "/predict", CUSTOMER, key=KEY)
    assert status == 400 and environ.get("churn.rows", 0) == 0


# How a server hands the app a request target as the client sent it ("/v1%2fpredict?x=1"):
def as_gunicorn(target: str) -> tuple[str, dict[str, str]]:
    """PATH_INFO decoded, the target as sent in RAW_URI."""
    return unquote(target.partition("?")[0], encoding="latin-1"), {"RAW_URI": target}


def as_werkzeug(target: str) -> tuple[str, dict[str, str]]:
    """PATH_INFO decoded, the target as sent in REQUEST_URI (werkzeug's server and test client, uWSGI)."""
    return unquote(target.partition("?")[0], encoding="latin-1"), {"REQUEST_URI": target}


def as_granian_behind_nginx(target: str) -> tuple[str, dict[str, str]]:
    """granian passes only PATH_INFO; nginx escaped the escapes of a target with an encoded slash
    (churn-paths.conf), so the one decoding gives back the target as sent."""
    return target.partition("?")[0], {}


SERVERS = [as_gunicorn, as_werkzeug, as_granian_behind_nginx]


def encoded_slashes(path: str) -> Iterator[str]:
    """A path with an encoded slash at each place: for a slash, after a slash, at the end; both cases."""
    for escape in ("%2f", "%2F"):
        for i, c in enumerate(path):
            if c == "/":
                if i:  # the first slash cannot be sent encoded: a target starts with "/"
                    yield path[:i] + escape + path[i + 1 :]
                yield path[: i + 1] + escape + path[i + 1 :]
        yield path + escape


def every_route(app: Any) -> list[tuple[str, str]]:
    """Every route (template, method), open and protected."""
    return [(template(r.rule), m) for r in app.url_map.iter_rules() for m in sorted(r.methods - {"HEAD", "OPTIONS"})]


@pytest.mark.parametrize("server", SERVERS)
def test_an_encoded_slash_matches_no_route_with_or_without_a_key(secured: Any, server: Any) -> None:
    version = secured.extensions["churn"].model.version
    for rule, method in every_route(secured):
        for target in encoded_slashes(concrete(rule, version)):
            path, raw = server(target)
            status, environ = call(secured, method, path, CUSTOMER, **raw)
            assert status == 401, (server.__name__, method, target, status)
            status, environ = call(secured, method, path, CUSTOMER, key=KEY, **raw)
            assert (status, environ["churn.route"]) == (404, UNMATCHED), (server.__name__, method, target, status)
            assert environ.get("churn.rows", 0) == 0


@pytest.mark.parametrize("server", SERVERS)
def test_without_keys_configured_an_encoded_slash_is_a_404(app: Any, server: Any) -> None:
    for rule, method in every_route(app):
        for target in encoded_slashes(concrete(rule, app.extensions["churn"].model.version)):
            path, raw = server(target)
            assert call(app, method, path, CUSTOMER, **raw)[0] == 404, (server.__name__, method, target)


@pytest.mark.parametrize("server", [as_gunicorn, as_werkzeug])
@pytest.mark.parametrize(
    ("target", "route", "status"),
    [
        ("/v1/predict", "/v1/predict", 200),
        ("/v1/%70redict", "/v1/predict", 200),
        ("/v1/predict?next=%2fv1%2fjobs", "/v1/predict", 200),
        ("/v1%2Fpredict", UNMATCHED, 404),
    ],
)
def test_the_log_line_shows_the_path_as_sent(
    app: Any, server: Any, target: str, route: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    path, raw = server(target)
    answered, _ = call(app, "POST", path, b'{"customers": []}', **raw)
    [line] = [r.fields for r in caplog.records if r.name == "churn.access"]  # type: ignore[attr-defined]
    assert (line["path"], line["route"], line["status"], answered) == (target.partition("?")[0], route, status, status)


def test_a_query_may_hold_encoded_slashes(app: Any) -> None:
    path, raw = as_gunicorn("/v1/predict?next=%2Fv1%2fpredict")
    assert call(app, "POST", path, b'{"customers": []}', **raw)[0] == 200


def test_a_double_encoded_slash_is_decoded_once_and_matches_no_route(secured: Any) -> None:
    for server in SERVERS:
        path, raw = server("/v1%252fpredict")
        assert call(secured, "POST", path, CUSTOMER, key=KEY, **raw)[0] == 404, server.__name__


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ({"RAW_URI": "/v1/predict"}, "/v1/predict"),
        ({"REQUEST_URI": "/v1/%70redict?a=%2f"}, "/v1/%70redict"),
        ({"RAW_URI": "http://example.com/v1%2Fpredict?a"}, "/v1%2Fpredict"),  # absolute form
        ({"RAW_URI": "http://example.com/v1/predict?a"}, "/v1/predict"),
        ({"RAW_URI": "/predict"}, None),  # another request's target (a stray RAW_URI in os.environ): ignored
        ({"RAW_URI": "*"}, None),
        ({"RAW_URI": "http://[::1/x"}, None),
        ({}, None),
    ],
)
def test_the_sent_path_is_only_ever_the_requests_own(server: dict[str, str], expected: str | None) -> None:
    assert sent_path({"PATH_INFO": "/v1/predict", **server}) == expected


ESCAPED = st.sampled_from(["/", "%2f", "%2F", "%2e", "%70", "%252f", "v1", "predict", "jobs", "", "."])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(ESCAPED, min_size=1, max_size=6), server=st.sampled_from([as_gunicorn, as_werkzeug]))
def test_a_target_reaches_a_route_only_when_its_decoded_path_is_canonical_and_no_slash_was_sent_encoded(
    secured: Any, parts: list[str], server: Any
) -> None:
    target = "/" + "".join(parts)
    path, raw = server(target)
    one_spelling = canonical(path) and "%2f" not in target.lower()
    assert spelled_once(path, target) is one_spelling
    status, environ = call(secured, "POST", path, CUSTOMER, key=KEY, **raw)
    if not one_spelling:
        assert (status, environ["churn.route"]) == (404, UNMATCHED), target
    assert call(secured, "POST", path, CUSTOMER, **raw)[0] == 401 or environ["churn.route"] in OPEN_ROUTES


def test_the_test_client_sends_the_target_as_given(secured: Any) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    assert secured.test_client().post("/v1%2fpredict", json={"customers": []}, headers=headers).status_code == 404
    assert secured.test_client().post("/v1/%70redict", json={"customers": []}, headers=headers).status_code == 200
