"""CloudWatch metrics without an agent: the /metrics figures as Embedded Metric Format lines on stdout.

On Elastic Beanstalk the container's stdout already goes to CloudWatch Logs, which makes metric data
points of every JSON line holding an `_aws` member (CloudWatch's "Embedded metric format"
specification). With CHURN_METRICS_EMF=1 one process per instance writes them once an interval:
granian's main process (churn/server/launch.py), which forks the workers and serves no request itself.
It is one per instance by construction (no election, no lock file to go stale), it outlives every
worker granian respawns, and it writes a last interval after the workers have stopped.

The lines are made of the same families `/metrics` renders (Metrics.families: every worker's files
summed, the churn rate, ratios and PSI computed from the summed window counts, never averaged), so
the two always tell the same figures. Counters become deltas over the interval; the p99 latency is
interpolated from the histogram's buckets, as Prometheus's histogram_quantile does. Every line is well
under PIPE_BUF (4096 bytes) and written with one write, so it never interleaves with a worker's log line.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import orjson
from flask import Flask
from prometheus_client.metrics_core import Metric

from churn.config import Settings
from churn.jobs.queue import QueueUnavailable, connect, queued_jobs
from churn.server.metrics import MIN_PSI_ROWS, Metrics

log = logging.getLogger("churn.emf")
NAMESPACE = "ChurnServing"
QUANTILE = 0.99
# (sample name, sorted labels): one running total of a counter or a histogram.
Key = tuple[str, tuple[tuple[str, str], ...]]
Figures = dict[str, tuple[float, str]]  # metric name -> (value, CloudWatch unit)


class Emitter:
    """Write one interval of metrics as EMF lines: at each tick of a thread, and once more at stop()."""

    def __init__(
        self,
        metrics: Metrics,
        environment: str,
        queue_length: Callable[[], int | None] | None = None,
        out: TextIO | None = None,
    ):
        self.metrics = metrics
        self.environment = environment
        self.queue_length = queue_length
        self.out = out or sys.stdout
        self.previous: dict[Key, float] = {}  # the totals of the last interval (none yet: counts since start)
        # Held while reading the metrics files and writing: a fork waits for it (see start()).
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    @classmethod
    def for_app(cls, app: Flask, settings: Settings) -> Emitter:
        metrics: Metrics = app.extensions["churn.server.metrics"]
        return cls(metrics, settings.metrics_environment, queue_reader(settings))

    def emit(self) -> list[dict[str, Any]]:
        """Write this interval's documents and return them."""
        queued = self.queue_length() if self.queue_length else None  # outside the lock: Redis may be slow
        with self.lock:
            families = self.metrics.families()
            totals = running_totals(families)
            now_ms = int(time.time() * 1000)
            docs = documents(families, deltas(totals, self.previous), self.environment, queued, now_ms)
            self.previous = totals
            for doc in docs:
                self.out.write(orjson.dumps(doc).decode() + "\n")
                self.out.flush()
        return docs

    def start(self, interval: float) -> None:
        """Emit every interval from a thread of this process.

        granian forks its workers (and respawns them) from this process while the thread runs: a fork
        in the middle of an emission would hand the worker a copy of a lock held forever (the
        metrics' value lock, stdout's buffer). Forks wait for the emission's lock instead.
        """
        os.register_at_fork(
            before=self.lock.acquire, after_in_parent=self.lock.release, after_in_child=self.lock.release
        )
        threading.Thread(target=self.run, args=(interval,), name="churn-emf", daemon=True).start()

    def run(self, interval: float) -> None:
        while not self.stopped.wait(interval):
            self.emit_safely()

    def stop(self) -> None:
        """The last interval (after granian stopped the workers: their final counts are in the files)."""
        self.stopped.set()
        self.emit_safely()

    def emit_safely(self) -> None:
        try:
            self.emit()
        except Exception:  # metrics must never stop the server
            log.exception("CloudWatch metrics (EMF) not written")


def queue_reader(settings: Settings) -> Callable[[], int | None] | None:
    """The RQ queue's length, read once an interval; None for an interval when Redis does not answer."""
    if not settings.redis_url:
        return None
    connection = connect(settings.redis_url, settings.redis_timeout)

    def read() -> int | None:
        try:
            return queued_jobs(connection)
        except QueueUnavailable as e:
            log.warning("job queue length not read: %s", e)
            return None

    return read


def running_totals(families: Iterable[Metric]) -> dict[Key, float]:
    """Every counter and histogram sample: the running totals whose deltas the lines report."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families
        if family.type in ("counter", "histogram")
        for s in family.samples
    }


def deltas(totals: dict[Key, float], previous: dict[Key, float]) -> dict[Key, float]:
    """Each total's growth since the previous interval (a total that went down was reset: all of it is new)."""
    out = {}
    for key, value in totals.items():
        before = previous.get(key, 0.0)
        out[key] = value - before if value >= before else value
    return out


