"""The EB CLI itself, run offline: `eb local run --port 9696` through podman, and a REHEARSAL of
the prerequisites stack (infra/prereqs.yaml, with the AWS CLI) and eb init / create (with the stack's
outputs) / status / terminate against a local fake of AWS (tests/support/fakes/), each inside a
network namespace with only loopback. What they prove: our commands, flags, platform name and the
source bundle the CLI builds. What they cannot: anything AWS does with them (see docs/deploy.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.support.container_check import in_process_probability
from tests.support.container_support import TEST_IMAGE, built_image

pytestmark = pytest.mark.server


def run_script(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["bash", str(PROJECT / "scripts" / name), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_eb_local_run_serves_predict_and_the_health_check(tmp_path: Path) -> None:
    built_image()  # shared layers: the EB CLI's own build below comes from podman's cache
    out = run_script("eb-local-rehearsal.sh", str(tmp_path / "work"), env={"IMAGE": TEST_IMAGE})
    result = json.loads(re.search(r"^EB_LOCAL_RESULT (.*)$", out, re.M).group(1))  # type: ignore[union-attr]
    assert result["health_path"] == "/readyz"
    assert result["health_status"] == 200
    assert result["predict"]["churn_probability"] == in_process_probability()


def tracked(folder: Path) -> set[str]:
    """The files of a folder that a checkout has (what git lists, not caches)."""
    listing = ["git", "ls-files", "-co", "--exclude-standard", str(folder)]
    return set(subprocess.run(listing, cwd=PROJECT, capture_output=True, text=True, check=True).stdout.split())


def expected_bundle() -> set[str]:
    """What the Dockerfile copies, plus the build and platform configuration: nothing else."""
    dockerfile = (PROJECT / "Dockerfile").read_text()
    # COPY --from=STAGE copies between build stages, not from the bundle
    sources = [s for line in re.findall(r"^COPY (?!--from=)(.+) \S+$", dockerfile, re.M) for s in line.split()]
    files = {"Dockerfile", ".dockerignore"}
    for source in sources:
        path = PROJECT / source
        files |= tracked(path) if path.is_dir() else {source}
    for folder in (".ebextensions", ".platform"):
        files |= {str(p.relative_to(PROJECT)) for p in (PROJECT / folder).rglob("*") if p.is_file()}
    return files


def test_rehearsal_of_prereqs_create_status_terminate_uploads_only_what_the_image_needs(tmp_path: Path) -> None:
    # Stray files a developer's checkout has: none of them may reach the bundle.
    extra = tmp_path / "extra"
    for stray in ("docker-compose.yml", "nginx/nginx.conf", "bench/load.py", ".venv/pyvenv.cfg", ".env", "notes.md"):
        (extra / stray).parent.mkdir(parents=True, exist_ok=True)
        (extra / stray).write_text("stray\n")
    work = tmp_path / "work"
    run_script("eb-rehearsal.sh", str(work), env={"EB_REHEARSAL_EXTRA": str(extra)})
    log = (work / "fake-aws.log").read_text()
    bundle = json.loads(re.search(r"source bundle \S+: (\[.*\])$", log, re.M).group(1))  # type: ignore[union-attr]
    assert {name for name in bundle if not name.endswith("/")} == expected_bundle()
    options = json.loads(re.search(r"CreateEnvironment churn-serving-env options=(.*)$", log, re.M).group(1))  # type: ignore[union-attr]
    sent = {(o["Namespace"], o["OptionName"]): o["Value"] for o in options}
    assert sent[("aws:elasticbeanstalk:environment", "LoadBalancerType")] == "application"
    assert sent[("aws:autoscaling:launchconfiguration", "InstanceType")] == "t3.small"
    # with a saved configuration the EB CLI adds no health setting of its own: .ebextensions's "enhanced" holds
    assert sent.get(("aws:elasticbeanstalk:healthreporting:system", "SystemType"), "enhanced") == "enhanced"
    # the prerequisites stack came first (make aws-prereqs), and eb create got its outputs
    assert log.index("cloudformation:ExecuteChangeSet") < log.index("CreateEnvironment")
    stack = dict(re.findall(r"^(\w+)\t(\S+)$", (work / "aws-prereqs.out").read_text(), re.M))
    assert sent[("aws:elasticbeanstalk:environment", "ServiceRole")] == stack["ServiceRoleName"]
    assert sent[("aws:autoscaling:launchconfiguration", "IamInstanceProfile")] == stack["InstanceProfileName"]
    assert sent[("aws:autoscaling:launchconfiguration", "SecurityGroups")] == stack["InstanceSecurityGroupId"]
    assert sent[("aws:elbv2:loadbalancer", "ManagedSecurityGroup")] == stack["LoadBalancerSecurityGroupId"]
    assert sent[("aws:ec2:vpc", "VPCId")] == stack["VpcId"]
    secrets = "aws:elasticbeanstalk:application:environmentsecrets"
    assert sent[(secrets, "REDIS_URL")] == stack["RedisUrlSecretArn"]
    assert sent[(secrets, "CHURN_API_KEYS")] == stack["ApiKeysSecretArn"]
    assert sent[("aws:elasticbeanstalk:application:environment", "ALARM_TOPIC_ARN")] == stack["AlarmTopicArn"]
    assert stack["RedisUrl"].startswith("rediss://")
    # the rehearsal's certificate: HTTPS on the internet-facing load balancer, HTTP redirected
    assert sent[("aws:ec2:vpc", "ELBScheme")] == "public"
    assert sent[("aws:elbv2:listener:443", "SSLCertificateArns")].startswith("arn:aws:acm:")
    assert sent[("aws:elasticbeanstalk:customoption", "HttpsRedirectHosts")] == "*"
    assert (
        "default_platform: Docker running on 64bit Amazon Linux 2023"
        in (work / "project" / ".elasticbeanstalk" / "config.yml").read_text()
    )
