"""The alarms and dashboard of .ebextensions/06-alarms.config watch what the service really emits.

An alarm on a metric name or dimension set the service never writes would sit in "insufficient
data" forever, which with missing data treated as fine means silently never firing: so each one is
checked against the lines an Emitter writes after real requests. cfn-lint and checkov read the
Resources through tests/support/ebextensions_cfn.py.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
import yaml

from churn.config import Settings
from churn.core.model import LoadedModel
from churn.server.app import create_app
from churn.server.emf import NAMESPACE, Emitter
from tests.conftest import PROJECT, make_customer
from tests.support.ebextensions_cfn import resolve, template_of

CONFIG = PROJECT / ".ebextensions" / "06-alarms.config"
APP_ENV = "aws:elasticbeanstalk:application:environment"
TOPIC = {"Fn::GetOptionSetting": {"Namespace": APP_ENV, "OptionName": "ALARM_TOPIC_ARN"}}
ENVIRONMENT = {"Ref": "AWSEBEnvironmentName"}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return dict(yaml.safe_load(CONFIG.read_text()))


def alarms(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in config["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


@pytest.fixture(scope="module")
def emitted(model: LoadedModel) -> set[tuple[str, frozenset[str]]]:
    """(metric, dimension set) of every metric the service writes, after requests of every kind."""
    app = create_app(Settings(), model)
    client = app.test_client()
    rows = [make_customer(tenure=t) for t in range(120)]
    client.post("/v1/predict", json={"customers": [*rows, make_customer(contract="weekly")]})
    client.post("/predict", json=make_customer())
    emitter = Emitter(app.extensions["churn.server.metrics"], "env", lambda: 0, out=io.StringIO())
    return {
        (metric["Name"], frozenset(dimensions))
        for doc in emitter.emit()
        for directive in doc["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
        for dimensions in directive["Dimensions"]
    }


def test_every_alarm_on_the_services_metrics_watches_one_it_writes(
    config: dict[str, Any], emitted: set[tuple[str, frozenset[str]]]
) -> None:
    ours = {name: a for name, a in alarms(config).items() if a.get("Namespace") == NAMESPACE}
    assert len(ours) == 3
    for name, alarm in ours.items():
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert (alarm["MetricName"], frozenset(dimensions)) in emitted, name
        assert dimensions["Environment"] == ENVIRONMENT, name


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery(config: dict[str, Any]) -> None:
    assert len(alarms(config)) == 6
    for name, alarm in alarms(config).items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [TOPIC], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["DatapointsToAlarm"] <= alarm["EvaluationPeriods"], name


def test_the_metrics_environment_is_the_eb_environments_name(config: dict[str, Any]) -> None:
    settings = config["option_settings"][APP_ENV]
    assert settings["CHURN_METRICS_ENVIRONMENT"] == '`{"Ref" : "AWSEBEnvironmentName"}`'
    assert json.loads(settings["CHURN_METRICS_ENVIRONMENT"].strip("`")) == ENVIRONMENT
    app_env = yaml.safe_load((PROJECT / ".ebextensions" / "05-app-env.config").read_text())
    assert app_env["option_settings"][APP_ENV]["CHURN_METRICS_EMF"] == 1


def dashboard(config: dict[str, Any]) -> dict[str, Any]:
    body = resolve(config["Resources"]["ChurnDashboard"]["Properties"]["DashboardBody"], {"AWSEBEnvironmentName": "e"})
    return dict(json.loads(body))


def test_the_dashboard_body_is_json_and_shows_every_alarm(config: dict[str, Any]) -> None:
    widgets = dashboard(config)["widgets"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert alarm_widget["properties"]["alarms"] == [f"<{name}.Arn>" for name in alarms(config)]
    assert all(w["properties"]["region"] == "<AWS::Region>" for w in widgets if w["type"] == "metric")


def test_the_dashboard_shows_only_metrics_the_service_writes(
    config: dict[str, Any], emitted: set[tuple[str, frozenset[str]]]
) -> None:
    shown: set[tuple[str, frozenset[str]]] = set()
    for widget in dashboard(config)["widgets"]:
        above: list[str] = []
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):  # SEARCH('{Namespace,Dimension,...} MetricName="X" ...')
                found = re.search(r"\{(\w+),([\w,]+)\} MetricName=\"(\w+)\"", row[0]["expression"])
                assert found, row
                if found[1] == NAMESPACE:
                    shown.add((found[3], frozenset(found[2].split(","))))
                continue
            items = [item for item in row if not isinstance(item, dict)]
            # "." repeats the item above it; "..." (the load balancer's rows) repeats the whole row.
            above = items = above if items == ["..."] else [dot(above, i, item) for i, item in enumerate(items)]
            if items[0] == NAMESPACE:
                shown.add((items[1], frozenset(items[2::2])))
    assert len(shown) == 10
    assert shown <= emitted


def dot(above: list[str], i: int, item: str) -> str:
    return above[i] if item == "." else item


def test_the_template_of_the_resources_resolves_every_reference(config: dict[str, Any]) -> None:
    template = template_of(CONFIG)
    text = json.dumps(template)
    assert "Fn::GetOptionSetting" not in text
    for name in set(re.findall(r'"Ref": "(\w+)"', text)) - {"AWS::Region"}:
        assert name in template["Resources"] or name in template["Parameters"], name
    for name, _ in re.findall(r'"Fn::GetAtt": \["(\w+)", "(\w+)"\]', text):
        assert name in template["Resources"], name
    assert not set(template_of(CONFIG, stand_ins=False)["Resources"]) & {"AWSEBV2LoadBalancer"}
