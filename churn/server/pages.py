"""Pages for people: a landing page and the model card.

GET /        what this service is, its model and readiness, and links to the card, the docs and the health checks
GET /model   the model card train.py wrote beside the model (churn-model.html), read once at start-up

Both are open without a key (middleware.OPEN_ROUTES), like /v1/model and /docs: the card publishes
aggregate evaluation figures and the vocabulary and ranges /v1/model already publishes, no customer row
(its self-test customer is synthetic), and a browser following a link cannot send a bearer key.
"""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app

from churn.core.model import LoadedModel, load_card
from churn.core.service import ChurnService
from churn.errors import ApiError, Code, ModelLoadError

log = logging.getLogger("churn")
bp = Blueprint("pages", __name__)
CARD = "churn.server.pages.card"
KEYS = "churn.server.pages.keys"
# Neither page runs a script or fetches anything: inline styles and the card's inline SVG only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;color:#111827;max-width:760px;margin:40px auto;padding:0 24px}"
    "h1{margin-bottom:4px}p{color:#4b5563}li{margin:6px 0}code{background:#f3f4f6;padding:0 4px;border-radius:4px}"
    ".ready{color:#15803d;font-weight:600}.not-ready{color:#b91c1c;font-weight:600}"
)
LINKS = (
    ("/model", "Model card", "what the model is, how good it is on held-out customers, what drives its scores"),
    ("/docs", "API documentation", "every route, its request and its answer, to try in the browser"),
    ("/readyz", "Readiness", "200 when the model is loaded and its self-test passes (JSON)"),
    ("/healthz", "Liveness", "200 while the process runs (JSON)"),
    ("/v1/model", "Model metadata", "version, metrics, vocabulary and ranges (JSON)"),
    ("/openapi.json", "OpenAPI document", "the API as OpenAPI 3 (JSON)"),
)


def init_app(app: Flask, model: LoadedModel, model_path: Path, keys_required: bool) -> None:
    """Read the card beside the model once; a missing card, or one of another model, makes /model a 404."""
    try:
        card: bytes | None = load_card(model_path, model.metadata["model_sha256"])
    except ModelLoadError as e:
        log.warning("no model card: GET /model answers 404 (%s)", e)
        card = None
    app.extensions[CARD] = card
    app.extensions[KEYS] = keys_required
    app.register_blueprint(bp)


def html_response(body: bytes | str) -> Response:
    return Response(body, mimetype="text/html", headers={"Content-Security-Policy": CSP})


@bp.get("/")
def landing() -> Response:
    service: ChurnService = current_app.extensions["churn"]
    model = service.model
    ready = model.self_test()["passed"]  # the same check as GET /readyz
    status = (
        '<span class="ready">ready</span>: the model loaded and its self-test passed'
        if ready
        else '<span class="not-ready">not ready</span>: the model failed its self-test'
    )
    keys = (
        "Scoring, jobs and metrics need an API key: <code>Authorization: Bearer &lt;key&gt;</code>."
        if current_app.extensions[KEYS]
        else "No API key is configured: every route is open."
    )
    links = "".join(
        f'<li><a href="{href}">{escape(title)}</a> <code>{href}</code>: {escape(what)}</li>'
        for href, title, what in LINKS
    )
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>churn-serving</title><style>{STYLE}</style></head><body>"
        "<h1>churn-serving</h1><p>Customer churn scores from the model of <i>Machine Learning Bookcamp</i>, "
        "chapter 5, served over HTTP: <code>POST /predict</code> for one customer, <code>POST /v1/predict</code> "
        f"for a batch.</p><p>Model <code>{escape(model.version)}</code>, {status}.</p><p>{keys}</p>"
        f"<ul>{links}</ul></body></html>\n"
    )
    return html_response(page)


@bp.get("/model")
def model_card() -> Response:
    card: bytes | None = current_app.extensions[CARD]
    if card is None:
        raise ApiError(
            404,
            Code.NOT_FOUND,
            "this deployment has no model card for its model: train.py writes churn-model.html beside "
            "churn-model.bin, and the two are deployed together",
        )
    return html_response(card)
