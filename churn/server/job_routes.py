"""HTTP routes of asynchronous scoring jobs (a separate blueprint; the queue itself is churn/jobs/queue.py).

POST /v1/jobs                 a batch as JSON {"customers": [...], "explain": k} or a text/csv upload
                              (read as /invocations reads CSV; options in the query string)
                              -> 202, the job's id, Location: its status
GET  /v1/jobs/<id>            202 queued or running, 200 finished, 410 finished but its result is gone,
                              404 unknown (or its job record gone too), 500 failed
GET  /v1/jobs/<id>/result     the predictions, shaped as /v1/predict's response (202/404/410/500 as above)

Without REDIS_URL every route answers 503 jobs_disabled; when Redis is unreachable, 503 queue_unavailable.
A process runs at most CHURN_JOB_ROUTE_SLOTS job requests at once and answers the others 503 jobs_busy
at once, so a stalled Redis holds a few of its threads, never the ones scoring needs. One job may cost
at most CHURN_JOB_MAX_COST (413 job_too_large); jobs in flight are limited per API key and in all
(429 too_many_jobs).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NoReturn, ParamSpec

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.routing import BaseConverter

from churn.config import Settings
from churn.core.service import BATCH_OPTIONS, ChurnService
from churn.errors import ApiError, Code, error_body
from churn.jobs.queue import EXPIRED, JobQueue, JobView, Limits, QueueUnavailable, TooManyJobs, connect
from churn.server.api import check_charset, content_type, json_body, json_response, service
from churn.server.middleware import ANONYMOUS, CALLER_KEY
from churn.server.protocols import formats
from churn.server.wsgi import JSON

bp = Blueprint("jobs", __name__)
EXTENSION = "churn.jobs.queue"


ID_CHARACTER = "[A-Za-z0-9-]"  # what the queue's job ids are made of


class JobId(BaseConverter):
    """A job id's characters, in any number (lookup() answers job_not_found for one the queue never makes);
    a path with other characters in its place (";", an encoded "/") matches no route (404)."""

    regex = f"{ID_CHARACTER}+"


JOB_ID = re.compile(f"{ID_CHARACTER}{{1,64}}")  # the queue's ids are UUIDs: nothing else is looked up in Redis


OPTION_VALUE = re.compile(r"[0-9]{1,9}")  # plain ASCII digits: int() alone also reads "٣" and "1_0"
QUEUE_RETRY_AFTER, BUSY_RETRY_AFTER, QUOTA_RETRY_AFTER = "5", "1", "5"  # seconds
P = ParamSpec("P")


class JobsBusy(Exception):
    """This process already runs as many job requests as it allows at once."""


@dataclass(frozen=True)
class Jobs:
    queue: JobQueue
    intake: ChurnService  # checks a submitted batch's shape, with the jobs' own size limit
    slots: threading.BoundedSemaphore  # job requests this process runs at once
    max_cost: int  # rows x (1 + explain + explain_down) of one job


def init_app(app: Flask, settings: Settings) -> None:
    """Register the routes; connect the queue only when REDIS_URL is set (lazily: no I/O here)."""
    if settings.redis_url:
        svc: ChurnService = app.extensions["churn"]
        limits = Limits(settings.jobs_per_caller, settings.jobs_max_active, settings.job_retries)
        queue = JobQueue(connect(settings.redis_url, settings.redis_timeout), settings.job_ttl, limits)
        intake = ChurnService(svc.model, svc.threshold, settings.job_max_batch)
        slots = threading.BoundedSemaphore(settings.job_route_slots)
        app.extensions[EXTENSION] = Jobs(queue, intake, slots, settings.job_max_cost)
    app.url_map.converters["job"] = JobId
    app.register_blueprint(bp)

    @app.errorhandler(QueueUnavailable)
    def queue_unavailable(e: QueueUnavailable) -> Response:
        return retry_later(503, Code.QUEUE_UNAVAILABLE, f"{e}; try again shortly", QUEUE_RETRY_AFTER)

    @app.errorhandler(JobsBusy)
    def jobs_busy(e: JobsBusy) -> Response:
        message = "this server is handling as many job requests as it takes at once; try again shortly"
        response = retry_later(503, Code.JOBS_BUSY, message, BUSY_RETRY_AFTER)
        if request.method == "POST":
            response.headers["Connection"] = "close"  # its body stays unread: do not make the server drain it
        return response

    @app.errorhandler(TooManyJobs)
    def too_many_jobs(e: TooManyJobs) -> Response:
        return retry_later(429, Code.TOO_MANY_JOBS, str(e), QUOTA_RETRY_AFTER, e.details)


def retry_later(status: int, code: str, message: str, seconds: str, details: Any = None) -> Response:
    response = json_response(error_body(code, message, details), status)
    response.headers["Retry-After"] = seconds
    return response


def jobs() -> Jobs:
    found: Jobs | None = current_app.extensions.get(EXTENSION)
    if found is None:
        raise ApiError(503, Code.JOBS_DISABLED, "asynchronous jobs are not configured on this server (no REDIS_URL)")
    return found


def gated(view: Callable[P, Response]) -> Callable[P, Response]:
    """Run a job view in one of this process's few job slots, or refuse it at once (503 jobs_busy)."""

    @functools.wraps(view)
    def run(*args: P.args, **kwargs: P.kwargs) -> Response:
        slots = jobs().slots
        if not slots.acquire(blocking=False):
            raise JobsBusy
        try:
            return view(*args, **kwargs)
        finally:
            slots.release()

    return run


