"""The `Resources` of .ebextensions/*.config as CloudFormation templates that cfn-lint and checkov can read.

Usage: python scripts/ebextensions_templates.py OUT_DIR [PROJECT_DIR]   (writes OUT_DIR/<config name>.yaml,
prints the paths)

Elastic Beanstalk merges these `Resources` into its own stack, so alone they are not a template: they
name Elastic Beanstalk's resources (AWSEBV2LoadBalancer...) and read options with Fn::GetOptionSetting.
Each file becomes a template in which every Elastic Beanstalk resource it names is a minimal stand-in
of the same type (so that Ref and Fn::GetAtt are checked against the real type, and the stand-ins
themselves are skipped by checkov: they are Elastic Beanstalk's, configured by option_settings), and
every Fn::GetOptionSetting is a parameter whose default is the option's DefaultValue.
scripts/check-templates.sh runs this, then both linters on the output and on infra/*.yaml.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
# What checkov finds in Elastic Beanstalk's own load balancer, as this project configures it: the
# stand-ins are skipped for these checks only, each with why (a new finding fails the check).
NOT_OURS = "Elastic Beanstalk's own resource (a stand-in here): "
EB_FINDINGS = {
    "AWS::ElasticLoadBalancingV2::LoadBalancer": {
        "CKV_AWS_131": "no Elastic Beanstalk option sets it; the platform's nginx drops invalid header names"
        " (ignore_invalid_headers, on by default) before the service",
        "CKV_AWS_91": "the service logs every request (churn.access) to CloudWatch Logs; ALB logs would need a bucket",
    },
    "AWS::ElasticLoadBalancingV2::Listener": {
        "CKV_AWS_2": "port 80 redirects to 443 once a certificate is set (ChurnHttpToHttps); without one it is an"
        " internal load balancer's VPC-only HTTP (docs/deploy.md)",
        "CKV_AWS_103": "as CKV_AWS_2: the port-80 listener carries no TLS by definition",
    },
}
VPC = {"Ref": "StandInVpc"}
# The resources of Elastic Beanstalk's own stack that configuration files may name (AWS: "Modifying the
# resources that Elastic Beanstalk creates for your environment"), each as a minimal valid stand-in.
EB_RESOURCES: dict[str, dict[str, Any]] = {
    "AWSEBV2LoadBalancer": {
        "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "Properties": {"Subnets": {"Ref": "StandInSubnets"}},
    },
    "AWSEBV2LoadBalancerTargetGroup": {
        "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
        "Properties": {"Port": 80, "Protocol": "HTTP", "VpcId": VPC},
    },
    "AWSEBV2LoadBalancerListener": {
        "Type": "AWS::ElasticLoadBalancingV2::Listener",
        "Properties": {
            "LoadBalancerArn": {"Ref": "AWSEBV2LoadBalancer"},
            "Port": 80,
            "Protocol": "HTTP",
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "AWSEBV2LoadBalancerTargetGroup"}}],
        },
    },
    "AWSEBAutoScalingGroup": {
        "Type": "AWS::AutoScaling::AutoScalingGroup",
        "Properties": {
            "MinSize": "2",
            "MaxSize": "6",
            "VPCZoneIdentifier": {"Ref": "StandInSubnets"},
            "LaunchTemplate": {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "1"},
        },
    },
    "AWSEBSecurityGroup": {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {"GroupDescription": "instances", "VpcId": VPC},
    },
    "AWSEBLoadBalancerSecurityGroup": {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {"GroupDescription": "load balancer", "VpcId": VPC},
    },
}
EB_RESOURCES["AWSEBV2LoadBalancerListener443"] = {
    "Type": "AWS::ElasticLoadBalancingV2::Listener",
    "Properties": {
        **EB_RESOURCES["AWSEBV2LoadBalancerListener"]["Properties"],
        "Port": 443,
        "Protocol": "HTTPS",
        "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "Certificates": [{"CertificateArn": {"Ref": "StandInCertificate"}}],
    },
}
# Options `make deploy` sets, which configuration files read without a DefaultValue: an example value
# of the right shape, for the linters (scripts/check_ebextensions.py checks the real ones).
SET_BY_DEPLOY = {
    ("aws:elasticbeanstalk:application:environment", "ALARM_TOPIC_ARN"): "arn:aws:sns:eu-west-1:123456789012:alarms",
}
# Names Elastic Beanstalk's stack gives configuration files besides its resources (Ref only).
EB_PARAMETERS: dict[str, dict[str, Any]] = {
    "AWSEBEnvironmentName": {"Type": "String", "Default": "churn-serving-env"},
}
STAND_IN_PARAMETERS = {
    "StandInVpc": {"Type": "AWS::EC2::VPC::Id"},
    "StandInSubnets": {"Type": "List<AWS::EC2::Subnet::Id>"},
    "StandInCertificate": {"Type": "String"},
}


def option_reads(node: Any) -> Iterator[dict[str, Any]]:
    """Every Fn::GetOptionSetting in a Resources tree."""
    if isinstance(node, dict):
        if "Fn::GetOptionSetting" in node:
            yield node["Fn::GetOptionSetting"]
        for value in node.values():
            yield from option_reads(value)
    elif isinstance(node, list):
        for value in node:
            yield from option_reads(value)


def parameter_name(read: dict[str, Any]) -> str:
    namespace = read.get("Namespace", "aws:elasticbeanstalk:customoption")
    return re.sub(r"[^A-Za-z0-9]", "", f"Option{namespace.rsplit(':', 1)[-1].title()}{read['OptionName']}")


def as_parameters(node: Any) -> Any:
    """The tree with each Fn::GetOptionSetting replaced by a Ref to its parameter."""
    if isinstance(node, dict):
        if "Fn::GetOptionSetting" in node:
            return {"Ref": parameter_name(node["Fn::GetOptionSetting"])}
        return {k: as_parameters(v) for k, v in node.items()}
    if isinstance(node, list):
        return [as_parameters(v) for v in node]
    return node


def names_used(node: Any) -> set[str]:
    """The resource names a tree refers to with Ref or Fn::GetAtt (either form)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("Ref"), str):
            found.add(node["Ref"])
        getatt = node.get("Fn::GetAtt")
        if isinstance(getatt, list) and getatt:
            found.add(str(getatt[0]))
        elif isinstance(getatt, str):
            found.add(getatt.split(".")[0])
        for value in node.values():
            found |= names_used(value)
    elif isinstance(node, list):
        for value in node:
            found |= names_used(value)
    return found


