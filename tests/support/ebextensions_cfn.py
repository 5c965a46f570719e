"""The Resources of an .ebextensions file as a CloudFormation template that cfn-lint and checkov can read.

Elastic Beanstalk adds an .ebextensions file's Resources to the environment's own stack, where its
resources (the load balancer, target group, Auto Scaling group) exist, Ref AWSEBEnvironmentName
names the environment and Fn::GetOptionSetting reads an option. Outside EB none of them exists, so
the template gets a stand-in of each EB resource referenced (their types from "Modifying the
resources that Elastic Beanstalk creates for your environment"), and a String parameter for the
environment's name and for each option read.

Usage: python -m tests.support.ebextensions_cfn [--no-stand-ins] .ebextensions/06-alarms.config > template.json
(cfn-lint needs the stand-ins to resolve references; checkov would judge the stand-ins themselves,
whose real settings are EB's option settings, so it reads the template without them.)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

EB_RESOURCES: dict[str, dict[str, Any]] = {
    "AWSEBV2LoadBalancer": {
        "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "Properties": {"Subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]},
    },
    "AWSEBV2LoadBalancerTargetGroup": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {}},
    "AWSEBAutoScalingGroup": {
        "Type": "AWS::AutoScaling::AutoScalingGroup",
        "Properties": {"MinSize": "2", "MaxSize": "6", "InstanceId": "i-0123456789abcdef0"},
    },
}
# Names EB's stack gives configuration files besides its resources (Ref only): parameters here.
EB_PARAMETERS: dict[str, dict[str, Any]] = {"AWSEBEnvironmentName": {"Type": "String", "Default": "churn-env"}}


def template_of(config: Path, stand_ins: bool = True) -> dict[str, Any]:
    resources = yaml.safe_load(config.read_text())["Resources"]
    parameters: dict[str, Any] = {}
    resources = replace_options(resources, parameters)
    used = set(re.findall(r'"(AWSEB\w+)"', json.dumps(resources)))
    parameters.update({name: EB_PARAMETERS[name] for name in sorted(used & EB_PARAMETERS.keys())})
    stand_in_names = sorted(used - EB_PARAMETERS.keys()) if stand_ins else []
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"{config.name}: its Resources, with stand-ins for the EB resources they reference",
        "Parameters": parameters,
        "Resources": {**{name: EB_RESOURCES[name] for name in stand_in_names}, **resources},
    }


def replace_options(node: Any, parameters: dict[str, Any]) -> Any:
    """Every Fn::GetOptionSetting becomes a Ref to a String parameter named after the option."""
    if isinstance(node, dict):
        if set(node) == {"Fn::GetOptionSetting"}:
            name = "Option" + re.sub(r"[^A-Za-z0-9]", "", node["Fn::GetOptionSetting"]["OptionName"].title())
            parameters[name] = {"Type": "String", "Description": f"EB option {node['Fn::GetOptionSetting']}"}
            return {"Ref": name}
        return {key: replace_options(value, parameters) for key, value in node.items()}
    if isinstance(node, list):
        return [replace_options(value, parameters) for value in node]
    return node


def resolve(node: Any, values: dict[str, str]) -> Any:
    """Evaluate Ref, Fn::GetAtt and Fn::Join with made-up values (to read a dashboard body, say)."""
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Ref":
            return values.get(argument, f"<{argument}>")
        if function == "Fn::GetAtt":
            return values.get(".".join(argument), f"<{'.'.join(argument)}>")
        if function == "Fn::Join":
            return argument[0].join(resolve(part, values) for part in argument[1])
    if isinstance(node, dict):
        return {key: resolve(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, values) for value in node]
    return node


if __name__ == "__main__":
    json.dump(template_of(Path(sys.argv[-1]), stand_ins="--no-stand-ins" not in sys.argv), sys.stdout, indent=1)
