"""Offline check of the Elastic Beanstalk configuration: .ebextensions, platform nginx, Dockerfile.

Usage: python scripts/check_ebextensions.py [PROJECT_DIR [SAVED_CONFIG]]   (exit 1 and one line per problem)

What it checks: YAML syntax and shape, every namespace/option against an allow-list copied from
AWS's "General options for all environments" and "Platform specific options" (Docker) pages,
each value against the range those pages give, and how the pieces fit together: the port the
service binds equals the Dockerfile's EXPOSE, timeouts grow from the server to nginx to the load
balancer, nginx admits the largest body the service accepts. With SAVED_CONFIG (the saved
configuration `make deploy` gives `eb create`, scripts/eb_deploy_config.py), its options too, over
those of .ebextensions as Elastic Beanstalk applies them, and the access rules: an internet-facing
load balancer only with HTTPS, the redirect to HTTPS only where there is an HTTPS listener, a modern
TLS policy, secrets given as ARNs. `Resources` are CloudFormation, checked by cfn-lint and checkov
(scripts/check-templates.sh); here only that each custom option they read is set somewhere. It is a
snapshot of the docs, not AWS: only a real `eb create` proves AWS accepts the configuration.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

Rule = Callable[[str], bool]


def one_of(*values: str) -> Rule:
    return lambda v: v in values


def int_range(lo: int, hi: int) -> Rule:
    return lambda v: re.fullmatch(r"-?\d+", v) is not None and lo <= int(v) <= hi


def matches(pattern: str) -> Rule:
    return lambda v: re.fullmatch(pattern, v) is not None


BOOL = one_of("true", "false")
ANY_TEXT = matches(r".{0,4096}")
RETENTION = one_of(
    *["1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731", "1827", "3653"]
)
ISO_DURATION = matches(r"PT(\d+H)?(\d+M)?(\d+S)?")
ANY_OPTION = "*"
SECURITY_GROUPS = matches(r"sg-[0-9a-f]+(,sg-[0-9a-f]+)*")
SUBNETS = matches(r"subnet-[0-9a-f]+(,subnet-[0-9a-f]+)*")
TOPIC_ARN = r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:\S+"
CERTIFICATE_ARN = r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+"
SECRET_ARN = matches(
    r"arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+|ssm:[a-z0-9-]+:\d{12}:parameter/\S+)"
)
# TLS 1.2 and 1.3 only, forward secrecy only (ELB "Security policies for your Application Load Balancer").
TLS_POLICIES = ("ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06")
# The redirect rule's hosts (.ebextensions/07-https.config): all of them, or the .invalid name of "off".
HTTPS_REDIRECT_ON, HTTPS_REDIRECT_OFF = "*", "https-is-off.invalid"
# supervise.py's MAX_WORKERS (tests/system/test_deploy_config.py checks the two agree)
MAX_EMBEDDED_WORKERS = 8

# (namespace, option) -> rule. Only the options this project may use; add more from the docs.
ALLOWED: dict[tuple[str, str], Rule] = {
    ("aws:elasticbeanstalk:application:environment", ANY_OPTION): ANY_TEXT,
    ("aws:elasticbeanstalk:environment", "EnvironmentType"): one_of("SingleInstance", "LoadBalanced"),
    ("aws:elasticbeanstalk:environment", "LoadBalancerType"): one_of("classic", "application", "network"),
    ("aws:elasticbeanstalk:environment", "ServiceRole"): matches(r".+"),
    # Docker platform: nginx is the only proxy (`none` is for Docker Compose and AL1 only).
    ("aws:elasticbeanstalk:environment:proxy", "ProxyServer"): one_of("nginx"),
    ("aws:autoscaling:asg", "MinSize"): int_range(1, 10000),
    ("aws:autoscaling:asg", "MaxSize"): int_range(1, 10000),
    ("aws:autoscaling:asg", "Cooldown"): int_range(0, 10000),
    ("aws:autoscaling:asg", "Availability Zones"): one_of("Any", "Any 1", "Any 2", "Any 3"),
    ("aws:autoscaling:launchconfiguration", "MonitoringInterval"): one_of("1 minute", "5 minute"),
    ("aws:autoscaling:launchconfiguration", "DisableIMDSv1"): BOOL,
    ("aws:ec2:instances", "InstanceTypes"): matches(r"[a-z0-9-]+\.[a-z0-9]+(,[a-z0-9-]+\.[a-z0-9]+){0,9}"),
    ("aws:autoscaling:trigger", "MeasureName"): one_of(
        "CPUUtilization",
        "NetworkIn",
        "NetworkOut",
        "DiskWriteOps",
        "DiskReadBytes",
        "DiskReadOps",
        "DiskWriteBytes",
        "Latency",
        "RequestCount",
        "HealthyHostCount",
        "UnhealthyHostCount",
        "TargetResponseTime",
    ),
    ("aws:autoscaling:trigger", "Statistic"): one_of("Minimum", "Maximum", "Sum", "Average"),
    ("aws:autoscaling:trigger", "Unit"): one_of(
        "Seconds", "Percent", "Bytes", "Bits", "Count", "Bytes/Second", "Bits/Second", "Count/Second", "None"
    ),
    ("aws:autoscaling:trigger", "Period"): int_range(1, 600),
    ("aws:autoscaling:trigger", "EvaluationPeriods"): int_range(1, 600),
    ("aws:autoscaling:trigger", "BreachDuration"): int_range(1, 600),
    ("aws:autoscaling:trigger", "UpperThreshold"): int_range(0, 20_000_000),
    ("aws:autoscaling:trigger", "LowerThreshold"): int_range(0, 20_000_000),
    ("aws:autoscaling:trigger", "UpperBreachScaleIncrement"): int_range(1, 10000),
    ("aws:autoscaling:trigger", "LowerBreachScaleIncrement"): int_range(-10000, -1),
    ("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateEnabled"): BOOL,
    ("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateType"): one_of("Time", "Health", "Immutable"),
    ("aws:autoscaling:updatepolicy:rollingupdate", "MaxBatchSize"): int_range(1, 10000),
    ("aws:autoscaling:updatepolicy:rollingupdate", "MinInstancesInService"): int_range(0, 9999),
    ("aws:autoscaling:updatepolicy:rollingupdate", "PauseTime"): ISO_DURATION,
    ("aws:autoscaling:updatepolicy:rollingupdate", "Timeout"): ISO_DURATION,
    ("aws:elasticbeanstalk:command", "DeploymentPolicy"): one_of(
        "AllAtOnce", "Rolling", "RollingWithAdditionalBatch", "Immutable", "TrafficSplitting"
    ),
    ("aws:elasticbeanstalk:command", "Timeout"): int_range(1, 3600),
    ("aws:elasticbeanstalk:command", "BatchSizeType"): one_of("Percentage", "Fixed"),
    ("aws:elasticbeanstalk:command", "BatchSize"): int_range(1, 10000),
    ("aws:elasticbeanstalk:command", "IgnoreHealthCheck"): BOOL,
    ("aws:elasticbeanstalk:environment:process:default", "DeregistrationDelay"): int_range(0, 3600),
    ("aws:elasticbeanstalk:environment:process:default", "HealthCheckInterval"): int_range(5, 300),
    ("aws:elasticbeanstalk:environment:process:default", "HealthCheckPath"): matches(r"/\S*"),
    ("aws:elasticbeanstalk:environment:process:default", "HealthCheckTimeout"): int_range(1, 60),
    ("aws:elasticbeanstalk:environment:process:default", "HealthyThresholdCount"): int_range(2, 10),
    ("aws:elasticbeanstalk:environment:process:default", "UnhealthyThresholdCount"): int_range(2, 10),
    ("aws:elasticbeanstalk:environment:process:default", "MatcherHTTPCode"): matches(r"[2-4]\d\d(,[2-4]\d\d)*"),
    ("aws:elasticbeanstalk:environment:process:default", "Port"): int_range(1, 65535),
    ("aws:elasticbeanstalk:environment:process:default", "Protocol"): one_of("HTTP", "HTTPS"),
    ("aws:elasticbeanstalk:healthreporting:system", "SystemType"): one_of("basic", "enhanced"),
    ("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs"): BOOL,
    ("aws:elasticbeanstalk:cloudwatch:logs", "DeleteOnTerminate"): BOOL,
    ("aws:elasticbeanstalk:cloudwatch:logs", "RetentionInDays"): RETENTION,
    ("aws:elasticbeanstalk:cloudwatch:logs:health", "HealthStreamingEnabled"): BOOL,
    ("aws:elasticbeanstalk:cloudwatch:logs:health", "DeleteOnTerminate"): BOOL,
    ("aws:elasticbeanstalk:cloudwatch:logs:health", "RetentionInDays"): RETENTION,
    ("aws:elbv2:loadbalancer", "IdleTimeout"): int_range(1, 3600),
    ("aws:elbv2:loadbalancer", "AccessLogsS3Enabled"): BOOL,
    ("aws:elbv2:loadbalancer", "SecurityGroups"): SECURITY_GROUPS,
    ("aws:elbv2:loadbalancer", "ManagedSecurityGroup"): SECURITY_GROUPS,
    ("aws:elbv2:listener:443", "ListenerEnabled"): BOOL,
    ("aws:elbv2:listener:443", "Protocol"): one_of("HTTPS"),
    ("aws:elbv2:listener:443", "SSLCertificateArns"): matches(CERTIFICATE_ARN),
    ("aws:elbv2:listener:443", "SSLPolicy"): one_of(*TLS_POLICIES),
    ("aws:elbv2:listener:443", "DefaultProcess"): one_of("default"),
    ("aws:ec2:vpc", "VPCId"): matches(r"vpc-[0-9a-f]+"),
    ("aws:ec2:vpc", "Subnets"): SUBNETS,
    ("aws:ec2:vpc", "ELBSubnets"): SUBNETS,
    ("aws:ec2:vpc", "ELBScheme"): one_of("public", "internal"),
    ("aws:ec2:vpc", "AssociatePublicIpAddress"): BOOL,
    ("aws:autoscaling:launchconfiguration", "SecurityGroups"): SECURITY_GROUPS,
    ("aws:elasticbeanstalk:application:environmentsecrets", ANY_OPTION): SECRET_ARN,
    ("aws:elasticbeanstalk:sns:topics", "Notification Topic ARN"): matches(TOPIC_ARN),
    ("aws:elasticbeanstalk:customoption", "HttpsRedirectHosts"): one_of(HTTPS_REDIRECT_ON, HTTPS_REDIRECT_OFF),
}
# Options `make deploy` sets (scripts/eb_deploy_config.py), which `Resources` may read unset here: the
# alarms' topic, the prerequisites stack's AlarmTopicArn output, as an environment property.
ALARM_TOPIC = ("aws:elasticbeanstalk:application:environment", "ALARM_TOPIC_ARN")
SET_BY_DEPLOY = {ALARM_TOPIC}
# option_settings, and Resources (CloudFormation, which cfn-lint and checkov check: scripts/check-templates.sh);
# anything else (commands, files...) would need more than this offline check.
TOP_KEYS = {"option_settings", "Resources"}
SAVED_CONFIG_KEYS = {"EnvironmentConfigurationMetadata", "AWSConfigurationTemplateVersion", "OptionSettings"}
PROCESS = "aws:elasticbeanstalk:environment:process:default"
APP_ENV = "aws:elasticbeanstalk:application:environment"
NGINX_LISTEN_PORT = 80  # the platform's nginx, which the load balancer's default process targets


def options(doc: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(namespace, option, value) in both of the documented forms."""
    settings = doc.get("option_settings") or []
    if isinstance(settings, dict):
        for namespace, opts in settings.items():
            for name, value in (opts or {}).items():
                yield namespace, name, value
    else:
        for o in settings:
            yield o.get("namespace"), o.get("option_name"), o.get("value")


