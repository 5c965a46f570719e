"""CloudWatch metric lines (EMF) from the real server with two workers, after real traffic.

The lines must be valid EMF (AWS's schema and the specification's other rules), count exactly the
requests sent (one process writes them: two would count every request twice), tell the PSI and the
ratios /metrics reports, and carry the last interval written at shutdown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from tests.conftest import DATA_PATH, Server, make_customer
from tests.support.emf_check import emf_documents, emf_problems
from tests.support.ops_support import wait_for_workers
from tests.support.servers import RedisServer

pytestmark = pytest.mark.server
ENVIRONMENT = "emf-test"
PIPE_BUF = 4096  # a longer line could interleave with a worker's log line on the container's stdout
CLOSE = {"Connection": "close"}  # a new connection per request, so both workers get some
BAD_ROWS = [make_customer(contract="weekly"), make_customer(tenure=-3), "not a customer"]
BAD_CODES = {"unknown_category": 1, "negative_value": 1, "not_an_object": 1}  # per batch


@dataclass
class Run:
    sent: dict[tuple[str, str], int]  # (route, status class) -> requests sent
    scored: int
    settled: dict[str, float]  # a /metrics scrape once the traffic was over
    settled_ms: int  # when it was taken
    final: dict[str, float]  # the last scrape before the stop
    output: str  # everything the server printed


def scrape(server: Server) -> dict[str, float]:
    text = requests.get(server.url + "/metrics", headers=CLOSE, timeout=10).text
    return {name: float(value) for name, value in re.findall(r"^(\S+) (\S+)$", text, re.MULTILINE)}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("emf")
    store = RedisServer(tmp).start()  # no RQ worker: the jobs submitted stay queued
    metrics_dir = tmp / "metrics"
    env = {"CHURN_METRICS_EMF": "1", "CHURN_METRICS_EMF_INTERVAL": "1", "CHURN_METRICS_ENVIRONMENT": ENVIRONMENT,
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "REDIS_URL": store.url}  # fmt: skip
    server = Server(env=env).start()
    try:
        yield traffic(server, metrics_dir)
    finally:
        server.stop()
        store.stop()


def traffic(server: Server, metrics_dir: Path) -> Run:
    workers = set(wait_for_workers(server, 2))
    rows = pd.read_csv(DATA_PATH).sample(400, random_state=12).to_dict("records")  # raw CRM rows
    sent: dict[tuple[str, str], int] = {}

    def send(route: str, status: int, method: str = "POST", **kwargs: Any) -> None:
        response = requests.request(method, server.url + route, headers=CLOSE, timeout=30, **kwargs)
        assert response.status_code == status, response.text
        key = ("unmatched" if route == "/nowhere" else route, f"{status // 100}xx")
        sent[key] = sent.get(key, 0) + 1

    batches = 0
    while batches < 4 or not workers <= {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}:
        assert batches < 200, "one worker never got a request"
        batch = rows[(batches * 50) % 400 :][:50]
        send("/v1/predict", 200, json={"customers": [*batch, *BAD_ROWS]})
        send("/predict", 200, json=batch[0])
        send("/predict", 422, json=make_customer(contract="weekly"))
        send("/nowhere", 404, method="GET")
        batches += 1
    for _ in range(2):
        send("/v1/jobs", 202, json={"customers": [make_customer()]})
    scored = batches * 51
    deadline = time.monotonic() + 15
    while (settled := scrape(server)).get('churn_window_rows{kind="seen"}') != batches * 55:
        assert time.monotonic() < deadline, "the workers' windows never added up"
        time.sleep(0.2)
    settled_ms = int(time.time() * 1000)
    wait_for_line(server, settled_ms)
    final = scrape(server)
    return Run(sent, scored, settled, settled_ms, final, server.stop())


def wait_for_line(server: Server, after_ms: int) -> None:
    """Until the server has written an interval read after the given time."""
    deadline = time.monotonic() + 15
    while not any(d["_aws"]["Timestamp"] > after_ms for d in emf_documents(server.log.read_text())):
        assert time.monotonic() < deadline, "no metric line after the traffic"
        time.sleep(0.2)


def docs_with(run: Run, metric: str) -> list[dict[str, Any]]:
    return [d for d in emf_documents(run.output) if metric in d]


def test_every_line_is_valid_emf_and_short(run: Run) -> None:
    lines = [line for line in run.output.splitlines() if '"_aws"' in line]
    assert len(lines) > 10
    for line in lines:
        assert emf_problems(line) == [], line
        assert len(line.encode()) < PIPE_BUF
    for doc in emf_documents(run.output):
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ChurnServing"
        assert doc["Environment"] == ENVIRONMENT


def test_counts_equal_the_requests_sent(run: Run) -> None:
    counted: dict[tuple[str, str], float] = {}
    for doc in docs_with(run, "Requests"):
        key = (doc["Route"], doc["StatusClass"])
        counted[key] = counted.get(key, 0) + doc["Requests"]
    for key, sent in run.sent.items():
        assert counted.get(key) == sent, key
    requests_total = sum(v for k, v in run.final.items() if k.startswith("churn_http_requests_total"))
    assert sum(counted.values()) == requests_total + 1  # + the last scrape itself
    assert sum(d["Predictions"] for d in docs_with(run, "Predictions")) == run.scored
    assert (
        sum(d["Churners"] for d in docs_with(run, "Churners")) == run.final['churn_predictions_total{decision="churn"}']
    )
    rejected: dict[str, float] = {}
    for doc in docs_with(run, "RowsRejected"):
        rejected[doc["Code"]] = rejected.get(doc["Code"], 0) + doc["RowsRejected"]
    batches = run.sent[("/v1/predict", "2xx")]
    assert rejected == {
        code: n * batches + (batches if code == "unknown_category" else 0) for code, n in BAD_CODES.items()
    }


def latest(run: Run, metric: str) -> dict[str, Any]:
    """The last interval's document holding the metric, read after the traffic had settled."""
    docs = [d for d in docs_with(run, metric) if d["_aws"]["Timestamp"] > run.settled_ms]
    assert docs, f"no {metric} after the traffic"
    return docs[0]


