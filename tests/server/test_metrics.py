"""Metrics in one process: requests, predictions, rejected rows, drift against training, and their EMF lines."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from churn.config import Settings
from churn.core import features
from churn.core.drift import Bins, Window, psi
from churn.core.model import LoadedModel
from churn.core.validation import CustomerValidator, InvalidCustomer
from churn.server.emf import Emitter, deltas, queue_reader
from churn.server.metrics import LATENCY_BUCKETS, MIN_PSI_ROWS, Metrics, forget_dead_workers, is_zombie
from tests.conftest import DATA_PATH, free_port, make_customer
from tests.support.emf_check import emf_problems


def samples(text: str) -> dict[str, float]:
    """name{labels} -> value for every sample line of an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


@pytest.fixture(scope="module")
def training_rows(model: LoadedModel) -> list[dict[str, Any]]:
    """Real customers from the data set, validated like requests (raw CRM spellings and all)."""
    frame = pd.read_csv(DATA_PATH).sample(600, random_state=3)
    validator = CustomerValidator(model.contract())
    return [validator.validate(row)[0] for row in frame.to_dict("records")]


def test_requests_predictions_and_rejections_are_counted(client: Any) -> None:
    client.post("/predict", json=make_customer())
    client.post("/predict", json=make_customer(contract="weekly", tenure=-1))
    rows = [make_customer(), make_customer(contract="monthly"), make_customer(gender=None), "x"]
    client.post("/v1/predict", json={"customers": rows})
    client.get("/nowhere")
    got = samples(client.get("/metrics").text)
    assert got['churn_http_requests_total{route="/predict",status="200"}'] == 1
    assert got['churn_http_requests_total{route="/predict",status="422"}'] == 1
    assert got['churn_http_requests_total{route="unmatched",status="404"}'] == 1
    assert got['churn_http_request_duration_seconds_count{route="/v1/predict",status="200"}'] == 1
    assert got['churn_predictions_total{decision="no_churn"}'] + got['churn_predictions_total{decision="churn"}'] == 2
    assert got['churn_rejected_rows_total{code="unknown_category"}'] == 2
    assert got['churn_rejected_rows_total{code="negative_value"}'] == 1
    assert got['churn_rejected_rows_total{code="missing_field"}'] == 1
    assert got['churn_rejected_rows_total{code="not_an_object"}'] == 1
    assert got['churn_unknown_categories_total{field="contract"}'] == 2
    assert got['churn_window_rows{kind="seen"}'] == 6
    assert got["churn_recent_unknown_category_ratio"] == pytest.approx(2 / 6)
    assert got['churn_model_info{model_version="' + client.application.extensions["churn"].model.version + '"}'] == 1


def test_recent_churn_rate_follows_the_decisions(model: LoadedModel, training_rows: list[dict[str, Any]]) -> None:
    metrics = Metrics(model, threshold=0.5)
    probabilities = model.scorer.probabilities(training_rows)
    metrics.observer.observe(training_rows, probabilities, ())
    got = samples(metrics.render().decode())
    assert got["churn_recent_churn_rate"] == pytest.approx(float(np.mean(probabilities >= 0.5)))
    assert 0.1 < got["churn_recent_churn_rate"] < 0.5


def test_training_like_traffic_shows_no_drift(model: LoadedModel, training_rows: list[dict[str, Any]]) -> None:
    metrics = Metrics(model, threshold=0.5)
    metrics.observer.observe(training_rows, model.scorer.probabilities(training_rows), ())
    psis = {k: v for k, v in samples(metrics.render().decode()).items() if k.startswith("churn_drift_psi")}
    assert len(psis) == len(features.FIELDS)
    assert max(psis.values()) < 0.1  # the usual "no shift" threshold


def test_a_shifted_population_drifts(model: LoadedModel, training_rows: list[dict[str, Any]]) -> None:
    metrics = Metrics(model, threshold=0.5)
    shifted = [{**row, "contract": "month-to-month", "tenure": row["tenure"] / 10} for row in training_rows]
    metrics.observer.observe(shifted, model.scorer.probabilities(shifted), ())
    got = samples(metrics.render().decode())
    assert got['churn_drift_psi{field="contract"}'] > 0.25
    assert got['churn_drift_psi{field="tenure"}'] > 0.25
    assert got['churn_drift_psi{field="gender"}'] < 0.1


def test_no_psi_from_a_handful_of_rows(model: LoadedModel, training_rows: list[dict[str, Any]]) -> None:
    metrics = Metrics(model, threshold=0.5)
    few = training_rows[: MIN_PSI_ROWS - 1]
    metrics.observer.observe(few, model.scorer.probabilities(few), ())
    assert "churn_drift_psi{" not in metrics.render().decode()