def load_options(root: Path, errors: list[str]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    files = sorted((root / ".ebextensions").glob("*.config"))
    if not files:
        errors.append(".ebextensions/*.config: none found")
    reads: dict[tuple[str, str], str] = {}  # (namespace, option) -> the file whose Resources read it
    for path in files:
        doc = read_yaml(path, errors)
        errors.extend(f"{path.name}: unsupported top-level key {k!r}" for k in sorted(set(doc) - TOP_KEYS))
        found.update(checked(path.name, options(doc), errors))
        reads.update(dict.fromkeys(option_reads(doc.get("Resources")), path.name))
    for (namespace, option), name in sorted(reads.items()):
        if (namespace, option) not in found and (namespace, option) not in SET_BY_DEPLOY:
            errors.append(f"{name}: Resources read the option {namespace} / {option}, which nothing sets")
    return found


CUSTOM = "aws:elasticbeanstalk:customoption"


def read_yaml(path: Path, errors: list[str]) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        errors.append(f"{path.name}: not readable YAML: {e}")
        return {}
    if not isinstance(doc, dict):
        errors.append(f"{path.name}: not a mapping at the top level")
        return {}
    return doc


def checked(source: str, settings: Iterator[tuple[str, str, Any]], errors: list[str]) -> dict[tuple[str, str], str]:
    """Each option against the allow-list and its documented values; returns them as text."""
    found: dict[tuple[str, str], str] = {}
    for namespace, name, value in settings:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        rule = ALLOWED.get((namespace, name)) or ALLOWED.get((namespace, ANY_OPTION))
        if rule is None:
            errors.append(f"{source}: {namespace} / {name} is not a documented option (misspelt?)")
        elif not rule(text):
            errors.append(f"{source}: {namespace} / {name} = {text!r} is outside the documented values")
        found[(namespace, name)] = text
    return found


def option_reads(node: Any) -> Iterator[tuple[str, str]]:
    """The (namespace, option) pairs a Resources tree reads with Fn::GetOptionSetting."""
    if isinstance(node, dict):
        read = node.get("Fn::GetOptionSetting")
        if isinstance(read, dict):
            yield str(read.get("Namespace", CUSTOM)), str(read.get("OptionName"))
        for value in node.values():
            yield from option_reads(value)
    elif isinstance(node, list):
        for value in node:
            yield from option_reads(value)


def load_saved_config(path: Path, errors: list[str]) -> dict[tuple[str, str], str]:
    """A saved configuration (`eb create --cfg`): OptionSettings as namespace -> option -> value."""
    doc = read_yaml(path, errors)
    errors.extend(f"{path.name}: unsupported top-level key {k!r}" for k in sorted(set(doc) - SAVED_CONFIG_KEYS))
    return checked(path.name, options({"option_settings": doc.get("OptionSettings") or {}}), errors)


def check_access(found: dict[tuple[str, str], str], errors: list[str]) -> None:
    """Who may reach the environment, and over what: the rules of docs/deploy.md "Access"."""
    https = found.get(("aws:elbv2:listener:443", "ListenerEnabled")) == "true"
    if found.get(("aws:ec2:vpc", "ELBScheme"), "public") == "public" and not https:
        errors.append("an internet-facing load balancer (ELBScheme public, the default) needs the HTTPS listener")
    listener = "aws:elbv2:listener:443"
    if https and not all((listener, o) in found for o in ("Protocol", "SSLCertificateArns", "SSLPolicy")):
        errors.append(f"{listener}: the HTTPS listener needs its Protocol, SSLCertificateArns and SSLPolicy")
    redirect = found.get((CUSTOM, "HttpsRedirectHosts"), HTTPS_REDIRECT_OFF)
    if https != (redirect == HTTPS_REDIRECT_ON):
        errors.append(
            f"HttpsRedirectHosts={redirect!r} with the HTTPS listener {'on' if https else 'off'}: HTTP must be "
            "redirected exactly when there is HTTPS to redirect to"
        )
    managed = found.get(("aws:elbv2:loadbalancer", "ManagedSecurityGroup"))
    if managed and managed not in found.get(("aws:elbv2:loadbalancer", "SecurityGroups"), "").split(","):
        errors.append("aws:elbv2:loadbalancer: ManagedSecurityGroup must be one of its SecurityGroups")
    workers = found.get((APP_ENV, "CHURN_EMBEDDED_WORKERS"), "0")
    if not int_range(0, MAX_EMBEDDED_WORKERS)(workers):
        errors.append(f"CHURN_EMBEDDED_WORKERS={workers!r}: supervise.py runs 0 to {MAX_EMBEDDED_WORKERS} workers")
    topic = found.get(ALARM_TOPIC)
    if topic is not None and not matches(TOPIC_ARN)(topic):
        errors.append(f"ALARM_TOPIC_ARN={topic!r} is not an SNS topic ARN")
    for name in ("REDIS_URL", "CHURN_API_KEYS"):
        if (APP_ENV, name) in found:
            errors.append(f"{name} is a secret: give it as aws:elasticbeanstalk:application:environmentsecrets")


def nginx_directives(root: Path) -> dict[str, str]:
    """name -> value of the simple directives in .platform/nginx/conf.d/*.conf."""
    out: dict[str, str] = {}
    for path in sorted((root / ".platform" / "nginx" / "conf.d").glob("*.conf")):
        text = re.sub(r"#.*", "", path.read_text())
        out.update(dict(re.findall(r"^\s*([a-z_]+)\s+([^;]+);", text, re.M)))
    return out


def seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", value.strip()).groups()  # type: ignore[union-attr]
    return int(number) * (60 if unit == "m" else 1)


def size_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG])?", value.strip()).groups()  # type: ignore[union-attr]
    return int(number) * {"k": 1024, "m": 1024**2, "g": 1024**3}.get((unit or "").lower(), 1)


