"""The Resources of an .ebextensions file as a CloudFormation template, for the tests.

The template is the one cfn-lint and checkov read in CI (scripts/check-templates.sh): made by
scripts/ebextensions_templates.py, with a stand-in for each Elastic Beanstalk resource referenced
(checkov's findings on the stand-ins, which are EB's and configured by option settings, skipped there
with their reasons) and a String parameter for the environment's name and for each option read.
resolve() evaluates a tree with made-up values (a dashboard body, say).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ebextensions_templates


def template_of(config: Path, stand_ins: bool = True) -> dict[str, Any]:
    resources = yaml.safe_load(config.read_text())["Resources"]
    template = ebextensions_templates.template(resources, f".ebextensions/{config.name}")
    template.setdefault("Parameters", {})
    if not stand_ins:
        template["Resources"] = {k: v for k, v in template["Resources"].items() if k in resources}
    return template


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
