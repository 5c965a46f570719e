"""HTTP routes of asynchronous scoring jobs (a separate blueprint; the queue itself is churn/jobs.py).

POST /v1/jobs                 a batch as JSON {"customers": [...], "explain": k} or a text/csv upload
                              (options in the query string) -> 202, the job's id, Location: its status
GET  /v1/jobs/<id>            202 queued or running, 200 finished, 404 unknown or expired, 500 failed
GET  /v1/jobs/<id>/result     the predictions, shaped as /v1/predict's response (202/404/500 as above)

Without REDIS_URL every route answers 503 jobs_disabled; when Redis is unreachable, 503 queue_unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.routing import BaseConverter

from churn.api import json_body, json_response, service
from churn.config import Settings
from churn.errors import ApiError, Code
from churn.jobs import JobQueue, JobView, QueueUnavailable, connect
from churn.rowio import InputError, parse_csv_text
from churn.service import BATCH_OPTIONS, ChurnService

bp = Blueprint("jobs", __name__)
EXTENSION = "churn.jobs"
CSV = "text/csv"


class JobId(BaseConverter):
    """A job id as the queue makes them: a path with anything else in its place matches no route (404)."""

    regex = "[A-Za-z0-9-]{1,64}"


@dataclass(frozen=True)
class Jobs:
    queue: JobQueue
    intake: ChurnService  # checks a submitted batch's shape, with the jobs' own size limit


def init_app(app: Flask, settings: Settings) -> None:
    """Register the routes; connect the queue only when REDIS_URL is set (lazily: no I/O here)."""
    if settings.redis_url:
        svc: ChurnService = app.extensions["churn"]
        queue = JobQueue(connect(settings.redis_url, settings.redis_timeout), settings.job_ttl)
        app.extensions[EXTENSION] = Jobs(queue, ChurnService(svc.model, svc.threshold, settings.job_max_batch))
    app.url_map.converters["job"] = JobId
    app.register_blueprint(bp)

    @app.errorhandler(QueueUnavailable)
    def queue_unavailable(e: QueueUnavailable) -> Response:
        response = json_response(ApiError(503, Code.QUEUE_UNAVAILABLE, f"{e}; try again shortly").body(), 503)
        response.headers["Retry-After"] = "5"
        return response


def jobs() -> Jobs:
    found: Jobs | None = current_app.extensions.get(EXTENSION)
    if found is None:
        raise ApiError(503, Code.JOBS_DISABLED, "asynchronous jobs are not configured on this server (no REDIS_URL)")
    return found


def batch_payload() -> dict[str, Any]:
    """The submitted batch as /v1/predict's payload, from JSON or from CSV plus query-string options."""
    if request.mimetype != CSV:
        payload: dict[str, Any] = json_body()
        return payload
    try:
        rows = parse_csv_text(request.get_data(cache=False).decode("utf-8-sig"))
    except (UnicodeDecodeError, InputError) as e:
        raise ApiError(400, Code.INVALID_CSV, f"the body is not a readable CSV document: {e}") from None
    options: dict[str, Any] = {}
    for name, text in request.args.items():
        options[name] = int(text) if text.isdigit() else text
    return {**options, "customers": rows}


def locations(job_id: str) -> dict[str, str]:
    return {"status_url": f"/v1/jobs/{job_id}", "result_url": f"/v1/jobs/{job_id}/result"}


@bp.post("/v1/jobs")
def submit() -> Response:
    found = jobs()
    payload = batch_payload()
    rows = found.intake.batch_rows(payload)
    if not rows:
        raise ApiError(422, Code.INVALID_REQUEST, "a job needs at least one customer")
    up, down = (found.intake.explain_option(payload, name) for name in BATCH_OPTIONS)
    job_id = found.queue.submit(rows, up, down, service().model.version)
    body = {"id": job_id, "status": "queued", "rows": len(rows), **locations(job_id)}
    response = json_response(body, 202)
    response.headers["Location"] = body["status_url"]
    return response


def lookup(job_id: str) -> JobView:
    """The job, or 404 when unknown or expired, 500 when it failed."""
    found = jobs()
    view = found.queue.find(job_id)
    if view is None:
        raise ApiError(404, Code.JOB_NOT_FOUND, "no such job: it never existed or its result expired")
    if view.state == "failed":
        raise ApiError(500, Code.JOB_FAILED, found.queue.failure(view), {"id": job_id, "status": "failed"})
    return view


@bp.get("/v1/jobs/<job:job_id>")
def status(job_id: str) -> Response:
    view = lookup(job_id)
    body = {"id": job_id, "status": view.state, **locations(job_id)}
    return json_response(body, 200 if view.state == "finished" else 202)


@bp.get("/v1/jobs/<job:job_id>/result")
def result(job_id: str) -> Response:
    view = lookup(job_id)
    if view.state != "finished":
        return json_response({"id": job_id, "status": view.state, **locations(job_id)}, 202)
    value = jobs().queue.result(view)
    if value is None:  # expired between the two look-ups
        raise ApiError(404, Code.JOB_NOT_FOUND, "no such job: it never existed or its result expired")
    return json_response(value)
