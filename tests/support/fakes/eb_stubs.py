"""Fake Elastic Beanstalk actions that moto lacks, enough for the EB CLI's control flow.

The three platform questions every EB CLI command asks (ListPlatformBranches, ListPlatformVersions,
DescribePlatformVersion), the source bundle upload (CreateStorageLocation, CreateApplicationVersion:
the uploaded zip's file names are logged, so a test can read what the CLI really bundled) and a
minimal environment life cycle (create, from a saved configuration too; describe, events, terminate).
NOT AWS semantics: an environment is "Ready" at once and nothing is launched.
"""

import datetime
import io
import json
import random
import string
import sys
import zipfile

import yaml
from dateutil import parser as dateutil_parser
from moto.core.responses import ActionResult
from moto.elasticbeanstalk.exceptions import InvalidParameterValueError
from moto.elasticbeanstalk.responses import EBResponse
from moto.s3.models import s3_backends

BRANCH = "Docker running on 64bit Amazon Linux 2023"
PLATFORM_NAME = BRANCH
PLATFORM_VERSION = "4.6.0"
STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"
TIERS = ["WebServer/Standard", "Worker/SQS/HTTP"]

STATE = {"versions": {}, "envs": {}, "events": []}


def now():
    return datetime.datetime.now(datetime.UTC)


def log(msg):
    sys.stderr.write(f"[fake-aws] {msg}\n")
    sys.stderr.flush()


def platform_arn(region):
    return f"arn:aws:elasticbeanstalk:{region}::platform/{PLATFORM_NAME}/{PLATFORM_VERSION}"


def _match(filters, values):
    for f in filters or []:
        attr = f.get("Attribute") or f.get("Type")
        op = f.get("Operator", "=")
        want = f.get("Values") or []
        have = values.get(attr)
        if have is None:
            continue
        if op == "=" and have not in want:
            return False
        if op == "!=" and have in want:
            return False
        if op == "begins_with" and not any(have.startswith(w) for w in want):
            return False
        if op == "contains" and not any(w in have for w in want):
            return False
    return True


# ---------------------------------------------------------------- platforms
def list_platform_branches(self):
    summary = {
        "PlatformName": "Docker",
        "BranchName": BRANCH,
        "LifecycleState": "Supported",
        "BranchOrder": 1,
        "SupportedTierList": TIERS,
    }
    values = {
        "BranchName": BRANCH,
        "PlatformName": "Docker",
        "LifecycleState": "Supported",
        "TierType": "WebServer/Standard",
    }
    out = [summary] if _match(self._get_param("Filters"), values) else []
    return ActionResult({"PlatformBranchSummaryList": out})


def _summary(region):
    return {
        "PlatformArn": platform_arn(region),
        "PlatformOwner": "AWSElasticBeanstalk",
        "PlatformStatus": "Ready",
        "PlatformCategory": "Docker",
        "OperatingSystemName": "Amazon Linux 2023",
        "OperatingSystemVersion": "2023",
        "SupportedTierList": TIERS,
        "SupportedAddonList": [],
        "PlatformLifecycleState": "Recommended",
        "PlatformVersion": PLATFORM_VERSION,
        "PlatformBranchName": BRANCH,
        "PlatformBranchLifecycleState": "Supported",
    }


def list_platform_versions(self):
    values = {
        "PlatformBranchName": BRANCH,
        "PlatformName": PLATFORM_NAME,
        "PlatformOwner": "AWSElasticBeanstalk",
        "PlatformStatus": "Ready",
        "PlatformLifecycleState": "Recommended",
        "PlatformVersion": PLATFORM_VERSION,
        "SupportedTier": "WebServer/Standard",
    }
    out = [_summary(self.region)] if _match(self._get_param("Filters"), values) else []
    return ActionResult({"PlatformSummaryList": out})


def describe_platform_version(self):
    d = _summary(self.region)
    d.update(
        {
            "PlatformName": PLATFORM_NAME,
            "SolutionStackName": STACK,
            "Description": "fake",
            "Maintainer": "fake",
            "DateCreated": datetime.datetime(2025, 7, 1),
            "DateUpdated": datetime.datetime(2025, 7, 1),
        }
    )
    return ActionResult({"PlatformDescription": d})


# ------------------------------------------------------ storage + versions
def _bucket(self):
    return f"elasticbeanstalk-{self.region}-{self.current_account}"


def create_storage_location(self):

    name = _bucket(self)
    s3 = s3_backends[self.current_account][self.partition]
    if name not in s3.buckets:
        s3.create_bucket(name, self.region)
    return ActionResult({"S3Bucket": name})


