"""The one body reader: a body is read whole, exactly as framed, or refused; never a prefix passed on as whole."""

from __future__ import annotations

import gzip
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.errors import ApiError, Code
from churn.server.app import create_app
from churn.server.body import read_body, refusal_headers
from churn.server.middleware import template
from tests.support import strategies
from tests.support.wsgi import environ as wsgi_environ

LIMIT = 1000


class Trickle(io.RawIOBase):
    """A stream that hands out its bytes in the given read sizes, as a server may, then ends (or fails)."""

    def __init__(self, data: bytes, sizes: list[int], fail: BaseException | None = None):
        self.data, self.sizes, self.fail = data, sizes or [len(data) or 1], fail
        self.at = self.reads = 0

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if self.at >= len(self.data) and self.fail is not None:
            raise self.fail
        step = self.sizes[self.reads % len(self.sizes)]
        self.reads += 1
        take = step if size < 0 else min(step, size)
        out = self.data[self.at : self.at + take]
        self.at += len(out)
        return out


def environ(stream: Any, length: str | None = None, chunked: bool = False) -> dict[str, Any]:
    env: dict[str, Any] = {"wsgi.input": stream}
    if length is not None:
        env["CONTENT_LENGTH"] = length
    if chunked:
        env["HTTP_TRANSFER_ENCODING"] = "chunked"
    return env


