"""Operator routes: Prometheus metrics, the OpenAPI document and its interactive docs.

GET /metrics        Prometheus exposition of every server worker (needs a key when keys are set)
GET /openapi.json   the OpenAPI 3 document (churn.server.openapi)
GET /docs           Swagger UI, its files served from the swagger-ui-bundle package: no CDN needed
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST
from swagger_ui_bundle import swagger_ui_path

from churn.core.model import LoadedModel
from churn.server.metrics import Metrics

bp = Blueprint("ops", __name__)
METRICS = "churn.server.metrics"
OPENAPI = "churn.server.openapi"
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
DOCS_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>churn-serving API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
# A file rather than an inline script, so a Content-Security-Policy without 'unsafe-inline' allows it.
DOCS_INIT = b"""window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});\n"""
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"


def init_app(app: Flask, model: LoadedModel, metrics: Metrics, openapi: dict[str, Any]) -> None:
    app.extensions[METRICS] = metrics
    app.extensions[OPENAPI] = orjson.dumps(openapi)
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response:
    registry: Metrics = current_app.extensions[METRICS]
    return Response(registry.render(), content_type=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(current_app.extensions[OPENAPI], mimetype="application/json")


@bp.get("/docs")
def docs() -> Response:
    return Response(DOCS_PAGE, mimetype="text/html", headers={"Content-Security-Policy": CSP})


@bp.get("/docs/init.js")
def docs_init() -> Response:
    return Response(DOCS_INIT, mimetype="text/javascript")


# Only these names match the route: any other path under /docs/ is a 404 from routing.
@bp.get("/docs/<any(" + ", ".join(f'"{name}"' for name in ASSETS) + "):asset>")
def docs_asset(asset: str) -> Response:
    response = Response(asset_bytes(asset), mimetype=ASSETS[asset])
    response.cache_control.max_age = 86400
    return response


@functools.cache
def asset_bytes(name: str) -> bytes:
    """A Swagger UI file, read once (about 1 MB in all): the docs page costs no disk reads after that."""
    return bytes((swagger_ui_path / name).read_bytes())