def test_an_observer_failure_never_fails_a_prediction(model: LoadedModel) -> None:
    metrics = Metrics(model, threshold=0.5)
    metrics.observer.observe([{"contract": "not validated"}], np.array([0.3]), ())  # logged, not raised


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    assert psi([0.5, 0.5], [50, 50]) == pytest.approx(0)
    assert psi([0.5, 0.5], [60, 40]) < psi([0.5, 0.5], [90, 10])
    assert psi([0.5, 0.5], [0, 0]) is None


def test_the_window_forgets_old_rows_by_whole_chunks() -> None:
    window = Window(size=2, chunk_rows=10, chunks=3)
    for _ in range(30):
        window.add([0], rows=1)
    for _ in range(25):
        window.add([1], rows=1)
    assert window.totals() == [0, 25]  # the last 2 full chunks and the current one: the 0s aged out
    window.add([1, 1], rows=5)
    assert window.totals() == [0, 17]  # the current chunk closed, the oldest one went


def test_bins_match_the_training_distribution(model: LoadedModel) -> None:
    bins = Bins(model.metadata["training_distribution"], model.vocabulary)
    fields = [b.field for b in bins.bins]
    assert set(fields) == set(features.FIELDS)
    for field in features.FIELDS:
        assert sum(b.expected for b in bins.bins if b.field == field) == pytest.approx(1)
    customer = {f: model.vocabulary[f][-1] for f in features.CATEGORICAL}
    customer.update(tenure=0.0, monthlycharges=1e6, totalcharges=100.0)
    chosen = [bins.bins[i] for i in bins.indexes(customer)]
    assert [b.field for b in chosen] == list(features.FIELDS)
    assert chosen[-3].label.startswith("[-inf") and chosen[-2].label.endswith("+inf)")


WRITE_METRICS = """
from prometheus_client import Counter, Gauge
Gauge("g", "live", multiprocess_mode="livesum").set(5)
Counter("c", "total").inc()
"""