def refused(env: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        read_body(env, LIMIT)
    return caught.value


SIZES = st.lists(st.integers(1, 300), min_size=1, max_size=5)


@given(body=st.binary(max_size=LIMIT), sizes=SIZES)
def test_a_declared_body_is_read_whole_however_the_server_hands_it_out(body: bytes, sizes: list[int]) -> None:
    env = environ(Trickle(body, sizes), str(len(body)))
    assert read_body(env, LIMIT) == body
    assert env["CONTENT_LENGTH"] == str(len(body)) and env["wsgi.input"].read() == body


@given(body=st.binary(min_size=1, max_size=LIMIT), sizes=SIZES, data=st.data())
def test_a_body_that_ends_before_its_content_length_is_refused(body: bytes, sizes: list[int], data: Any) -> None:
    sent = data.draw(st.integers(0, len(body) - 1))
    error = refused(environ(Trickle(body[:sent], sizes), str(len(body))))
    assert (error.status, error.code) == (400, Code.INCOMPLETE_BODY)
    assert error.details == {"declared": len(body), "received": sent}


@given(body=st.binary(max_size=2 * LIMIT), sizes=SIZES)
def test_a_chunked_body_is_refused_with_413_past_the_limit_else_411(body: bytes, sizes: list[int]) -> None:
    error = refused(environ(Trickle(body, sizes), chunked=True))
    if len(body) <= LIMIT:
        assert (error.status, error.code) == (411, Code.LENGTH_REQUIRED)
    else:
        assert (error.status, error.code) == (413, Code.PAYLOAD_TOO_LARGE)


def test_transfer_encoding_wins_over_a_content_length() -> None:
    body = b"x" * (LIMIT + 5)
    error = refused(environ(Trickle(body, [64]), "10", chunked=True))
    assert error.status == 413


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    stream = Trickle(b"", [1], fail=AssertionError("read"))
    error = refused(environ(stream, str(LIMIT + 1)))
    assert (error.status, error.details) == (413, {"max_body_bytes": LIMIT})
    assert stream.reads == 0


@pytest.mark.parametrize("length", ["+5", "-1", " 5", "5 ", "1e3", "0x10", "\u0665", "5,5", "abc"])
def test_a_content_length_that_is_not_a_plain_number_is_refused(length: str) -> None:
    error = refused(environ(Trickle(b"12345", [5]), length))
    assert (error.status, error.code) == (400, Code.INVALID_BODY)


@pytest.mark.parametrize("fault", [ValueError("bad chunk"), OSError("reset"), RuntimeError("server parser error")])
@pytest.mark.parametrize("chunked", [True, False])
def test_a_framing_the_server_cannot_decode_is_the_clients_fault(fault: Exception, chunked: bool) -> None:
    env = environ(Trickle(b"abc", [2], fail=fault), None if chunked else "10", chunked=chunked)
    error = refused(env)
    assert (error.status, error.code) == (400, Code.INVALID_BODY)


CODINGS = ["gzip", "GZIP", "x-gzip", "deflate", "br", "zstd", "compress", "gzip, identity", "identity, gzip", "bogus"]


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("chunked", [True, False])
def test_a_body_in_a_content_coding_is_refused_unread(coding: str, chunked: bool) -> None:
    stream = Trickle(b"", [1], fail=AssertionError("read"))
    env = {**environ(stream, None if chunked else "5", chunked=chunked), "HTTP_CONTENT_ENCODING": coding}
    error = refused(env)
    assert (error.status, error.code) == (415, Code.UNSUPPORTED_CONTENT_ENCODING)
    assert stream.reads == 0 and refusal_headers(error) == (("Accept-Encoding", "identity"),)


@pytest.mark.parametrize("coding", ["", "identity", "IDENTITY", " identity ", "identity, identity"])
def test_an_identity_coding_is_no_coding(coding: str) -> None:
    env = {**environ(Trickle(b"12345", [5]), "5"), "HTTP_CONTENT_ENCODING": coding}
    assert read_body(env, LIMIT) == b"12345"


def body_routes(app: Any) -> list[str]:
    """Every route that takes a body, as a concrete path."""
    names = {"<job_id>": "abc", "<model_name>": "churn", "<model_version>": "v1"}
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.methods & {"POST", "PUT", "PATCH"}:
            path = template(rule.rule)
            for name, value in names.items():
                path = path.replace(name, value)
            paths.append(path)
    return paths


@pytest.mark.parametrize("coding", CODINGS)
def test_every_route_with_a_body_refuses_a_content_coding_before_reading_it(app: Any, coding: str) -> None:
    paths = body_routes(app)
    assert {"/predict", "/v1/predict", "/v1/jobs", "/invocations", "/v2/models/churn/infer"} <= set(paths)
    client = app.test_client()
    for path in paths:
        headers = {"Content-Encoding": coding, "Content-Type": "application/json"}
        response = client.post(path, data=gzip.compress(b'{"customers": []}'), headers=headers)
        assert response.status_code == 415, (path, response.status_code)
        assert response.headers["Accept-Encoding"] == "identity"
        assert response.headers["Content-Type"] == "application/json"
        assert b"unsupported_content_encoding" in response.data, path  # in whichever shape the route answers


def test_a_key_is_checked_before_the_coding(model: LoadedModel) -> None:
    client = create_app(Settings(api_keys=("k" * 24,)), model).test_client()
    response = client.post("/predict", data=b"{}", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 401


CUSTOMER_LINE = ",".join(["c1", "female", "0", "yes", "no", "1", "no", "no_phone_service", "dsl", "no", "yes", "no",
                          "no", "no", "no", "month-to-month", "yes", "electronic_check", "29.85", "29.85"])  # fmt: skip
BODIES = {  # each route that takes a body, with a body it scores, in each type it reads
    ("/predict", "application/json"): b'{"tenure": 1}',
    ("/v1/predict", "application/json"): b'{"customers": []}',
    ("/invocations", "application/json"): b'{"instances": []}',
    ("/invocations", "text/csv"): CUSTOMER_LINE.encode(),
    ("/invocations", "application/jsonlines"): b'{"tenure": 1}',
    ("/v2/models/churn/infer", "application/json"): b'{"inputs": []}',
}


@pytest.mark.parametrize(("route", "media"), list(BODIES))
@pytest.mark.parametrize(
    "charset", [None, "utf-8", "UTF-8", '"utf-8"', "utf8", '"UTF8"', "latin-1", "utf-16", "us-ascii", "iso-8859-1", ""]
)
def test_a_body_declared_in_another_charset_is_refused_on_every_route(
    model: LoadedModel, route: str, media: str, charset: str | None
) -> None:
    """Every body is read as UTF-8; one declared in another charset, or in none ("charset="), is 415, not
    read as UTF-8 regardless."""
    content_type = media if charset is None else f"{media}; charset={charset}"
    client = create_app(Settings(), model).test_client()
    answer = client.post(route, data=BODIES[(route, media)], headers={"Content-Type": content_type})
    if charset is None or charset.strip('"').lower() in ("utf-8", "utf8"):
        assert answer.status_code != 415, answer.get_data(as_text=True)
    else:
        assert answer.status_code == 415 and b"unsupported_media_type" in answer.get_data()
        sent = charset.strip('"')
        assert f"charset={sent!r}" in answer.get_data(as_text=True)  # what was sent, unquoted


@pytest.fixture(scope="module")
def whole_app(model: LoadedModel) -> Any:
    return create_app(Settings(), model)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route_media=st.sampled_from(list(BODIES)), declared=strategies.json_content_types())
def test_one_charset_rule_on_every_route_for_every_spelling(
    whole_app: Any, route_media: tuple[str, str], declared: tuple[str, bool]
) -> None:
    """UTF-8 under its spellings (any case, quoted or not, spaces around the parts) is read; an empty charset,
    another one or a look-alike is 415 naming what was sent and what is accepted, on every route (the header
    given to the app as a server gives it: werkzeug's test client would not send every spelling)."""
    route, media = route_media
    content_type, utf8 = declared
    content_type = media + content_type.removeprefix(content_type.split(";")[0])  # the route's type, same params
    body = BODIES[route_media]
    seen: list[str] = []
    environ = wsgi_environ("POST", route, body, CONTENT_TYPE=content_type)
    answer = b"".join(whole_app.wsgi_app(environ, lambda status, *_: seen.append(status)))
    if utf8:
        assert not seen[0].startswith("415"), (content_type, answer)
    else:
        assert seen[0].startswith("415") and b"unsupported_media_type" in answer, (content_type, answer)
        assert b"charset=" in answer and b"utf-8" in answer and b"utf8" in answer, answer
