"""What the WSGI layers share: the environ keys they pass on to each other and the status line they send."""

from __future__ import annotations

from werkzeug.http import HTTP_STATUS_CODES

JSON = "application/json"
# WSGI environ keys set by one layer for the next
ROUTE_KEY = "churn.route"  # the route template the request reaches (churn.server.middleware resolves it once)
BODY_KEY = "churn.server.body"  # the request's whole body, as churn.server.body read it
ROWS_KEY = "churn.rows"  # customers in this request, for the request log and metrics
CLOSE_KEY = "churn.close"  # True when the connection must close after this answer (a body left unread)


def status_line(code: int) -> str:
    """The status line werkzeug sends for a code (it upper-cases the reason phrase)."""
    return f"{code} {HTTP_STATUS_CODES[code].upper()}"