def stand_in(name: str) -> dict[str, Any]:
    resource = copy.deepcopy(EB_RESOURCES[name])
    findings = EB_FINDINGS.get(resource["Type"], {})
    if findings:
        skips = [{"id": check, "comment": NOT_OURS + why} for check, why in findings.items()]
        resource["Metadata"] = {"checkov": {"skip": skips}}
    return resource


def template(resources: dict[str, Any], source: str) -> dict[str, Any]:
    known = EB_RESOURCES.keys() | EB_PARAMETERS.keys()
    unknown = sorted(n for n in names_used(resources) if n.startswith("AWSEB") and n not in known)
    if unknown:
        raise SystemExit(f"{source}: names Elastic Beanstalk resources this check has no stand-in for: {unknown}")
    parameters: dict[str, Any] = {k: v for k, v in EB_PARAMETERS.items() if k in names_used(resources)}
    for read in option_reads(resources):
        namespace = read.get("Namespace", "aws:elasticbeanstalk:customoption")
        default = read.get("DefaultValue", SET_BY_DEPLOY.get((namespace, read["OptionName"]), ""))
        parameters[parameter_name(read)] = {"Type": "String", "Default": str(default)}
    needed = names_used(resources) & set(EB_RESOURCES)
    while (more := names_used([EB_RESOURCES[n] for n in needed]) & set(EB_RESOURCES)) - needed:
        needed |= more  # a stand-in's own references (a listener's load balancer)
    stand_ins = {name: stand_in(name) for name in sorted(needed)}
    used = names_used(list(stand_ins.values()))
    parameters.update({k: v for k, v in STAND_IN_PARAMETERS.items() if k in used})
    body: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"The Resources of {source}, with stand-ins for Elastic Beanstalk's own (check only)",
        "Resources": {**stand_ins, **as_parameters(resources)},
    }
    if parameters:
        body["Parameters"] = parameters
    return body


def main(argv: list[str]) -> int:
    out = Path(argv[1])
    project = Path(argv[2]) if len(argv) > 2 else ROOT
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((project / ".ebextensions").glob("*.config")):
        resources = (yaml.safe_load(path.read_text()) or {}).get("Resources")
        if resources:
            target = out / f"{path.stem}.yaml"
            target.write_text(yaml.safe_dump(template(resources, f".ebextensions/{path.name}"), sort_keys=False))
            sys.stdout.write(f"{target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
