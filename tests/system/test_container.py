"""The image under podman, as Elastic Beanstalk runs it: ready, right, non-root, stops cleanly."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from churn.core.features import EXPORT_COLUMNS
from churn.core.training import REFERENCE_CUSTOMER
from tests.conftest import PROJECT
from tests.support.container_check import in_process_probability
from tests.support.container_support import Container, built_image, image_size_mb, podman

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def container() -> Iterator[Container]:
    running = Container(built_image()).start()
    try:
        running.ready_s = running.wait_ready()  # type: ignore[attr-defined]
        yield running
    finally:  # a container that died before it was ready is removed too
        running.remove()


def health_check_path() -> str:
    settings = yaml.safe_load((PROJECT / ".ebextensions" / "02-health.config").read_text())["option_settings"]
    return str(settings["aws:elasticbeanstalk:environment:process:default"]["HealthCheckPath"])


def test_the_load_balancers_health_check_path_answers_200(container: Container) -> None:
    assert requests.get(container.url + health_check_path(), timeout=5).status_code == 200


def test_predict_equals_the_in_process_model(container: Container) -> None:
    answer = requests.post(container.url + "/predict", json=REFERENCE_CUSTOMER, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["churn_probability"] == in_process_probability()


def test_bad_input_gets_the_json_error_through_the_container(container: Container) -> None:
    answer = requests.post(
        container.url + "/predict", data="{", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_json"


def test_the_service_starts_from_bytecode_alone(container: Container) -> None:
    """Every module the API imports is read from a .pyc built into the image: under PYTHONDONTWRITEBYTECODE
    a module read from source is compiled again at every start of every process (the base image's
    standard library comes without bytecode: the Dockerfile compiles it)."""
    done = container.exec("python", "-v", "-c", "import churn_serving")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    loaded = [line for line in lines if line.startswith("# code object from ")]  # python -v: one per module
    assert len(loaded) > 100, done.stderr[-2000:]
    assert [line for line in loaded if not line.endswith(".pyc'")] == []  # else "from /path/module.py"


def test_serve_is_sagemakers_contract_on_port_8080() -> None:
    """`docker run IMAGE serve`: /ping and /invocations on 8080; a headerless CSV line of the CRM export
    (Batch Transform's) gets the in-process probability."""
    running = Container(built_image(), args=("serve",), port=8080).start()
    try:
        running.wait_ready()
        assert requests.get(running.url + "/ping", timeout=5).text.strip() == "PONG"
        line = ",".join(str(REFERENCE_CUSTOMER.get(column, "")) for column in EXPORT_COLUMNS)
        headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
        answer = requests.post(running.url + "/invocations", data=line, headers=headers, timeout=10)
        assert answer.status_code == 200 and float(answer.text.split(",")[0]) == in_process_probability()
        assert podman("healthcheck", "run", running.name, check=False).returncode == 0  # probes 8080, not PORT
    finally:
        running.remove()


def test_every_process_runs_as_the_unprivileged_user(container: Container) -> None:
    assert container.exec("id", "-u").stdout.strip() == "10001"
    users = podman("top", container.name, "user").stdout.split()[1:]
    assert users and set(users) == {"churn"}


def test_the_image_healthcheck_passes(container: Container) -> None:
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0


def test_the_image_holds_the_service_and_only_runtime_packages(container: Container) -> None:
    files = set(container.exec("ls", "-A", "/app").stdout.split())
    assert files == {"Pipfile", "Pipfile.lock", "churn", "churn_serving.py", "worker.py", "supervise.py"} | {
        "churn-model.bin",
        "churn-model.json",
        "churn-model.html",  # the model card, served at GET /model
        "__pycache__",  # compiled at build time: no process compiles the project's modules again
    }
    assert "service.cpython-311.pyc" in container.exec("ls", "/app/churn/core/__pycache__").stdout.split()
    packages = {line.split()[0].lower() for line in container.exec("pip", "list").stdout.splitlines()[2:]}
    assert {"granian", "flask", "numpy", "redis", "rq"} <= packages
    # the service reads the model without scikit-learn; campaign.py's and training's packages stay out too
    training_and_tools = {"scikit-learn", "scipy", "pyarrow", "pandas", "requests", "pipenv", "pytest", "ruff", "mypy"}
    assert not packages & training_and_tools
    # supervise.py exec'd the API (no CHURN_EMBEDDED_WORKERS): PID 1 is the server itself, as before
    assert container.exec("cat", "/proc/1/cmdline").stdout.split("\0")[1] == "churn_serving.py"


def test_sigterm_stops_the_container_cleanly() -> None:
    running = Container(built_image()).start()
    try:
        running.wait_ready()
        assert running.stop(grace=30) == 0
        assert "Shutting down granian" in running.logs()
    finally:
        running.remove()


def test_report_size_and_start_to_ready(container: Container, record_property: pytest.RecordProperty) -> None:
    """Figures for the CI logs (the 2 s goal is reported, not asserted)."""
    size = image_size_mb(container.image)
    record_property("image_mb", round(size))
    record_property("ready_s", round(container.ready_s, 2))  # type: ignore[attr-defined]
    report = PROJECT / "build" / "container-report.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(f"image {size:.0f} MB, start to ready {container.ready_s:.2f} s\n")  # type: ignore[attr-defined]
    assert size > 0


def test_a_stale_lock_stops_the_build(tmp_path: Path) -> None:
    for name in ("Dockerfile", ".dockerignore", "Pipfile", "Pipfile.lock", "churn_serving.py"):
        shutil.copy(PROJECT / name, tmp_path / name)
    pipfile = tmp_path / "Pipfile"
    pipfile.write_text(pipfile.read_text().replace("[packages]\n", '[packages]\nsix = "*"\n'))
    built_image()  # the base image exists
    done = podman("build", "--format", "docker", "-t", "localhost/churn-serving:stale", str(tmp_path), check=False)
    output = " ".join((done.stdout + done.stderr).split())  # pipenv wraps its lines
    assert done.returncode != 0
    assert "is out of date" in output and "Aborting deploy" in output, output[-2000:]
