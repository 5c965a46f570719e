"""The one request-body reader: a body is read whole, exactly as it was framed, or refused.

Every route gets its body from here (the request middleware calls it once, before the fast path and
Flask), so no path can see a prefix of a body as if it were the whole: a Content-Length body must
arrive to its last byte, and a framing the HTTP server cannot decode is the client's fault. The
bytes read replace `wsgi.input`, with an exact CONTENT_LENGTH, so Flask and the fast path read the
same, complete body.

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


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, Code.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes", {"max_body_bytes": limit}
    )


def read_body(environ: dict[str, Any], limit: int, frame: Framing | None = None) -> bytes:
    """Read the request's whole body (at most `limit` bytes) and hand it on; raise ApiError to refuse it.

    413 when the declared length or the chunks pass the limit; 411 `length_required` for chunks within
    it; 400 `incomplete_body` when the client sends less than it declared; 400 `invalid_body` when the
    server cannot decode the framing. frame: framing(environ), where the caller has it already.
    """
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
