"""`make container-test`: run the built image, check it like Elastic Beanstalk would use it, report.

The first container is checked; it and STARTS - 1 more are timed from start to ready, and the
median is the figure reported.

Usage: python -m tests.support.container_check IMAGE   (after scripts/container-build.sh; exit 1 on a failure)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import requests

from churn.core.model import load_model
from churn.core.service import ChurnService
from churn.core.training import REFERENCE_CUSTOMER
from tests.conftest import MODEL_PATH, PROJECT
from tests.support.container_support import Container, image_size_mb

READY_GOAL_S = 2.0
# Starts timed: one start's figure moves by half a second with what the machine is doing; their median does not.
STARTS = 5
REPORT = PROJECT / "build" / "container-report.json"  # the last run's figures, which `make bench` reports


@dataclass
class Report:
    ready_s: float  # the median over every start timed
    ready_every_s: list[float]
    image_mb: float
    container_probability: float
    model_probability: float
    user: str
    exit_code: int
    shutdown_logged: bool

    def failures(self) -> list[str]:
        problems = []
        if self.container_probability != self.model_probability:
            problems.append(f"/predict gave {self.container_probability}, the model {self.model_probability}")
        if self.user in {"", "0", "root"}:
            problems.append(f"the service runs as {self.user or 'nobody knows'}")
        if self.exit_code != 0 or not self.shutdown_logged:
            problems.append(f"SIGTERM: exit code {self.exit_code}, shutdown logged: {self.shutdown_logged}")
        return problems


def in_process_probability() -> float:
    """What the same model file gives in this process, through the same service code."""
    return float(ChurnService(load_model(MODEL_PATH)).predict_one(REFERENCE_CUSTOMER)["churn_probability"])


def ready_seconds(image: str) -> float:
    """One more start to ready, of a container that is removed again."""
    container = Container(image).start()
    try:
        return container.wait_ready()
    finally:
        container.remove()


def run_checks(image: str, starts: int = STARTS) -> Report:
    container = Container(image).start()
    try:
        ready = [container.wait_ready()]
        answer = requests.post(container.url + "/predict", json=REFERENCE_CUSTOMER, timeout=10)
        answer.raise_for_status()
        user = container.exec("id", "-u").stdout.strip()
        exit_code = container.stop()
        ready += [ready_seconds(image) for _ in range(starts - 1)]
        return Report(
            ready_s=statistics.median(ready),
            ready_every_s=[round(r, 2) for r in ready],
            image_mb=image_size_mb(image),
            container_probability=answer.json()["churn_probability"],
            model_probability=in_process_probability(),
            user=user,
            exit_code=exit_code,
            shutdown_logged="Shutting down granian" in container.logs(),  # granian's line on a clean stop
        )
    finally:
        container.remove()


def main(argv: list[str]) -> int:
    image = argv[1] if len(argv) > 1 else "localhost/churn-serving:latest"
    report = run_checks(image)
    goal = "within" if report.ready_s <= READY_GOAL_S else "OVER"
    lines = [
        f"image {image}: {report.image_mb:.0f} MB",
        f"start to ready: {report.ready_s:.2f} s, the median of {len(report.ready_every_s)} starts "
        f"({', '.join(f'{r:.2f}' for r in report.ready_every_s)}; {goal} the {READY_GOAL_S:.0f} s goal)",
        f"/predict reference customer: {report.container_probability} (in-process model: {report.model_probability})",
        f"runs as uid {report.user}; SIGTERM -> exit code {report.exit_code}",
    ]
    failures = report.failures()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({**asdict(report), "image": image, "failures": failures, "at": time.time()}))
    sys.stdout.write("\n".join(lines + [f"FAILED: {f}" for f in failures] + ["container-test: OK" * (not failures)]))
    sys.stdout.write("\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
