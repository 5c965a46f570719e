"""The container and Elastic Beanstalk files, checked without running anything: Dockerfile lint and
facts, the pipenv pin, the offline .ebextensions check (and that it catches mistakes), config.yml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from churn.core.model import card_path, metadata_path
from churn.errors import Code
from tests.conftest import MODEL_PATH, PROJECT

sys.path.insert(0, str(PROJECT / "scripts"))
import check_ebextensions

DOCKERFILE = (PROJECT / "Dockerfile").read_text()


def test_dockerfile_pins_the_same_pipenv_as_the_scripts() -> None:
    in_docker = re.search(r"^ARG PIPENV_VERSION=(\S+)", DOCKERFILE, re.M)
    in_scripts = re.search(r"^PIPENV_VERSION=(\S+)", (PROJECT / "scripts" / "lib.sh").read_text(), re.M)
    assert in_docker and in_scripts
    assert in_docker.group(1) == in_scripts.group(1)


def test_hadolint_is_clean_at_warning_level() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run(
        [str(hadolint), "--failure-threshold", "warning", "Dockerfile"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_runs_the_shipped_server_as_a_non_root_user() -> None:
    assert re.search(r"^FROM python:3\.11-slim$", DOCKERFILE, re.M)
    assert "pipenv install --deploy --system" in DOCKERFILE
    assert re.search(r"^EXPOSE 9696$", DOCKERFILE, re.M)
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r'^ENTRYPOINT \["python", "churn_serving.py"\]$', DOCKERFILE, re.M)
    healthcheck = DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :]
    assert "/readyz" in healthcheck.split("\n\n")[0] and "curl" not in healthcheck


def test_the_image_and_the_eb_bundle_carry_the_model_its_metadata_and_its_card() -> None:
    # The service reads all three at start-up (GET /model serves the card): each is copied into /app and
    # let through by both allow-lists, the build context's and the EB bundle's.
    copied = {s for line in re.findall(r"^COPY (?!--from=)(.+) \./$", DOCKERFILE, re.M) for s in line.split()}
    allowed = [(PROJECT / name).read_text().splitlines() for name in (".dockerignore", ".ebignore")]
    for path in (MODEL_PATH, metadata_path(MODEL_PATH), card_path(MODEL_PATH)):
        assert path.name in copied, path.name
        assert all(f"!{path.name}" in lines for lines in allowed), path.name


def test_no_committed_file_names_a_package_registry() -> None:
    listing = ["git", "ls-files", "-co", "--exclude-standard"]
    files = subprocess.run(listing, cwd=PROJECT, capture_output=True, text=True, check=True)
    hosts = re.compile(r"pypi\.org|pythonhosted\.org|deb\.debian\.org|security\.debian\.org")
    offenders = [
        name
        for name in files.stdout.split()
        if (PROJECT / name).is_file()
        and not name.endswith((".bin", ".csv"))
        and hosts.search((PROJECT / name).read_text(errors="replace"))
    ]
    assert offenders == []


def test_eb_config_names_the_full_docker_platform_branch() -> None:
    config = yaml.safe_load((PROJECT / ".elasticbeanstalk" / "config.yml").read_text())
    assert config["global"]["application_name"] == "churn-serving"
    assert config["global"]["default_platform"] == "Docker running on 64bit Amazon Linux 2023"
    assert config["global"]["default_region"]
    assert config["branch-defaults"]["main"]["environment"] == "churn-serving-env"


def test_the_committed_configuration_passes_the_offline_check() -> None:
    assert check_ebextensions.check(PROJECT) == []


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The files the check reads, in a scratch folder the test may break."""
    for name in ("Dockerfile", ".ebextensions", ".platform"):
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("file", "old", "new", "complaint"),
    [
        ("01-environment.config", "UpperThreshold: 60", "UperThreshold: 60", "UperThreshold is not a documented"),
        ("01-environment.config", "MeasureName: CPUUtilization", "MeasureName: CPU", "outside the documented"),
        ("04-logs.config", "RetentionInDays: 30\n  aws", "RetentionInDays: 31\n  aws", "RetentionInDays = '31'"),
        ("02-health.config", "HealthyThresholdCount: 2", "HealthyThresholdCount: 11", "outside the documented"),
        ("05-app-env.config", "PORT: 9696", "PORT: 8080", "is not the Dockerfile's EXPOSE"),
        ("02-health.config", "Port: 80", "Port: 9696", "must target nginx on port 80"),
        ("02-health.config", "IdleTimeout: 55", "IdleTimeout: 40", "timeouts must grow"),
        ("01-environment.config", "MinSize: 2", "MinSize: 8", "MinSize > MaxSize"),
        ("01-environment.config", "BreachDuration: 5", "BreachDuration: 4", "BreachDuration must equal"),
        ("05-app-env.config", "CHURN_GRACEFUL_TIMEOUT: 20", "CHURN_GRACEFUL_TIMEOUT: 40", "DeregistrationDelay"),
    ],
)
def test_the_offline_check_catches_a_broken_copy(
    project_copy: Path, file: str, old: str, new: str, complaint: str
) -> None:
    edit(project_copy / ".ebextensions" / file, old, new)
    errors = check_ebextensions.check(project_copy)
    assert any(complaint in e for e in errors), errors


def test_the_offline_check_catches_an_expose_that_moved(project_copy: Path) -> None:
    edit(project_copy / "Dockerfile", "EXPOSE 9696", "EXPOSE 8000")
    assert any("EXPOSE ['8000']" in e for e in check_ebextensions.check(project_copy))


@pytest.mark.parametrize("size", ["17m", "1m"])
def test_the_offline_check_wants_nginx_to_admit_exactly_the_largest_body(project_copy: Path, size: str) -> None:
    edit(project_copy / ".platform" / "nginx" / "conf.d" / "churn-serving.conf", "16m", size)
    assert any("client_max_body_size" in e for e in check_ebextensions.check(project_copy))


def test_the_offline_check_fails_from_the_command_line(project_copy: Path) -> None:
    edit(project_copy / ".ebextensions" / "02-health.config", "HealthCheckPath", "HealthCheckPth")
    script = PROJECT / "scripts" / "check_ebextensions.py"
    done = subprocess.run([sys.executable, str(script), str(project_copy)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "HealthCheckPth is not a documented option" in done.stdout


def test_nginx_answers_its_own_errors_with_the_services_codes() -> None:
    conf = (PROJECT / ".platform/nginx/conf.d/elasticbeanstalk/churn-errors.conf").read_text()
    bodies = re.findall(r"return (\d{3}) '(.*)';", conf)
    assert len(bodies) >= 4
    codes = {v for k, v in vars(Code).items() if k.isupper()}
    for status, body in bodies:
        error = json.loads(body)["error"]
        assert set(error) == {"code", "message", "details"} and error["code"] in codes, status
    assert "include churn-errors.conf;" in (PROJECT / "nginx/churn.conf.template").read_text()