def int_opt(found: dict[tuple[str, str], str], namespace: str, name: str, default: int) -> int:
    value = found.get((namespace, name), str(default))
    return int(value) if re.fullmatch(r"-?\d+", value) else default


def check_ports(root: Path, found: dict[tuple[str, str], str], errors: list[str]) -> None:
    exposed = re.findall(r"^\s*EXPOSE\s+(\d+)", (root / "Dockerfile").read_text(), re.M)
    port = found.get((APP_ENV, "PORT"))
    if port is None or port not in exposed:
        errors.append(
            f"PORT={port} (where the server binds) is not the Dockerfile's EXPOSE {exposed}: nginx would miss it"
        )
    process_port = found.get((PROCESS, "Port"), str(NGINX_LISTEN_PORT))
    if process_port != str(NGINX_LISTEN_PORT):
        errors.append(f"{PROCESS} / Port = {process_port}: the load balancer must target nginx on port 80")


def check_fit(root: Path, found: dict[tuple[str, str], str], errors: list[str]) -> None:
    """The options that must agree with each other, with nginx and with the service."""
    if int_opt(found, "aws:autoscaling:asg", "MinSize", 1) > int_opt(found, "aws:autoscaling:asg", "MaxSize", 4):
        errors.append("aws:autoscaling:asg: MinSize > MaxSize")
    trigger = "aws:autoscaling:trigger"
    period, evals = int_opt(found, trigger, "Period", 5), int_opt(found, trigger, "EvaluationPeriods", 1)
    if int_opt(found, trigger, "BreachDuration", 5) != period * evals:
        errors.append(f"{trigger}: BreachDuration must equal Period * EvaluationPeriods")
    if int_opt(found, trigger, "LowerThreshold", 2_000_000) >= int_opt(found, trigger, "UpperThreshold", 6_000_000):
        errors.append(f"{trigger}: LowerThreshold must be below UpperThreshold")
    nginx = nginx_directives(root)
    graceful = int_opt(found, APP_ENV, "CHURN_GRACEFUL_TIMEOUT", 20)
    drain = int_opt(found, "aws:elasticbeanstalk:environment:process:default", "DeregistrationDelay", 300)
    if not graceful < drain:
        errors.append(f"CHURN_GRACEFUL_TIMEOUT {graceful} s must be below the DeregistrationDelay {drain} s")
    proxy = seconds(nginx.get("proxy_read_timeout", "60s"))
    idle = int_opt(found, "aws:elbv2:loadbalancer", "IdleTimeout", 60)
    if not proxy < idle:
        errors.append(f"timeouts must grow: nginx proxy_read {proxy} s < ALB idle {idle} s")
    body = int_opt(found, APP_ENV, "CHURN_MAX_BODY_BYTES", 16 * 1024 * 1024)
    # Equal: nginx refuses a larger body itself (in JSON, churn-errors.conf). A body nginx has already
    # read whole and the service then refuses unread makes the service close the connection, which
    # nginx reports as a 502.
    if size_bytes(nginx.get("client_max_body_size", "1m")) != body:
        errors.append(f"nginx client_max_body_size must equal CHURN_MAX_BODY_BYTES ({body})")


def check(root: Path, saved_config: Path | None = None) -> list[str]:
    """The problems of .ebextensions (and of the saved configuration over them, when given)."""
    errors: list[str] = []
    found = load_options(root, errors)
    check_ports(root, found, errors)
    check_fit(root, found, errors)
    if saved_config is not None:
        found.update(load_saved_config(saved_config, errors))  # API-level options win (AWS's "Precedence")
        check_fit(root, found, errors)
        check_access(found, errors)
    return sorted(set(errors), key=errors.index)


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else ".")
    saved = Path(argv[2]) if len(argv) > 2 else None
    errors = check(root, saved)
    for e in errors:
        print("ERROR", e)
    print(f"{root / '.ebextensions'}{' + ' + str(saved) if saved else ''}: {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
