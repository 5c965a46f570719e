"""Ways to score one chunk of rows, all answering /v1/predict's response body.

online:  POST /v1/predict (a 413 splits the chunk in two; a single row too large becomes that row's error,
         as does a row that cannot be written as JSON)
jobs:    POST /v1/jobs, poll GET /v1/jobs/<id>, GET /v1/jobs/<id>/result (for very large files)
offline: the local model through ChurnService.score_rows, the very code the service runs (and, for CSV
         files, churn.campaign.offline.engine's engine, which writes the same bytes)
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn.campaign.client import ClientError, RequestRefused, ServiceClient, Unavailable, score_sendable
from churn.errors import Code

if TYPE_CHECKING:
    from churn.campaign.offline.engine import FastRun
    from churn.core.service import ChurnService

ChunkScorer = Callable[[Sequence[Any]], dict[str, Any]]
LOST_JOB = (Code.JOB_NOT_FOUND, Code.RESULT_EXPIRED)  # a job (or its result) Redis no longer holds: submit again


class JobTimedOut(ClientError):
    """A job did not finish within the time the caller allows one job (campaign.py --job-timeout)."""


def online_scorer(client: ServiceClient, explain: int) -> ChunkScorer:
    def post(rows: list[Any]) -> dict[str, Any]:
        return predict(client, rows, explain)

    def score(rows: Sequence[Any]) -> dict[str, Any]:
        return score_sendable(functools.partial(split_when_too_large, post), list(rows))

    return score


def predict(client: ServiceClient, rows: list[Any], explain: int) -> dict[str, Any]:
    body: dict[str, Any] = client.post_json("/v1/predict", {"customers": rows, "explain": explain})
    return body


def split_when_too_large(score: Callable[[list[Any]], dict[str, Any]], rows: list[Any]) -> dict[str, Any]:
    """score(rows), halving a batch the service finds too large (413) rather than failing it."""
    try:
        return score(rows)
    except RequestRefused as e:
        if e.status != 413:
            raise
        if len(rows) == 1:
            error = {"code": e.code, "message": str(e)}
            return {"model_version": None, "predictions": [{"customerid": None, "error": error}]}
    half = len(rows) // 2
    first, second = split_when_too_large(score, rows[:half]), split_when_too_large(score, rows[half:])
    return {**second, "predictions": first["predictions"] + second["predictions"]}


def jobs_scorer(
    client: ServiceClient, explain: int, stop: threading.Event, poll: float = 1.0, job_timeout: float = 600.0
) -> ChunkScorer:
    """Score each chunk as an asynchronous job, waiting up to job_timeout seconds for each.

    A job lost before its result was collected (Redis flushed, or its result expired or evicted) is
    resubmitted; a chunk too large for one job is split.
    """

    def job(rows: list[Any]) -> dict[str, Any]:
        for _ in range(3):
            submitted = client.post_json("/v1/jobs", {"customers": rows, "explain": explain})
            try:
                result: dict[str, Any] = wait_for_job(client, str(submitted["id"]), stop, poll, job_timeout)
                return result
            except RequestRefused as e:
                if e.code not in LOST_JOB:
                    raise
        raise Unavailable("jobs keep disappearing before their results are read: is Redis flushed or short of memory?")

    def score(rows: Sequence[Any]) -> dict[str, Any]:
        return score_sendable(functools.partial(split_when_too_large, job), list(rows))

    return score


def wait_for_job(client: ServiceClient, job_id: str, stop: threading.Event, poll: float, timeout: float) -> Any:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        status, _ = client.get_json(f"/v1/jobs/{job_id}")
        if status == 200:
            return client.get_json(f"/v1/jobs/{job_id}/result")[1]
        if stop.wait(poll):
            raise Unavailable("interrupted")
    raise JobTimedOut(f"job {job_id} did not finish within {timeout:g} s")


class OfflineScorer:
    """The service's own scoring code on the local model file; CSV files also get the offline engine.

    The model is read without importing scikit-learn (load_model's sklearn_objects=False): only the
    compiled scorer is used, and the same checks apply.
    """

    def __init__(self, model_path: Path, explain: int, threshold: float | None):
        # Imported here: numpy and the model code are start-up time that campaign.py spends while
        # the input is being hashed, and that an online run does not need at all.
        from churn.config import read_range_tolerance  # noqa: PLC0415
        from churn.core.model import load_model  # noqa: PLC0415
        from churn.core.service import ChurnService  # noqa: PLC0415

        model = load_model(model_path, sklearn_objects=False)
        tolerance = read_range_tolerance(os.environ)  # the service's own setting: the same verdicts offline
        self.service: ChurnService = ChurnService(
            model, threshold if threshold is not None else 0.5, range_tolerance=tolerance
        )
        self.explain = explain

    def __call__(self, rows: Sequence[Any]) -> dict[str, Any]:
        return self.service.score_rows(rows, explain=self.explain)

    def fast_run(self, path: Path) -> FastRun:
        from churn.campaign.offline.engine import FastRun  # noqa: PLC0415 - pyarrow's import is paid only where it is used

        return FastRun(path, self.service, self.explain)


def offline_scorer(model_path: Path, explain: int, threshold: float | None) -> OfflineScorer:
    return OfflineScorer(model_path, explain, threshold)
