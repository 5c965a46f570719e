"""Is a log line a valid CloudWatch Embedded Metric Format document? AWS's schema, then the page's other rules.

The published schema (emf-schema.json, its source in its $comment) checks the `_aws` metadata only.
The specification's text adds rules a schema cannot state, checked here: the referenced members exist
on the root, a dimension's value is a string of at most 1024 characters, a metric's value is a number
or an array of at most 100 numbers, at most 100 metrics per directive, the line is one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMA = json.loads((Path(__file__).parent / "emf-schema.json").read_text())
VALIDATOR = jsonschema_rs.Draft7Validator(SCHEMA)
MAX_METRICS = 100
MAX_VALUES = 100
MAX_DIMENSION_VALUE = 1024


def emf_problems(line: str) -> list[str]:
    """Every way a log line fails the EMF specification; empty when CloudWatch would take it."""
    try:
        doc = json.loads(line)
    except ValueError as e:
        return [f"not JSON: {e}"]
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    problems = [f"schema: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    if problems:
        return problems
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        problems.extend(directive_problems(doc, directive))
    return problems


def directive_problems(doc: dict[str, Any], directive: dict[str, Any]) -> list[str]:
    problems = []
    if len(directive["Metrics"]) > MAX_METRICS:
        problems.append(f"{len(directive['Metrics'])} metrics in one directive (at most {MAX_METRICS})")
    for key in {key for dimension_set in directive["Dimensions"] for key in dimension_set}:
        value = doc.get(key)
        if not isinstance(value, str) or len(value) > MAX_DIMENSION_VALUE:
            problems.append(f"dimension {key!r}: {value!r} is not a string of at most {MAX_DIMENSION_VALUE}")
    for metric in directive["Metrics"]:
        value = doc.get(metric["Name"])
        values = value if isinstance(value, list) else [value]
        if len(values) > MAX_VALUES or not all(is_number(v) for v in values):
            problems.append(f"metric {metric['Name']!r}: {value!r} is not a number or up to {MAX_VALUES} numbers")
    return problems


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def emf_documents(text: str) -> list[dict[str, Any]]:
    """The EMF documents among a server's output lines (the JSON lines holding `_aws`)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]