def create_application_version(self):

    app = self._get_param("ApplicationName")
    label = self._get_param("VersionLabel")
    bundle = self._get_param("SourceBundle") or {}
    key = (app, label)
    if key in STATE["versions"]:
        raise InvalidParameterValueError(f"Application Version {label} already exists.")
    names = []
    if bundle.get("S3Bucket"):
        s3 = s3_backends[self.current_account][self.partition]
        obj = s3.get_object(bundle["S3Bucket"], bundle["S3Key"])  # raises if the upload is missing
        names = zipfile.ZipFile(io.BytesIO(obj.value)).namelist()
        log(f"source bundle {bundle['S3Key']}: {json.dumps(sorted(names))}")
        if "Dockerfile" not in names and "Dockerrun.aws.json" not in names:
            raise InvalidParameterValueError("source bundle has no Dockerfile or Dockerrun.aws.json at its root")
    v = {
        "ApplicationName": app,
        "VersionLabel": label,
        "SourceBundle": bundle,
        "Description": self._get_param("Description") or "",
        "DateCreated": now(),
        "DateUpdated": now(),
        "Status": "PROCESSED",
        "ApplicationVersionArn": (
            f"arn:aws:elasticbeanstalk:{self.region}:{self.current_account}:applicationversion/{app}/{label}"
        ),
    }
    STATE["versions"][key] = v
    return ActionResult({"ApplicationVersion": v})


def describe_application_versions(self):
    app = self._get_param("ApplicationName")
    labels = self._get_param("VersionLabels") or []
    out = [
        v for (a, label), v in STATE["versions"].items() if (not app or a == app) and (not labels or label in labels)
    ]
    return ActionResult({"ApplicationVersions": out})


# --------------------------------------------------------------- environments
def check_dns_availability(self):
    prefix = self._get_param("CNAMEPrefix")
    taken = any(e["CNAME"].split(".")[0] == prefix and e["Status"] != "Terminated" for e in STATE["envs"].values())
    return ActionResult({"Available": not taken, "FullyQualifiedCNAME": f"{prefix}.{self.region}.elasticbeanstalk.com"})


def _event(app, env, msg, request_id, severity="INFO", delay=0.0):
    # the CLI asks for events newer than the last one it saw + 1 ms: space them out
    STATE["events"].append(
        {
            "EventDate": now() + datetime.timedelta(seconds=delay),
            "Message": msg,
            "ApplicationName": app,
            "EnvironmentName": env,
            "RequestId": request_id,
            "Severity": severity,
        }
    )


def _saved_config_options(self, app, template):
    """The OptionSettings of a saved configuration the EB CLI uploaded (`eb create --cfg`), as
    AWS would apply them under the options of the call itself (which come later, so they win)."""
    if not template:
        return []
    s3 = s3_backends[self.current_account][self.partition]
    key = s3.get_object(_bucket(self), f"resources/templates/{app}/{template}")
    if key is None:
        raise InvalidParameterValueError(f"No Configuration Template named '{app}/{template}' found.")
    settings = (yaml.safe_load(key.value) or {}).get("OptionSettings") or {}
    return [
        {"Namespace": namespace, "OptionName": option, "Value": str(value)}
        for namespace, values in settings.items()
        for option, value in values.items()
    ]


def create_environment(self):
    app = self._get_param("ApplicationName")
    name = self._get_param("EnvironmentName")
    backend = self.elasticbeanstalk_backend
    if app not in backend.applications:
        raise InvalidParameterValueError(f"No Application named '{app}' found.")
    if name in STATE["envs"] and STATE["envs"][name]["Status"] != "Terminated":
        raise InvalidParameterValueError(f"Environment {name} already exists.")
    label = self._get_param("VersionLabel")
    if label and (app, label) not in STATE["versions"]:
        raise InvalidParameterValueError(f"No Application Version named '{label}' found.")
    options = _saved_config_options(self, app, self._get_param("TemplateName")) + (
        self._get_param("OptionSettings") or []
    )
    log(f"CreateEnvironment {name} options={json.dumps(options)}")
    prefix = self._get_param("CNAMEPrefix") or name
    env_id = "e-" + "".join(
        random.choices(  # noqa: S311 - an id, not a secret
            string.ascii_lowercase + string.digits, k=10
        )
    )
    env = {
        "EnvironmentName": name,
        "EnvironmentId": env_id,
        "ApplicationName": app,
        "VersionLabel": label,
        "SolutionStackName": STACK,
        "PlatformArn": self._get_param("PlatformArn") or platform_arn(self.region),
        "Description": self._get_param("Description") or "",
        "EndpointURL": f"awseb-fake-1234567890.{self.region}.elb.amazonaws.com",
        "CNAME": f"{prefix}.{self.region}.elasticbeanstalk.com",
        "DateCreated": now(),
        "DateUpdated": now(),
        "Status": "Ready",
        "AbortableOperationInProgress": False,
        "Health": "Green",
        "HealthStatus": "Ok",
        "Tier": {"Name": "WebServer", "Type": "Standard", "Version": "1.0"},
        "EnvironmentArn": f"arn:aws:elasticbeanstalk:{self.region}:{self.current_account}:environment/{app}/{name}",
        "_options": options,
    }
    STATE["envs"][name] = env
    _event(app, name, "createEnvironment is starting.", None)
    _event(app, name, f"Successfully launched environment: {name}", None, delay=1)
    return ActionResult({k: v for k, v in env.items() if not k.startswith("_")})


