"""The route a request reaches is resolved once, and auth is decided on it: no spelling of a path skips the key.

In-process, with WSGI environs built by hand so that PATH_INFO is exactly what a server would pass on
(servers percent-decode the request target; tests/system/test_hostile_http.py sends raw bytes to real ones).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.server.app import create_app
from churn.server.middleware import OPEN_ROUTES, UNMATCHED, canonical, template
from tests.conftest import make_customer
from tests.support.wsgi import environ as wsgi_environ

KEY = "k" * 24
CUSTOMER = orjson.dumps(make_customer())


@pytest.fixture(scope="module")
def secured(model: LoadedModel) -> Any:
    return create_app(Settings(api_keys=(KEY,)), model)


def call(app: Any, method: str, path: str, body: bytes = b"", key: str | None = None) -> tuple[int, dict[str, Any]]:
    """One request through the whole WSGI stack: the status and the environ the layers filled in."""
    environ = wsgi_environ(method, path, body)
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