def documents(
    families: list[Metric], delta: dict[Key, float], environment: str, queued: int | None, now_ms: int
) -> list[dict[str, Any]]:
    """The EMF documents of one interval, from the families /metrics renders and their counters' deltas."""
    gauges = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families if f.type == "gauge" for s in f.samples
    }
    version = next(labels["model_version"] for labels, _ in by_label(gauges, "churn_model_info"))
    env = {"Environment": environment}

    def add(dimensions: dict[str, str], figures: Figures, *dimension_sets: list[str]) -> None:
        docs.append(document({**env, **dimensions}, figures, dimension_sets, now_ms))

    docs: list[dict[str, Any]] = []
    add({"ModelVersion": version}, scoring(gauges, delta), ["Environment"], ["Environment", "ModelVersion"])
    for (route, status_class), figures in http(delta).items():
        add({"Route": route, "StatusClass": status_class}, figures, ["Environment", "Route", "StatusClass"])
    for labels, value in by_label(delta, "churn_rejected_rows_total"):
        if value:
            add({"Code": labels["code"]}, {"RowsRejected": (value, "Count")}, ["Environment", "Code"])
    for labels, value in by_label(gauges, "churn_drift_psi"):
        dimensions = {"ModelVersion": version, "Field": labels["field"]}
        add(dimensions, {"DriftPSI": (value, "None")}, ["Environment", "ModelVersion", "Field"])
    if queued is not None:
        add({}, {"JobsQueued": (queued, "Count")}, ["Environment"])
    return docs


def scoring(gauges: dict[Key, float], delta: dict[Key, float]) -> Figures:
    """Customers scored and predicted to churn in the interval; the recent window's ratios and drift."""
    decisions = {labels["decision"]: value for labels, value in by_label(delta, "churn_predictions_total")}
    figures: Figures = {
        "Predictions": (sum(decisions.values()), "Count"),
        "Churners": (decisions.get("churn", 0.0), "Count"),
    }
    for metric, name in (("ChurnRate", "churn_recent_churn_rate"), ("UnknownCategoryRatio", UNKNOWN_RATIO)):
        if (name, ()) in gauges:  # /metrics leaves them out of an empty window, so do the lines
            figures[metric] = (gauges[(name, ())], "None")
    window = {labels["kind"]: value for labels, value in by_label(gauges, "churn_window_rows")}
    seen = window.get("seen", 0.0)
    if seen >= MIN_PSI_ROWS:  # a share of a handful of rows is noise, as is their PSI
        figures["RejectedRowRatio"] = ((seen - window.get("scored", 0.0)) / seen, "None")
    psis = [value for _, value in by_label(gauges, "churn_drift_psi")]
    if psis:
        figures["DriftPSIMax"] = (max(psis), "None")  # one metric to alarm on, whichever field drifts
    return figures


UNKNOWN_RATIO = "churn_recent_unknown_category_ratio"


def http(delta: dict[Key, float]) -> dict[tuple[str, str], Figures]:
    """Requests and their p99 latency per (route, status class), for the pairs that had requests."""
    requests: dict[tuple[str, str], float] = {}
    buckets: dict[tuple[str, str], dict[float, float]] = {}
    for labels, value in by_label(delta, "churn_http_requests_total"):
        key = (labels["route"], labels["status"][0] + "xx")
        requests[key] = requests.get(key, 0.0) + value
    for labels, value in by_label(delta, "churn_http_request_duration_seconds_bucket"):
        per_bound = buckets.setdefault((labels["route"], labels["status"][0] + "xx"), {})
        per_bound[float(labels["le"])] = per_bound.get(float(labels["le"]), 0.0) + value
    out: dict[tuple[str, str], Figures] = {}
    for key, count in sorted(requests.items()):
        if count:
            figures: Figures = {"Requests": (count, "Count")}
            p99 = quantile(QUANTILE, sorted(buckets.get(key, {}).items()))
            if p99 is not None:
                figures["LatencyP99"] = (p99, "Seconds")
            out[key] = figures
    return out


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of a histogram given as (upper bound, cumulative count), interpolated in its bucket.

    Prometheus's histogram_quantile: linear within the bucket, the first bucket starting at 0, and a
    quantile past the highest finite bound reported as that bound (all the buckets can tell).
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def by_label(values: dict[Key, float], name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one name as (labels, value), in a stable order."""
    return [(dict(labels), value) for (n, labels), value in sorted(values.items()) if n == name]


def document(
    dimensions: dict[str, str], figures: Figures, dimension_sets: Iterable[list[str]], now_ms: int
) -> dict[str, Any]:
    """One EMF document: the metadata naming the metrics and dimensions, then their values as members."""
    directive = {
        "Namespace": NAMESPACE,
        "Dimensions": list(dimension_sets),
        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in figures.items()],
    }
    values = {name: number(value) for name, (value, _) in figures.items()}
    return {"_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [directive]}, "logger": log.name, **dimensions, **values}


def number(value: float) -> float | int:
    """Counts as integers: the lines read as what they count."""
    return int(value) if float(value).is_integer() else float(value)