def describe_environments(self):
    app = self._get_param("ApplicationName")
    names = self._get_param("EnvironmentNames") or []
    ids = self._get_param("EnvironmentIds") or []
    include_deleted = self._get_param("IncludeDeleted")
    out = []
    for e in STATE["envs"].values():
        if app and e["ApplicationName"] != app:
            continue
        if names and e["EnvironmentName"] not in names:
            continue
        if ids and e["EnvironmentId"] not in ids:
            continue
        if e["Status"] == "Terminated" and include_deleted is False:
            continue
        out.append({k: v for k, v in e.items() if not k.startswith("_")})
    return ActionResult({"Environments": out})


def terminate_environment(self):
    name = self._get_param("EnvironmentName")
    env_id = self._get_param("EnvironmentId")
    env = next(
        (e for e in STATE["envs"].values() if e["EnvironmentName"] == name or e["EnvironmentId"] == env_id), None
    )
    if env is None or env["Status"] == "Terminated":
        raise InvalidParameterValueError(f"No Environment found for EnvironmentName = '{name}'.")
    env["Status"], env["Health"], env["DateUpdated"] = "Terminated", "Grey", now()
    _event(env["ApplicationName"], env["EnvironmentName"], "terminateEnvironment is starting.", None)
    _event(
        env["ApplicationName"], env["EnvironmentName"], "terminateEnvironment completed successfully.", None, delay=1
    )
    return ActionResult({k: v for k, v in env.items() if not k.startswith("_")})


def describe_events(self):
    app = self._get_param("ApplicationName")
    env = self._get_param("EnvironmentName")
    rid = self._get_param("RequestId")
    out = [
        e
        for e in STATE["events"]
        if (not app or e["ApplicationName"] == app)
        and (not env or e["EnvironmentName"] == env)
        and (not rid or e["RequestId"] == rid)
    ]
    start = self._get_param("StartTime")
    if start is not None:
        if isinstance(start, str):
            start = dateutil_parser.parse(start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=datetime.UTC)
        out = [e for e in out if e["EventDate"] >= start]
    out = sorted(out, key=lambda e: e["EventDate"], reverse=True)
    return ActionResult({"Events": [{k: v for k, v in e.items() if k != "RequestId"} for e in out]})


def describe_configuration_settings(self):
    app = self._get_param("ApplicationName")
    name = self._get_param("EnvironmentName")
    env = STATE["envs"].get(name)
    if env is None:
        raise InvalidParameterValueError(f"No Environment found for EnvironmentName = '{name}'.")
    return ActionResult(
        {
            "ConfigurationSettings": [
                {
                    "ApplicationName": app,
                    "EnvironmentName": name,
                    "SolutionStackName": STACK,
                    "PlatformArn": env["PlatformArn"],
                    "DeploymentStatus": "deployed",
                    "DateCreated": env["DateCreated"],
                    "DateUpdated": env["DateUpdated"],
                    # real AWS returns every option with its default; the CLI relies on a few
                    "OptionSettings": env["_options"]
                    + [
                        {
                            "Namespace": "aws:elasticbeanstalk:environment",
                            "OptionName": "LoadBalancerIsShared",
                            "Value": "false",
                        }
                    ],
                }
            ]
        }
    )


def _call_action_tag_events(self):
    # events created by this call carry the RequestId that the caller receives
    status, headers, body = _ORIGINAL_CALL(self)
    rid = headers.get("x-amzn-requestid")
    for e in STATE["events"]:
        if e["RequestId"] is None:
            e["RequestId"] = rid
    return status, headers, body


_ORIGINAL_CALL = EBResponse.call_action
ACTIONS = (
    "list_platform_branches", "list_platform_versions", "describe_platform_version", "create_storage_location",
    "create_application_version", "describe_application_versions", "check_dns_availability",
    "create_environment", "describe_environments", "terminate_environment", "describe_events",
    "describe_configuration_settings",
)  # fmt: skip


def install():
    for name in ACTIONS:
        setattr(EBResponse, name, globals()[name])
    EBResponse.call_action = _call_action_tag_events
