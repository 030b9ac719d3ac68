"""template.yaml for ops (issue 11): the outbox's streams and publisher, the billing API key from Secrets
Manager, alarms to the topic parameter, the dashboard, access logs, throttling, the optional /payme source
policy, least privilege and log retention of every function, and checkov's written skips."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.template import SamTemplate
from tolov.events.changes import TYPES
from tolov.reconciliation.run import MISMATCH

ROOT = Path(__file__).resolve().parents[2]
TOPIC = {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "OpsAlarmTopic"}]}
OUTBOX_TABLES = ["TransactionsTable", "InvoicesTable", "AutopayTable"]


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return SamTemplate.load()


def props(template: SamTemplate, name: str) -> dict[str, Any]:
    return template.resources[name]["Properties"]  # type: ignore[no-any-return]


def test_the_outbox_tables_stream_both_images_to_the_publisher(template: SamTemplate) -> None:
    events = props(template, "EventPublisherFunction")["Events"]
    streamed = []
    for event in events.values():
        assert event["Type"] == "DynamoDB"
        p = event["Properties"]
        assert p["BisectBatchOnFunctionError"] is True and p["FunctionResponseTypes"] == [
            "ReportBatchItemFailures"
        ]
        assert p["StartingPosition"] == "TRIM_HORIZON" and 0 < p["MaximumRetryAttempts"] <= 10
        assert p["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["EventPublisherDeadLetterQueue", "Arn"]
        }
        streamed.append(p["Stream"]["Fn::GetAtt"][0])
    assert sorted(streamed) == sorted(OUTBOX_TABLES)
    for table in OUTBOX_TABLES:
        assert props(template, table)["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    alarm = props(template, "EventPublisherDeadLetterAlarm")
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["EventPublisherDeadLetterQueue", "QueueName"]}
    assert alarm["AlarmActions"] == [TOPIC]


def test_only_the_publisher_and_reconciliation_put_events_only_on_the_bus(template: SamTemplate) -> None:
    putters = []
    for name, resource in template.resources_of_type("AWS::Serverless::Function").items():
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if "events:PutEvents" in str(statement["Action"]):
                    putters.append(name)
                    assert statement["Resource"] == {"Fn::GetAtt": ["TolovEventBus", "Arn"]}
    # The stream publisher, and reconciliation for reconciliation.mismatch (a finding, no table's change).
    assert sorted(putters) == ["EventPublisherFunction", "ReconciliationFunction"]
    # ... both through the one module that calls PutEvents.
    sources = (ROOT / "layers" / "common" / "tolov").rglob("*.py")
    callers = sorted(p.relative_to(ROOT).as_posix() for p in sources if "put_events(" in p.read_text())
    assert callers == ["layers/common/tolov/events/bus.py"]
    statements = props(template, "EventPublisherFunction")["Policies"][0]["Statement"]
    assert {str(s["Action"]) for s in statements} == {"events:PutEvents", "dynamodb:GetItem"}


def test_every_event_type_has_a_schema() -> None:
    assert sorted(p.name for p in (ROOT / "docs" / "events").glob("*.*.schema.json")) == sorted(
        f"{t}.schema.json" for t in (*TYPES, MISMATCH)
    )


def test_the_billing_api_key_value_is_a_secrets_manager_dynamic_reference(template: SamTemplate) -> None:
    key = props(template, "BillingApiKey")
    assert key["Value"] == {"Fn::Sub": "{{resolve:secretsmanager:${BillingApiKeySecret}:SecretString}}"}
    secret = template.resources["BillingApiKeySecret"]
    assert "GenerateSecretString" in secret["Properties"] and "SecretString" not in secret["Properties"]
    assert secret["Metadata"]["LocalValueFrom"] == "BILLING_API_KEY"  # the local key stays local.env's
    assert props(template, "BillingUsagePlanKey")["KeyId"] == {"Ref": "BillingApiKey"}
    assert props(template, "TolovApi")["Auth"]["UsagePlan"] == {"CreateUsagePlan": "NONE"}
    # No secret value anywhere in the template.
    text = (ROOT / "template.yaml").read_text()
    assert not re.search(r"^\s+SecretString:", text, re.M) and not re.search(
        r"local-(payme|click|billing)-", text
    )


def test_every_alarm_notifies_the_topic_parameter(template: SamTemplate) -> None:
    alarms = template.resources_of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 20
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [TOPIC], name
    assert template.resources["OpsAlarmTopic"]["Condition"] == "OwnAlarmTopic"


def test_errors_and_throttles_are_alarmed_for_every_function(template: SamTemplate) -> None:
    watched: dict[str, set[str]] = {}
    for alarm in template.resources_of_type("AWS::CloudWatch::Alarm").values():
        p = alarm["Properties"]
        if p.get("Namespace") == "AWS/Lambda":
            watched.setdefault(p["Dimensions"][0]["Value"]["Ref"], set()).add(p["MetricName"])
    functions = template.resources_of_type("AWS::Serverless::Function")
    assert watched == {name: {"Errors", "Throttles"} for name in functions}


def test_the_business_alarms_watch_the_metrics_the_code_emits(template: SamTemplate) -> None:
    by_metric = {
        a["Properties"].get("MetricName"): a["Properties"]
        for a in template.resources_of_type("AWS::CloudWatch::Alarm").values()
    }
    for metric in ("PaymeAuthFailed", "ClickSignFailed", "ReconciliationMismatches", "StuckStatesLeft"):
        assert by_metric[metric]["Dimensions"] == [{"Name": "service", "Value": "tolov"}], metric
    sources = (ROOT / "layers" / "common" / "tolov").rglob("*.py")
    code = "\n".join(p.read_text() for p in sources)
    assert 'count_alarmed("PaymeAuthFailed")' in code and 'count_alarmed("ClickSignFailed")' in code
    # Reconciliation's, emitted on every run (a zero too), so the alarms see each run's count.
    assert 'name="ReconciliationMismatches"' in code and 'name="StuckStatesLeft"' in code
    rate = props(template, "AutopayFailureRateAlarm")
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m}
    assert names == {"AutopayPaid", "AutopayDeclined", "AutopayGaveUp", "AutopayCardFailed"}
    queues = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in template.resources_of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
    }
    assert queues == {q for q in template.resources_of_type("AWS::SQS::Queue") if "DeadLetter" in q}


def test_the_dashboard_shows_every_alarm_and_the_business_metrics(template: SamTemplate) -> None:
    body = props(template, "OpsDashboard")["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    shown = json.dumps(widgets)
    for metric in (
        "PaymentCompletedPayme",
        "PaymentCompletedClickTiyin",
        "AutopayCardFailed",
        "ClickSignFailed",
    ):
        assert metric in shown
    [alarms] = [w for w in widgets if w["type"] == "alarm"]
    assert len(alarms["properties"]["alarms"]) >= 8


def test_api_access_logs_throttling_and_the_optional_payme_source_policy(template: SamTemplate) -> None:
    api = props(template, "TolovApi")
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    log_format = api["AccessLogSetting"]["Format"]
    assert "sourceIp" in log_format and "header" not in log_format.lower() and "body" not in log_format
    [setting] = api["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}
    policy = api["Auth"]["ResourcePolicy"]["CustomStatements"]["Fn::If"]
    assert policy[0] == "HasPaymeAllowlist" and policy[2] == {"Ref": "AWS::NoValue"}
    deny = policy[1][1]
    assert deny["Effect"] == "Deny" and deny["Resource"] == "execute-api:/*/*/payme"
    assert deny["Condition"]["NotIpAddress"]["aws:SourceIp"] == {"Ref": "PaymeAllowedCidrs"}
    assert template.data["Parameters"]["PaymeAllowedCidrs"]["Default"] == ""  # optional: off by default


def test_every_function_and_the_access_log_have_a_retention(template: SamTemplate) -> None:
    groups = template.resources_of_type("AWS::Logs::LogGroup")
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Fn::If": ["IsProd", 365, 30]}
    named = {g["Properties"].get("LogGroupName", {}).get("Fn::Sub", "") for g in groups.values()}
    for function in template.resources_of_type("AWS::Serverless::Function"):
        assert f"/aws/lambda/${{{function}}}" in named, function


def test_no_function_has_a_wildcard_action_or_resource(template: SamTemplate) -> None:
    for name, resource in template.resources_of_type("AWS::Serverless::Function").items():
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                assert "*" not in str(statement["Action"]), name
                assert statement["Resource"] != "*", name


def test_every_checkov_skip_is_written_with_its_reason() -> None:
    lines = (ROOT / ".ci" / "checkov.yaml").read_text().splitlines()
    skips = [line for line in lines if line.strip().startswith("- CKV_")]
    assert skips, "no skips parsed"
    for line in skips:
        assert "# reason: " in line and len(line.split("# reason: ")[1]) > 20, line


@pytest.mark.checks
def test_checkov_reports_no_failed_check() -> None:
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip("`make checks` installs checkov in .venv-checkov first")
    command = [str(checkov), "--config-file", ".ci/checkov.yaml", "-f", "template.yaml"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "Failed checks: 0" in result.stdout, result.stdout[-3000:]


def test_samconfig_has_dev_and_prod_with_parameters_the_template_takes(template: SamTemplate) -> None:
    import shlex
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    parameters = template.data["Parameters"]
    stacks = {}
    for env in ("default", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        overrides = dict(item.split("=", 1) for item in shlex.split(deploy["parameter_overrides"]))
        assert set(overrides) <= set(parameters), set(overrides) - set(parameters)
        for name, value in overrides.items():
            allowed = parameters[name].get("AllowedValues")
            assert allowed is None or value in allowed, (env, name, value)
        stacks[env] = (config[env]["global"]["parameters"]["stack_name"], overrides)
    assert stacks["default"][0] == "tolov-dev" and stacks["default"][1]["Environment"] == "dev"
    assert stacks["prod"][0] == "tolov-prod" and stacks["prod"][1]["Environment"] == "prod"
    assert stacks["prod"][1]["PaymeAllowedCidrs"] == "185.234.113.0/28"  # Payme Business's addresses
    assert stacks["prod"][1]["AlarmTopicArn"].startswith("arn:aws:sns:")
    assert not re.search(r"(Key|Secret)\w*=", (ROOT / "samconfig.toml").read_text())  # no secret set here
