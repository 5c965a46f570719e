"""Prometheus metrics: HTTP requests, predictions, rejected rows, and drift of recent inputs.

Every server worker process writes its values to files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode; churn/server/launch.py creates and wipes it) and a scrape, served by any worker, adds them
up. Counters and histograms add up by themselves. The recent-window figures cannot be averaged across
workers, so each worker publishes the raw counts of its window (rows scored, churners, rows per input
bin) as `livesum` gauges, which sum over live workers, and the scrape derives the churn rate and the
PSI from those sums: the result is that of one window holding every worker's recent rows.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from churn.core import drift
from churn.core.columns import by_field, codes_of
from churn.core.model import LoadedModel
from churn.core.scoring import Customer
from churn.core.validation import InvalidCustomer
from churn.errors import FieldCode

log = logging.getLogger("churn.server.metrics")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
MIN_PSI_ROWS = 100  # below this a window's PSI is noise, so none is exported
PUBLISH_SECONDS = 1.0  # how stale another worker's window may be in a scrape
# Slots of a window after the input bins: rows scored, of them predicted to churn, rows seen (scored or
# rejected), rows rejected for an unknown category.
SCORED, CHURNERS, SEEN, UNKNOWN = range(4)
WINDOW_KINDS = ("scored", "churners", "seen", "unknown_category")
COLUMN_WISE_ROWS = 32  # from this many customers a call's drift bins are counted column-wise (numpy)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """Every metric of one app, registered in the app's own registry (tests build many apps)."""

    def __init__(self, model: LoadedModel, threshold: float):
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series are noise here, and multiprocess mode has none anyway
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "churn_http_requests", "HTTP requests by route template and status", ("route", "status"), registry=r
        )
        self.latency = Histogram(
            "churn_http_request_duration_seconds",
            "Time to answer a request, by route template and status",
            ("route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter("churn_predictions", "Customers scored, by decision", ("decision",), registry=r)
        self.rejected = Counter(
            "churn_rejected_rows", "Customers refused by validation, once per field error code", ("code",), registry=r
        )
        self.unknown = Counter(
            "churn_unknown_categories", "Unknown category values refused, by field", ("field",), registry=r
        )
        self.window = Gauge(
            "churn_window_rows",
            "Rows in the recent window, summed over live workers",
            ("kind",),
            multiprocess_mode="livesum",
            registry=r,
        )
        self.window_bins = Gauge(
            "churn_window_input_rows",
            "Recent scored rows per input bin (training's bins), summed over live workers",
            ("field", "bin"),
            multiprocess_mode="livesum",
            registry=r,
        )
        self.http_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.observer = PredictionObserver(self, model, threshold)
        self.model_version = model.version

    def record_request(self, route: str, status: str, seconds: float) -> None:
        """Count one answered request; label children are cached because .labels() is the slow part."""
        children = self.http_children.get((route, status))
        if children is None:
            children = self.requests.labels(route, status), self.latency.labels(route, status)
            self.http_children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The exposition text of every worker's metrics plus the derived drift figures."""
        self.observer.publish()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(DerivedCollector(self))
        return generate_latest(registry)

    def families(self) -> list[Metric]:
        """The families render() writes out, as objects: what the CloudWatch lines are made of (churn/server/emf.py)."""
        self.observer.publish()
        return list(DerivedCollector(self).collect())


class PredictionObserver:
    """The ChurnService observer: counters at once, the recent window published once a second."""

    def __init__(self, metrics: Metrics, model: LoadedModel, threshold: float):
        self.metrics = metrics
        self.threshold = threshold
        self.bins = drift.Bins(model.metadata["training_distribution"], model.vocabulary)
        self.extra = len(self.bins.bins)  # first slot after the bins
        self.window = drift.Window(self.extra + len(WINDOW_KINDS))
        self.lock = threading.Lock()
        self.publisher_pid = 0
        self.bin_children = [metrics.window_bins.labels(b.field, b.label) for b in self.bins.bins]
        self.kind_children = [metrics.window.labels(kind) for kind in WINDOW_KINDS]
        self.churn_child = metrics.predictions.labels("churn")
        self.no_churn_child = metrics.predictions.labels("no_churn")

    def observe(
        self, customers: Sequence[Customer], probabilities: np.ndarray, rejected: Sequence[InvalidCustomer]
    ) -> None:
        try:
            self._observe(customers, probabilities, rejected)
        except Exception:  # metrics must never fail a prediction
            log.exception("metrics observer failed")

    def _observe(
        self, customers: Sequence[Customer], probabilities: np.ndarray, rejected: Sequence[InvalidCustomer]
    ) -> None:
        if len(customers) == 1 and not rejected:
            self.count_one(customers[0], float(probabilities[0]))
            return
        churners = int(np.count_nonzero(probabilities >= self.threshold))
        unknown_rows = self.count_rejected(rejected)
        counts = self.bin_counts(customers)
        with self.lock:
            w, base = self.window, self.extra
            w.bump(base + SCORED, len(customers))
            w.bump(base + CHURNERS, churners)
            w.bump(base + SEEN, len(customers) + len(rejected))
            w.bump(base + UNKNOWN, unknown_rows)
            if isinstance(counts, list):
                w.add_counts(counts, len(customers) + len(rejected))
            else:
                w.add(counts, len(customers) + len(rejected))
        if churners:  # each inc writes to a shared file: skip the ones that add nothing
            self.churn_child.inc(churners)
        if len(customers) > churners:
            self.no_churn_child.inc(len(customers) - churners)
        self.ensure_publisher()

    def observe_one(self, customer: Customer, probability: float) -> None:
        try:
            self.count_one(customer, probability)
        except Exception:  # metrics must never fail a prediction
            log.exception("metrics observer failed")

    def count_one(self, customer: Customer, probability: float) -> None:
        """_observe for one scored customer (every POST /predict), in plain Python: the same counts.

        The general path's numpy comparison and generators cost about as much as the whole update.
        """
        churn = probability >= self.threshold
        base = self.extra
        slots = self.bins.indexes(customer)
        slots += (base + SCORED, base + SEEN, base + CHURNERS) if churn else (base + SCORED, base + SEEN)
        with self.lock:
            self.window.add(slots, 1)
        (self.churn_child if churn else self.no_churn_child).inc(1)
        self.ensure_publisher()

    def bin_counts(self, customers: Sequence[Customer]) -> list[int] | Iterator[int]:
        """Each bin's count (large batches, column-wise), or each customer's bins (a few customers, row by row)."""
        if len(customers) < COLUMN_WISE_ROWS:
            return (slot for customer in customers for slot in self.bins.indexes(customer))
        return self.bins.counts(by_field(customers, self.bins.fields()), len(customers), codes_of(customers))

    def count_rejected(self, rejected: Sequence[InvalidCustomer]) -> int:
        """Count refused rows by code and unknown categories by field; return the rows with an unknown category."""
        codes: dict[str, int] = {}
        fields: dict[str, int] = {}
        for row in rejected:
            for code in {e.code for e in row.errors}:
                codes[code] = codes.get(code, 0) + 1
            for e in row.errors:
                if e.code == FieldCode.UNKNOWN_CATEGORY:
                    fields[e.field] = fields.get(e.field, 0) + 1
        for code, n in codes.items():
            self.metrics.rejected.labels(code).inc(n)
        for field, n in fields.items():
            self.metrics.unknown.labels(field).inc(n)
        return codes.get(FieldCode.UNKNOWN_CATEGORY, 0)

    def ensure_publisher(self) -> None:
        """Start this process's publishing thread (after the server's fork: threads do not survive one)."""
        if self.publisher_pid != os.getpid():
            self.publisher_pid = os.getpid()
            threading.Thread(target=self.publish_forever, name="churn-metrics", daemon=True).start()

    def publish_forever(self) -> None:
        while True:
            time.sleep(PUBLISH_SECONDS)
            self.publish()

    def publish(self) -> None:
        """Write this process's window into its gauges."""
        with self.lock:
            totals = self.window.totals()
        for child, value in zip(self.bin_children, totals, strict=False):
            child.set(value)
        for child, value in zip(self.kind_children, totals[self.extra :], strict=True):
            child.set(value)


class DerivedCollector(Collector):
    """Every metric (all workers' under a multi-process server), then the figures derived from the summed windows."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        path = multiprocess_dir()
        if path:
            forget_dead_workers(path)
        source = MultiProcessCollector(None, path) if path else self.metrics.registry  # type: ignore[no-untyped-call]
        bins: dict[tuple[str, str], float] = {}
        kinds: dict[str, float] = {}
        for family in source.collect():
            yield family
            for s in family.samples:
                if s.name == "churn_window_input_rows":
                    bins[(s.labels["field"], s.labels["bin"])] = s.value
                elif s.name == "churn_window_rows":
                    kinds[s.labels["kind"]] = s.value
        yield from derived(self.metrics, bins, kinds)


LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def forget_dead_workers(path: str) -> None:
    """Drop the live gauges (the recent window) of every worker process that no longer exists.

    The server (granian) has no hook at a worker's exit, so a scrape does it: a killed worker's window
    would otherwise be added to the live workers' forever.
    """
    for name in os.listdir(path):
        found = LIVE_GAUGE_FILE.match(name)
        if found and not process_exists(int(found.group(1))):
            mark_process_dead(int(found.group(1)), path)  # type: ignore[no-untyped-call]


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return not is_zombie(pid)


def is_zombie(pid: int) -> bool:
    """A worker killed but not yet reaped by the server still answers kill(pid, 0): it is dead all the same."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux), or reaped since
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # the state follows "(comm)", which may hold spaces


def derived(metrics: Metrics, bins: dict[tuple[str, str], float], kinds: dict[str, float]) -> Iterator[Metric]:
    info = GaugeMetricFamily("churn_model_info", "The model being served", labels=("model_version",))
    info.add_metric((metrics.model_version,), 1)
    yield info
    scored, seen = kinds.get("scored", 0.0), kinds.get("seen", 0.0)
    if scored:
        yield GaugeMetricFamily(
            "churn_recent_churn_rate",
            "Share of recently scored customers predicted to churn",
            value=kinds.get("churners", 0.0) / scored,
        )
    if seen:
        yield GaugeMetricFamily(
            "churn_recent_unknown_category_ratio",
            "Share of recent rows refused for an unknown category",
            value=kinds.get("unknown_category", 0.0) / seen,
        )
    family = GaugeMetricFamily(
        "churn_drift_psi", "Population stability index of recent inputs against training, per field", labels=("field",)
    )
    if scored >= MIN_PSI_ROWS:
        for field, value in drift.psi_by_field(metrics.observer.bins.bins, bins).items():
            family.add_metric((field,), value)
    yield family