def test_a_dead_process_loses_its_live_gauges_and_keeps_its_counters(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    dead = subprocess.run([sys.executable, "-c", WRITE_METRICS], env=env, check=True)
    assert dead.returncode == 0
    alive = subprocess.Popen([sys.executable, "-c", WRITE_METRICS + "import time; time.sleep(30)"], env=env)
    try:
        deadline = time.monotonic() + 10
        while f"gauge_livesum_{alive.pid}.db" not in os.listdir(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        before = set(os.listdir(tmp_path))
        forget_dead_workers(str(tmp_path))
        after = set(os.listdir(tmp_path))
    finally:
        alive.kill()
        alive.wait()
    gone = before - after
    assert len(gone) == 1 and next(iter(gone)).startswith("gauge_livesum_")
    assert f"gauge_livesum_{alive.pid}.db" in after
    assert sum(name.startswith("counter_") for name in after) == 2


def test_a_killed_process_not_yet_reaped_loses_its_live_gauges_too(tmp_path: Path) -> None:
    """A zombie still answers kill(pid, 0); the server may take a while to reap its killed worker."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    sleeper = subprocess.Popen([sys.executable, "-c", WRITE_METRICS + "import time; time.sleep(30)"], env=env)
    try:
        deadline = time.monotonic() + 10
        while f"gauge_livesum_{sleeper.pid}.db" not in os.listdir(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        sleeper.kill()
        while not is_zombie(sleeper.pid):
            assert time.monotonic() < deadline, "the killed process did not become a zombie"
            time.sleep(0.01)
        forget_dead_workers(str(tmp_path))  # before the wait() below reaps it
        left = set(os.listdir(tmp_path))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert f"gauge_livesum_{sleeper.pid}.db" not in left
    assert f"counter_{sleeper.pid}.db" in left


def emitter_of(metrics: Metrics, queue_length: Any = None) -> tuple[Emitter, io.StringIO]:
    out = io.StringIO()
    return Emitter(metrics, "test-env", queue_length, out), out


def by_route(docs: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    return {(d["Route"], d["StatusClass"]): d["Requests"] for d in docs if "Requests" in d}


def test_emf_lines_count_each_request_in_one_interval_only(client: Any) -> None:
    emitter, out = emitter_of(client.application.extensions["churn.server.metrics"])
    client.post("/predict", json=make_customer())
    client.post("/predict", json=make_customer(contract="weekly"))
    client.post("/v1/predict", json={"customers": [make_customer(), make_customer(gender=None), "x"]})
    client.get("/nowhere")
    first = emitter.emit()
    assert by_route(first) == {("/predict", "2xx"): 1, ("/predict", "4xx"): 1, ("/v1/predict", "2xx"): 1,
                               ("unmatched", "4xx"): 1}  # fmt: skip
    assert {d["Code"]: d["RowsRejected"] for d in first if "Code" in d} == {
        "unknown_category": 1, "missing_field": 1, "not_an_object": 1}  # fmt: skip
    scoring = first[0]
    assert (scoring["Predictions"], scoring["ModelVersion"]) == (
        2,
        client.application.extensions["churn"].model.version,
    )
    client.post("/predict", json=make_customer())
    second = emitter.emit()
    assert by_route(second) == {("/predict", "2xx"): 1}  # only what came after the first interval
    assert second[0]["Predictions"] == 1 and not any("Code" in d for d in second)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(first) + len(second)
    assert all(emf_problems(line) == [] for line in lines)
    assert [json.loads(line) for line in lines] == first + second


def refused(model: LoadedModel, rows: int) -> list[InvalidCustomer]:
    """What validation makes of rows that are no customers."""
    validator = CustomerValidator(model.contract())
    out = []
    for _ in range(rows):
        with pytest.raises(InvalidCustomer) as refusal:
            validator.validate("not a customer")
        out.append(refusal.value)
    return out


def test_emf_drift_and_ratios_are_the_figures_of_metrics(
    model: LoadedModel, training_rows: list[dict[str, Any]]
) -> None:
    metrics = Metrics(model, threshold=0.5)
    shifted = [{**row, "contract": "month-to-month"} for row in training_rows]
    metrics.observer.observe(shifted, model.scorer.probabilities(shifted), ())
    metrics.observer.observe([], np.array([]), refused(model, 20))
    rendered = samples(metrics.render().decode())
    docs = emitter_of(metrics)[0].emit()
    psi = {d["Field"]: d["DriftPSI"] for d in docs if "DriftPSI" in d}
    assert psi == {k[len('churn_drift_psi{field="') : -2]: v for k, v in rendered.items() if "drift_psi{" in k}
    assert psi["contract"] > 0.25
    scoring = docs[0]
    assert scoring["DriftPSIMax"] == max(psi.values())
    assert scoring["ChurnRate"] == rendered["churn_recent_churn_rate"]
    assert scoring["RejectedRowRatio"] == pytest.approx(20 / (len(shifted) + 20))


def test_emf_leaves_out_the_window_figures_of_a_handful_of_rows(model: LoadedModel) -> None:
    metrics = Metrics(model, threshold=0.5)
    metrics.observer.observe([], np.array([]), refused(model, MIN_PSI_ROWS - 1))
    docs = emitter_of(metrics)[0].emit()
    assert "RejectedRowRatio" not in docs[0] and "DriftPSIMax" not in docs[0]
    assert not any("DriftPSI" in d for d in docs)


ANY_LATENCY = st.one_of(st.floats(0, 0.01), st.floats(0, 1), st.floats(0, 30), st.sampled_from(LATENCY_BUCKETS))
# Mostly fast requests and a few slow ones: the tail a p99 must find, and a p90 or a mean would miss.
FAST_WITH_A_TAIL = st.builds(
    lambda fast, slow: fast + slow, st.lists(st.floats(0, 0.05), max_size=300), st.lists(ANY_LATENCY, max_size=6)
)
LATENCIES = st.one_of(st.lists(ANY_LATENCY, max_size=300), FAST_WITH_A_TAIL).filter(bool)


@settings(max_examples=100, deadline=None)
@given(LATENCIES)
@example([0.001] * 99 + [5.0])
def test_emf_p99_lies_in_the_bucket_of_the_true_p99(model: LoadedModel, seconds: list[float]) -> None:
    metrics = Metrics(model, threshold=0.5)
    for value in seconds:
        metrics.record_request("/predict", "200", value)
    (doc,) = [d for d in emitter_of(metrics)[0].emit() if "Requests" in d]
    true_p99 = sorted(seconds)[math.ceil(0.99 * len(seconds)) - 1]
    upper = next((b for b in LATENCY_BUCKETS if true_p99 <= b), math.inf)
    lower = max((b for b in LATENCY_BUCKETS if b < true_p99), default=0.0)
    if math.isinf(upper):  # past the last bound, the buckets only know that bound
        assert doc["LatencyP99"] == LATENCY_BUCKETS[-1]
    else:
        assert lower <= doc["LatencyP99"] <= upper


def test_a_counter_that_went_down_was_reset_and_counts_whole() -> None:
    key = ("churn_predictions_total", (("decision", "churn"),))
    assert deltas({key: 7.0}, {key: 5.0}) == {key: 2.0}
    assert deltas({key: 3.0}, {key: 5.0}) == {key: 3.0}
    assert deltas({key: 3.0}, {}) == {key: 3.0}


def test_an_unreachable_redis_leaves_out_the_queue_length_only(model: LoadedModel) -> None:
    settings_ = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout=0.5)
    read = queue_reader(settings_)
    assert read is not None and read() is None
    docs = emitter_of(Metrics(model, threshold=0.5), read)[0].emit()
    assert docs and not any("JobsQueued" in d for d in docs)
    assert queue_reader(Settings()) is None  # no Redis configured: no queue to read


def test_an_emf_failure_never_stops_the_server(model: LoadedModel, caplog: pytest.LogCaptureFixture) -> None:
    emitter, out = emitter_of(Metrics(model, threshold=0.5))
    out.close()
    with caplog.at_level(logging.ERROR, "churn.emf"):
        emitter.emit_safely()
    assert "not written" in caplog.text