def batch_payload() -> dict[str, Any]:
    """The submitted batch as /v1/predict's payload, from JSON or from CSV plus query-string options."""
    if request.mimetype not in (JSON, formats.CSV):
        raise ApiError(415, Code.UNSUPPORTED_MEDIA_TYPE, f"send the job as JSON ({JSON}) or CSV ({formats.CSV})")
    if request.mimetype == JSON:
        if request.args:
            raise ApiError(422, Code.INVALID_REQUEST, "a JSON job takes its options in its body, not the query string")
        payload: dict[str, Any] = json_body()
        return payload
    options = query_options()
    check_charset(content_type())
    # the reader of /invocations' CSV: one rule for a CSV body, on every route that takes one
    return {**options, "customers": formats.read_csv(request.get_data(cache=False)).rows}


def query_options() -> dict[str, Any]:
    """A CSV job's options: each given once, a number as plain ASCII digits (anything else is refused later)."""
    options: dict[str, Any] = {}
    for name, values in request.args.lists():
        if len(values) > 1:
            raise ApiError(422, Code.INVALID_REQUEST, f"the query option {name[:40]!r} is given {len(values)} times")
        options[name] = int(values[0]) if OPTION_VALUE.fullmatch(values[0]) else values[0]
    return options


def check_cost(rows: int, up: int, down: int, max_cost: int) -> None:
    cost = rows * (1 + up + down)
    if cost > max_cost:
        raise ApiError(
            413,
            Code.JOB_TOO_LARGE,
            f"this job would cost {cost} (rows x (1 + explain + explain_down)) and a job may cost at most "
            f"{max_cost}: split it into smaller jobs or ask for fewer reasons",
            {"max_cost": max_cost, "cost": cost, "rows": rows, "explain": up, "explain_down": down},
        )


def locations(job_id: str) -> dict[str, str]:
    return {"status_url": f"/v1/jobs/{job_id}", "result_url": f"/v1/jobs/{job_id}/result"}


@bp.post("/v1/jobs")
@gated
def submit() -> Response:
    found = jobs()
    payload = batch_payload()
    rows = found.intake.batch_rows(payload)
    if not rows:
        raise ApiError(422, Code.INVALID_REQUEST, "a job needs at least one customer")
    up, down = (found.intake.explain_option(payload, name) for name in BATCH_OPTIONS)
    check_cost(len(rows), up, down, found.max_cost)
    caller = request.environ.get(CALLER_KEY, ANONYMOUS)
    job_id = found.queue.submit(caller, rows, up, down, service().model.version)
    body = {"id": job_id, "status": "queued", "rows": len(rows), **locations(job_id)}
    response = json_response(body, 202)
    response.headers["Location"] = body["status_url"]
    return response


NO_RESULT = ("failed", EXPIRED)  # the states of a job that will never give its result


def lookup(job_id: str) -> JobView:
    """The job, queued, running or finished; refused when unknown (404), failed or its result gone (refuse())."""
    found = jobs()
    view = found.queue.find(job_id) if JOB_ID.fullmatch(job_id) else None
    if view is None:
        raise ApiError(
            404,
            Code.JOB_NOT_FOUND,
            "no such job: it never existed, or it and its result are no longer kept: submit the job again",
        )
    if view.state in NO_RESULT:
        refuse(view)
    return view


def refuse(view: JobView) -> NoReturn:
    """The answer of a job in a NO_RESULT state, the same from the status route and the result route.

    A job whose result is gone is 410, not 404: the service knows it existed and finished and that its
    result will not come back, where job_not_found cannot tell an id that never existed from one forgotten.
    """
    if view.state == EXPIRED:
        raise ApiError(
            410,
            Code.RESULT_EXPIRED,
            f"job {view.id} finished, but its result is no longer kept (results are kept {jobs().queue.ttl} s, "
            "and Redis may evict them sooner when short of memory): submit the job again",
            {"id": view.id, "status": EXPIRED},
        )
    reason, message = jobs().queue.failure(view)
    raise ApiError(500, Code.JOB_FAILED, message, {"id": view.id, "status": "failed", "reason": reason})


@bp.get("/v1/jobs/<job:job_id>")
@gated
def status(job_id: str) -> Response:
    view = lookup(job_id)
    body = {"id": job_id, "status": view.state, **locations(job_id)}
    return json_response(body, 200 if view.state == "finished" else 202)


@bp.get("/v1/jobs/<job:job_id>/result")
@gated
def result(job_id: str) -> Response:
    view = lookup(job_id)
    if view.state != "finished":
        return json_response({"id": job_id, "status": view.state, **locations(job_id)}, 202)
    body = jobs().queue.result(view)
    if body is None:  # gone since lookup(): answered as the status route now answers it
        refuse(replace(view, result_gone=True))
    return Response(body, mimetype=JSON)
