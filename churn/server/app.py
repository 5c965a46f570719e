"""The Flask application: factory, JSON error handling, and the start-up used by churn_serving."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from churn.config import ConfigError, Settings
from churn.core.model import LoadedModel, load_model
from churn.core.service import ChurnService
from churn.errors import ApiError, Code, ModelLoadError
from churn.logs import configure_logging
from churn.server import api, job_routes, openapi, ops, pages
from churn.server.fastpath import FastScoring
from churn.server.metrics import Metrics
from churn.server.middleware import RequestMiddleware, error_shape
from churn.server.protocols import mlflow, oip, sagemaker

log = logging.getLogger("churn")

# The protocols' paths answer every error in the protocol's shape (churn.server.middleware.error_shape),
# whether the middleware, routing, a view or a fault in one refuses the request.
ERROR_SHAPES = {"/invocations": mlflow.error_body, "/v2": oip.error_body}
HTTP_CODES = {
    400: Code.BAD_REQUEST,
    401: Code.UNAUTHORIZED,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    413: Code.PAYLOAD_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
}


class OneSpellingMap(Map):
    """A url_map that routes each path by one spelling only: "//predict" matches no route.

    werkzeug merges repeated slashes by default; the request middleware resolves every request's
    route (and with it the auth decision) from this same map, and non-canonical spellings are 404s.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["merge_slashes"] = False
        super().__init__(*args, **kwargs)


class ServiceFlask(Flask):
    url_map_class = OneSpellingMap

    def make_default_options_response(self) -> Response:
        """OPTIONS: 204 with Allow, and no Content-Type (Flask's own says text/html of an empty body)."""
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


def create_app(settings: Settings | None = None, model: LoadedModel | None = None) -> Flask:
    """Build the service around an already-loaded model (tests pass their own)."""
    settings = settings or Settings()
    model = model or load_model(settings.model_path)
    app = ServiceFlask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    metrics = Metrics(model, settings.threshold)
    service = ChurnService(model, settings.threshold, settings.max_batch, metrics.observer, settings.range_tolerance)
    app.extensions["churn"] = service
    app.register_blueprint(api.bp)
    app.register_blueprint(mlflow.bp)
    oip.init_app(app)
    sagemaker.init_app(app, settings, model.metadata["vocabulary"])
    document = openapi.build(
        model,
        settings.max_batch,
        bool(settings.api_keys),
        settings.job_max_batch,
        service.contract,
        transform=app.extensions[sagemaker.EXECUTION_PARAMETERS],
    )
    ops.init_app(app, model, metrics, document)
    job_routes.init_app(app, settings)
    pages.init_app(app, model, settings.model_path, bool(settings.api_keys))
    register_error_handlers(app)
    refuse_request_hooks(app)
    # Innermost wrapper: middleware wrapping app.wsgi_app after this line sees fast requests too.
    app.wsgi_app = FastScoring(app.wsgi_app, service)  # type: ignore[method-assign]
    # Keep this last: the route, auth, body, log line and metrics must wrap every other layer.
    app.wsgi_app = RequestMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        url_map=app.url_map,
        api_keys=settings.api_keys,
        metrics=metrics,
        error_shapes=ERROR_SHAPES,
        max_body_bytes=settings.max_body_bytes,
    )
    return app


def refuse_request_hooks(app: Flask) -> None:
    """Fail loudly if an extension adds before/after-request hooks: the fast path would skip them."""
    found = [
        name
        for name, funcs in (("before_request", app.before_request_funcs), ("after_request", app.after_request_funcs))
        if any(funcs.values())
    ]
    if found:
        raise RuntimeError(
            f"{' and '.join(found)} hooks would not run for /predict and /v1/predict (churn/server/fastpath.py "
            "answers them without Flask): put cross-cutting work in churn/server/middleware.py instead"
        )


def register_error_handlers(app: Flask) -> None:
    """Answer every failure in one JSON shape; never an HTML page, a traceback or the caller's data."""

    @app.errorhandler(ApiError)
    def api_error(e: ApiError) -> Response:
        return error_response(e)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        status = e.code or 500
        if status == 413:
            message = f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        else:
            message = e.description or e.name
        response = error_response(ApiError(status, HTTP_CODES.get(status, f"http_{status}"), message))
        for name, value in e.get_headers():
            if name.lower() != "content-type":  # keep what the status relies on, such as Allow on 405
                response.headers[name] = value
        if status == 413:
            # The body was refused unread: close rather than make the server read and discard it for keep-alive.
            response.headers["Connection"] = "close"
        return response

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(ApiError(500, Code.INTERNAL_ERROR, "internal server error"))


def error_response(e: ApiError) -> Response:
    """The error in the shape of the protocol the path belongs to, else in the service's own."""
    shape = error_shape(ERROR_SHAPES, request.path)
    return api.json_response(e.body() if shape is None else shape(e), e.status)


def build_app(settings: Settings | None = None) -> Flask:
    """Read settings (unless given), configure logging and load the model, or exit saying what is wrong."""
    try:
        settings = settings or Settings.from_env()
        configure_logging(settings.log_level)
        # The service scores with the compiled scorer only: not importing scikit-learn (and SciPy) saves
        # ~1 s of start-up and ~50 MB per process; the sha256, version and golden self-test checks stay.
        model = load_model(settings.model_path, sklearn_objects=False)
    except (ConfigError, ModelLoadError) as e:
        logging.getLogger("churn").critical("cannot start: %s", e)
        raise SystemExit(f"churn-serving cannot start: {e}") from None
    log.info("model %s loaded from %s", model.version, settings.model_path)
    if settings.api_keys:
        log.info("API keys required on the scoring, job and metrics routes (%d keys)", len(settings.api_keys))
    else:
        log.warning("CHURN_API_KEYS is not set: every route is open, scoring included")
    return create_app(settings, model)
