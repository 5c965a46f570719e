"""The one request-body reader: a body is read whole, exactly as it was framed, or refused.

Every route gets its body from here (the request middleware calls it once, before the fast path and
Flask), so no path can see a prefix of a body as if it were the whole: a Content-Length body must
arrive to its last byte, and a framing the HTTP server cannot decode is the client's fault. The
bytes read replace `wsgi.input`, with an exact CONTENT_LENGTH, so Flask and the fast path read the
same, complete body.

A body in a content coding (Content-Encoding other than identity) is refused (415) unread: the service
decodes none, and read as it is, a gzip body is a baffling invalid_json and a body merely labelled
"br" would be scored as if the label were not there.

A chunked body is refused (411, or 413 once it passes the limit): the shipped server (granian)
hands the app a silent prefix of a chunked body whose framing is broken, so its end cannot be
trusted. A proxy in front (nginx: Elastic Beanstalk's, the local stack's) reads chunked bodies
whole and passes them on with a Content-Length.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

from churn.errors import ApiError, Code
from churn.server.wsgi import BODY_KEY

log = logging.getLogger("churn")
READ_SIZE = 1 << 16  # a server may return fewer bytes than asked for: reads go on until the end


@dataclass(frozen=True)
class Framing:
    """How a request says its body ends: a declared length, or chunks up to a final empty one."""

    length: int | None  # the declared Content-Length, None when chunked or absent
    chunked: bool

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.length)


def framing(environ: dict[str, Any]) -> Framing:
    """The body's framing; a Content-Length that is not a plain decimal is refused (400)."""
    if "HTTP_TRANSFER_ENCODING" in environ:  # Transfer-Encoding wins over Content-Length (RFC 9112 6.3)
        return Framing(None, chunked=True)
    text = environ.get("CONTENT_LENGTH") or ""
    if not text:
        return Framing(None, chunked=False)
    if not (text.isascii() and text.isdigit()):
        raise ApiError(400, Code.INVALID_BODY, "the Content-Length header is not a number of bytes")
    return Framing(int(text), chunked=False)


IDENTITY = "identity"  # the one content coding the service reads: none
# RFC 9110 15.5.16: a 415 for a content coding says which codings are accepted
CODING_REFUSAL_HEADERS = (("Accept-Encoding", IDENTITY),)


def check_content_coding(environ: dict[str, Any]) -> None:
    """Refuse (415) a body in a content coding: it would be read as it was sent, not decoded."""
    header = environ.get("HTTP_CONTENT_ENCODING")
    if not header:  # nearly every request: nothing to split on the hot path
        return
    if any(coding.strip().lower() not in ("", IDENTITY) for coding in header.split(",")):
        raise ApiError(
            415,
            Code.UNSUPPORTED_CONTENT_ENCODING,
            "the service does not decode request bodies: send the body without a Content-Encoding",
            {"accepted": [IDENTITY]},
        )


def refusal_headers(error: ApiError) -> tuple[tuple[str, str], ...]:
    """The headers a refusal of a body carries besides its JSON body."""
    return CODING_REFUSAL_HEADERS if error.code == Code.UNSUPPORTED_CONTENT_ENCODING else ()


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, Code.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes", {"max_body_bytes": limit}
    )


def read_body(environ: dict[str, Any], limit: int, frame: Framing | None = None) -> bytes:
    """Read the request's whole body (at most `limit` bytes) and hand it on; raise ApiError to refuse it.

    415 `unsupported_content_encoding` for a body in a content coding; 413 when the declared length or
    the chunks pass the limit; 411 `length_required` for chunks within it; 400 `incomplete_body` when the
    client sends less than it declared; 400 `invalid_body` when the server cannot decode the framing.
    frame: framing(environ), where the caller has it already.
    """
    check_content_coding(environ)  # refused unread, like a body too large
    frame = frame or framing(environ)
    if frame.length is not None and frame.length > limit:
        raise too_large(limit)  # refused unread: the caller closes the connection
    body = read_stream(environ["wsgi.input"], limit if frame.length is None else frame.length, frame.chunked)
    if frame.chunked:
        if len(body) > limit:
            raise too_large(limit)
        raise ApiError(
            411,
            Code.LENGTH_REQUIRED,
            "send the body with a Content-Length header: chunked request bodies are not accepted",
        )
    if frame.length is not None and len(body) < frame.length:
        raise ApiError(
            400,
            Code.INCOMPLETE_BODY,
            f"the body ended after {len(body)} of the {frame.length} bytes its Content-Length declares",
            {"declared": frame.length, "received": len(body)},
        )
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["wsgi.input_terminated"] = True
    environ[BODY_KEY] = body
    return body


def read_stream(stream: Any, most: int, chunked: bool) -> bytes:
    """Up to `most` bytes (one more when chunked, to see whether the limit is passed), until the stream ends."""
    want = most + 1 if chunked else most
    parts: list[bytes] = []
    got = 0
    try:
        while got < want:
            data = stream.read(min(READ_SIZE, want - got))
            if not data:
                break
            parts.append(data)
            got += len(data)
    except ApiError:
        raise
    except Exception as e:  # the server's own error for a framing it cannot decode: the client's fault
        log.warning("request body refused: %s: %s", type(e).__name__, str(e)[:200])
        raise ApiError(400, Code.INVALID_BODY, "the request body's framing is invalid (a malformed chunk?)") from None
    return b"".join(parts)