def test_psi_and_ratios_are_those_metrics_reports(run: Run) -> None:
    psi = {k[len('churn_drift_psi{field="') : -2]: v for k, v in run.settled.items() if k.startswith("churn_drift_psi")}
    assert len(psi) == 19
    emitted = {d["Field"]: d["DriftPSI"] for d in docs_with(run, "DriftPSI") if d["_aws"]["Timestamp"] > run.settled_ms}
    assert emitted.keys() == psi.keys()
    for field, value in psi.items():
        assert emitted[field] == pytest.approx(value, rel=1e-12, abs=1e-15), field
    scoring = latest(run, "Predictions")
    assert scoring["DriftPSIMax"] == pytest.approx(max(psi.values()), rel=1e-12)
    assert scoring["ChurnRate"] == pytest.approx(run.settled["churn_recent_churn_rate"], rel=1e-12)
    assert scoring["UnknownCategoryRatio"] == pytest.approx(
        run.settled["churn_recent_unknown_category_ratio"], rel=1e-12
    )
    seen, scored = run.settled['churn_window_rows{kind="seen"}'], run.settled['churn_window_rows{kind="scored"}']
    assert scoring["RejectedRowRatio"] == pytest.approx((seen - scored) / seen, rel=1e-12)
    versions = {k for k in run.settled if k.startswith("churn_model_info")}
    assert versions == {f'churn_model_info{{model_version="{scoring["ModelVersion"]}"}}'}


def test_the_queue_length_is_read_from_redis(run: Run) -> None:
    assert latest(run, "JobsQueued")["JobsQueued"] == 2  # both jobs wait: no RQ worker runs


def test_the_last_interval_is_written_after_the_workers_stopped(run: Run) -> None:
    lines = run.output.splitlines()
    stopped = max(i for i, line in enumerate(lines) if "Stopped worker" in line)
    assert any('"Predictions"' in line for line in lines[stopped:])
