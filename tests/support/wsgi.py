"""WSGI environs built by hand, so that a test controls exactly what a server would pass on."""

from __future__ import annotations

import io
from typing import Any


def environ(method: str, path: str, body: bytes = b"", **headers: str) -> dict[str, Any]:
    """A request as a server hands it to the app: PATH_INFO already percent-decoded, a JSON body."""
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        **headers,
    }
