"""The container and Elastic Beanstalk files, checked without running anything: Dockerfile lint and
facts, the pipenv pin, the offline .ebextensions check (and that it catches mistakes), config.yml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from churn.core.model import card_path, metadata_path
from churn.errors import Code
from tests.conftest import MODEL_PATH, PROJECT

sys.path.insert(0, str(PROJECT / "scripts"))
import check_ebextensions
import eb_deploy_config
import ebextensions_templates

import supervise

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
    # supervise.py execs churn_serving.py unless asked for workers (tests/system/test_supervise.py)
    assert re.search(r'^ENTRYPOINT \["python", "supervise.py"\]$', DOCKERFILE, re.M)
    healthcheck = DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :]
    assert 'CMD ["python", "supervise.py", "--check"]' in healthcheck.split("\n\n")[0]
    assert "/readyz" in (PROJECT / "supervise.py").read_text() and "curl" not in healthcheck


def test_the_image_and_the_eb_bundle_carry_the_model_its_metadata_and_its_card() -> None:
    # The service reads all three at start-up (GET /model serves the card): each is copied into /app and
    # let through by both allow-lists, the build context's and the EB bundle's.
    copied = {s for line in re.findall(r"^COPY (?!--from=)(.+) \./$", DOCKERFILE, re.M) for s in line.split()}
    allowed = [(PROJECT / name).read_text().splitlines() for name in (".dockerignore", ".ebignore")]
    for path in (MODEL_PATH, metadata_path(MODEL_PATH), card_path(MODEL_PATH)):
        assert path.name in copied, path.name
        assert all(f"!{path.name}" in lines for lines in allowed), path.name


# Package indexes, apt mirrors and container registries: each is reached through the machine's own
# configuration (pip's, apt's, podman's short names), never a host written in the project.
REGISTRY_HOSTS = re.compile(
    r"pypi\.org|pythonhosted\.org|deb\.debian\.org|security\.debian\.org|registry\.npmjs\.org"
    r"|docker\.io|docker\.com|quay\.io|ghcr\.io|gcr\.io|registry\.k8s\.io|public\.ecr\.aws|\.dkr\.ecr\."
)


@pytest.mark.parametrize(
    "line",
    [
        "FROM " + "docker" + ".io/library/python:3.11-slim",
        "registry=$account" + ".dkr.ecr" + ".eu-west-1.amazonaws.com",
        "image: " + "ghcr" + ".io/owner/name:tag",
        "index-url = https://" + "pypi" + ".org/simple",
    ],
)
def test_the_registry_check_knows_each_kind_of_host(line: str) -> None:
    # Split literals: this file must not itself name a host.
    assert REGISTRY_HOSTS.search(line)


def test_no_committed_file_names_a_package_or_container_registry() -> None:
    listing = ["git", "ls-files", "-co", "--exclude-standard"]
    files = subprocess.run(listing, cwd=PROJECT, capture_output=True, text=True, check=True)
    hosts = REGISTRY_HOSTS
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


def test_the_check_allows_as_many_embedded_workers_as_supervise_runs() -> None:
    assert check_ebextensions.MAX_EMBEDDED_WORKERS == supervise.MAX_WORKERS


# The prerequisites stack's outputs (infra/prereqs.yaml), as `make deploy` reads them.
OUTPUTS = {
    "ServiceRoleName": "prereqs-ServiceRole-1",
    "InstanceProfileName": "prereqs-InstanceProfile-1",
    "InstanceSecurityGroupId": "sg-0a1",
    "LoadBalancerSecurityGroupId": "sg-0b2",
    "VpcId": "vpc-0c3",
    "SubnetIds": "subnet-0d4,subnet-0e5",
    "RedisUrlSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-url-AbCdEf",
    "ApiKeysSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-keys-AbCdEf",
    "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:alarms",
}
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def test_every_output_the_deploy_reads_is_an_output_of_the_prerequisites_template() -> None:
    text = (PROJECT / "infra" / "prereqs.yaml").read_text()
    outputs = text[text.index("\nOutputs:") :]
    assert all(re.search(rf"^  {name}:$", outputs, re.M) for name in OUTPUTS)


def deploy_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[int, dict[str, Any]]:
    for name in ("EB_CERTIFICATE_ARN", "EB_SCHEME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps([{"OutputKey": k, "OutputValue": v} for k, v in OUTPUTS.items()]))
    saved = tmp_path / "env.cfg.yml"
    status = eb_deploy_config.main(["eb_deploy_config.py", str(outputs), str(saved)])
    return status, (yaml.safe_load(saved.read_text())["OptionSettings"] if saved.exists() else {})


def test_with_a_certificate_the_deploy_is_internet_facing_https_and_redirects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, settings = deploy_config(tmp_path, monkeypatch, EB_CERTIFICATE_ARN=CERTIFICATE)
    assert status == 0
    assert settings["aws:ec2:vpc"]["ELBScheme"] == "public"
    assert settings["aws:elbv2:listener:443"]["SSLCertificateArns"] == CERTIFICATE
    assert settings["aws:elasticbeanstalk:customoption"]["HttpsRedirectHosts"] == "*"
    assert settings["aws:elbv2:loadbalancer"]["ManagedSecurityGroup"] == OUTPUTS["LoadBalancerSecurityGroupId"]
    assert settings["aws:elasticbeanstalk:application:environment"]["ALARM_TOPIC_ARN"] == OUTPUTS["AlarmTopicArn"]
    secrets = settings["aws:elasticbeanstalk:application:environmentsecrets"]
    assert secrets == {"REDIS_URL": OUTPUTS["RedisUrlSecretArn"], "CHURN_API_KEYS": OUTPUTS["ApiKeysSecretArn"]}


def test_without_a_certificate_the_deploy_is_internal_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, settings = deploy_config(tmp_path, monkeypatch)
    assert status == 0
    assert settings["aws:ec2:vpc"]["ELBScheme"] == "internal"
    assert "aws:elbv2:listener:443" not in settings and "aws:elasticbeanstalk:customoption" not in settings


def test_an_internet_facing_deploy_without_a_certificate_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, settings = deploy_config(tmp_path, monkeypatch, EB_SCHEME="public")
    assert status == 1 and settings == {}
    assert "needs the HTTPS listener" in capsys.readouterr().err


def saved(tmp_path: Path, settings: dict[str, dict[str, str]]) -> Path:
    path = tmp_path / "saved.cfg.yml"
    path.write_text(yaml.safe_dump(eb_deploy_config.saved_config(settings)))
    return path


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda s: s["aws:elbv2:listener:443"].pop("SSLCertificateArns"), "needs its Protocol, SSLCertificateArns"),
        (lambda s: s["aws:elbv2:listener:443"].update(SSLPolicy="ELBSecurityPolicy-2016-08"), "SSLPolicy"),
        (lambda s: s["aws:elbv2:listener:443"].update(SSLCertificateArns="my-cert"), "SSLCertificateArns"),
        (lambda s: s.pop("aws:elasticbeanstalk:customoption"), "HTTP must be redirected exactly when"),
        (lambda s: s["aws:elbv2:listener:443"].update(ListenerEnabled="false"), "needs the HTTPS listener"),
        (lambda s: s["aws:elbv2:loadbalancer"].update(ManagedSecurityGroup="sg-0ff"), "must be one of its"),
        (
            lambda s: s["aws:elasticbeanstalk:application:environment"].update(REDIS_URL="rediss://:t@h:6379/0"),
            "REDIS_URL is a secret",
        ),
        (lambda s: s["aws:elasticbeanstalk:application:environment"].update(ALARM_TOPIC_ARN="alarms"), "SNS topic"),
        (
            lambda s: s["aws:elasticbeanstalk:application:environment"].update(CHURN_EMBEDDED_WORKERS="9"),
            "supervise.py runs 0 to 8",
        ),
        (lambda s: s["aws:ec2:vpc"].update(ELBScheme="internet-facing"), "ELBScheme"),
    ],
)
def test_the_access_rules_catch_an_unsafe_saved_configuration(tmp_path: Path, change: Any, complaint: str) -> None:
    settings = eb_deploy_config.option_settings(OUTPUTS, CERTIFICATE, "public")
    assert check_ebextensions.check(PROJECT, saved(tmp_path, settings)) == []
    change(settings)
    errors = check_ebextensions.check(PROJECT, saved(tmp_path, settings))
    assert any(complaint in e for e in errors), errors


def test_resources_that_read_an_option_nothing_sets_are_caught(project_copy: Path) -> None:
    edit(project_copy / ".ebextensions" / "07-https.config", "OptionName: HttpsRedirectHosts", "OptionName: Hosts")
    errors = check_ebextensions.check(project_copy)
    assert any("read the option aws:elasticbeanstalk:customoption / Hosts, which nothing sets" in e for e in errors)


def test_ebextensions_resources_become_templates_with_stand_ins_for_elastic_beanstalks_own(tmp_path: Path) -> None:
    ebextensions_templates.main(["ebextensions_templates.py", str(tmp_path), str(PROJECT)])
    template = yaml.safe_load((tmp_path / "07-https.yaml").read_text())
    resources = template["Resources"]
    assert resources["AWSEBV2LoadBalancerListener"]["Type"] == "AWS::ElasticLoadBalancingV2::Listener"
    assert resources["AWSEBV2LoadBalancer"]["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
    condition = resources["ChurnHttpToHttps"]["Properties"]["Conditions"][0]["HostHeaderConfig"]["Values"][0]
    assert template["Parameters"][condition["Ref"]]["Default"] == check_ebextensions.HTTPS_REDIRECT_OFF


def test_resources_naming_an_elastic_beanstalk_resource_without_a_stand_in_are_refused() -> None:
    resources = {"Rule": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "AWSEBRDSDatabase"}}}}
    with pytest.raises(SystemExit, match="AWSEBRDSDatabase"):
        ebextensions_templates.template(resources, "x.config")
