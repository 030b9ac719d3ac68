"""template.yaml wiring of the Click functions: routes, configuration, least privilege, the reversal queue."""

from typing import Any

import pytest

from local.template import ROOT, SamTemplate, function_environment, load_config
from tests.click_support import click_stack, complete_form, next_trans_id, prepare_form
from tests.faults import inject
from tests.template.conftest import Grant
from tests.template.test_ops import grants


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return SamTemplate.load()


def resource(template: SamTemplate, name: str) -> dict[str, Any]:
    found: dict[str, Any] = template.resources[name]
    return found


def test_click_callbacks_are_two_post_routes_without_an_api_key(template: SamTemplate) -> None:
    routes = {(r.method, r.path): r for r in template.api_routes() if r.function == "ClickShopFunction"}
    assert set(routes) == {("POST", "/click/prepare"), ("POST", "/click/complete")}
    assert not any(r.api_key_required for r in routes.values())
    assert {r.handler_file for r in routes.values()} == {"functions/click_shop/app.py"}


def test_click_shop_configuration(template: SamTemplate) -> None:
    env = function_environment("ClickShopFunction", load_config())
    assert env["CLICK_SERVICE_ID"] == "12345"
    assert env["CLICK_SECRET_KEY_SECRET_ARN"] == "ClickSecretKeySecret"
    assert env["CLICK_REVERSAL_QUEUE_URL"].endswith("/ClickReversalQueue")  # a queue's !Ref is its URL
    assert env["CLICK_CANCEL_AFTER_CONFIRM_ERROR"] == "-4"
    parameter = template.data["Parameters"]["ClickCancelAfterConfirmError"]
    assert parameter["AllowedValues"] == ["-4", "-9"]


def _statements(template: SamTemplate, function: str) -> list[dict[str, Any]]:
    policies = resource(template, function)["Properties"]["Policies"]
    return [s for p in policies if "Statement" in p for s in p["Statement"]]


@pytest.mark.parametrize("function", ["ClickShopFunction", "ClickReversalFunction"])
def test_least_privilege(template: SamTemplate, function: str) -> None:
    policies = resource(template, function)["Properties"]["Policies"]
    assert not any("DynamoDBCrudPolicy" in p or "DynamoDBWritePolicy" in p for p in policies)
    for statement in _statements(template, function):
        assert all(action.startswith("dynamodb:") and "*" not in action for action in statement["Action"])
        assert "dynamodb:DeleteItem" not in statement["Action"] and "dynamodb:Scan" not in statement["Action"]
        assert statement["Resource"] != "*"
    secret = {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "ClickSecretKeySecret"}}}
    assert secret in policies


def test_the_reversal_queue_has_a_dead_letter_queue_and_a_partial_batch_consumer(
    template: SamTemplate,
) -> None:
    queue = resource(template, "ClickReversalQueue")["Properties"]
    dead_letters = {"Fn::GetAtt": ["ClickReversalDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == dead_letters
    consumer = resource(template, "ClickReversalFunction")["Properties"]
    event = consumer["Events"]["Reversals"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= 6 * consumer["Timeout"]
    shop_policies = resource(template, "ClickShopFunction")["Properties"]["Policies"]
    send = {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ClickReversalQueue", "QueueName"]}}}
    assert send in shop_policies


@pytest.mark.parametrize("function", ["ClickShopFunction", "ClickReversalFunction", "ClickCompleteFunction"])
def test_each_function_has_its_log_group(template: SamTemplate, function: str) -> None:
    group = resource(template, f"{function}LogGroup")["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}


def test_handlers_import_nothing_of_payme() -> None:
    for name in ("click_shop", "click_reversal", "click_complete"):
        imports = [
            line
            for line in (ROOT / "functions" / name / "app.py").read_text().splitlines()
            if line.startswith(("import ", "from "))
        ]
        assert imports and not any("payme" in line for line in imports)


def test_the_complete_queue_has_a_dead_letter_queue_an_alarm_and_a_partial_batch_consumer(
    template: SamTemplate,
) -> None:
    queue = resource(template, "ClickCompleteQueue")["Properties"]
    dead_letters = {"Fn::GetAtt": ["ClickCompleteDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == dead_letters
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 10  # outlasts a DynamoDB outage of some minutes
    consumer = resource(template, "ClickCompleteFunction")["Properties"]
    assert consumer["CodeUri"] == "functions/click_complete/"
    event = consumer["Events"]["Completes"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["ClickCompleteQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= 6 * consumer["Timeout"]
    [alarm] = [
        a["Properties"]
        for a in template.resources_of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ClickCompleteDeadLetterQueue", "QueueName"]}}]
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Threshold"] == 1
    orphans = resource(template, "ClickQueuedCompleteOrphanAlarm")["Properties"]
    assert orphans["MetricName"] == "ClickQueuedCompleteOrphaned"
    assert orphans["Dimensions"] == [{"Name": "service", "Value": "tolov"}]


def test_only_the_click_function_sends_completes_and_the_consumer_only_reversals(
    template: SamTemplate,
) -> None:
    env = function_environment("ClickShopFunction", load_config())
    assert env["CLICK_COMPLETE_QUEUE_URL"].endswith("/ClickCompleteQueue")
    consumer_env = function_environment("ClickCompleteFunction", load_config())
    assert consumer_env["CLICK_REVERSAL_QUEUE_URL"].endswith("/ClickReversalQueue")
    assert "CLICK_SECRET_KEY_SECRET_ARN" not in consumer_env  # a queued Complete was verified already

    def sends(function: str) -> set[str]:
        policies = resource(template, function)["Properties"]["Policies"]
        return {
            p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0]
            for p in policies
            if "SQSSendMessagePolicy" in p
        }

    assert sends("ClickShopFunction") == {"ClickReversalQueue", "ClickCompleteQueue"}
    assert sends("ClickCompleteFunction") == {"ClickReversalQueue"}
    senders = {
        name
        for name, r in template.resources_of_type("AWS::Serverless::Function").items()
        for p in r["Properties"].get("Policies", [])
        if isinstance(p, dict) and "ClickCompleteQueue" in str(p.get("SQSSendMessagePolicy"))
    }
    assert senders == {"ClickShopFunction"}
    policies = resource(template, "ClickCompleteFunction")["Properties"]["Policies"]
    assert not any("AWSSecretsManagerGetSecretValuePolicy" in p for p in policies)


def test_the_complete_consumer_is_granted_exactly_what_settling_calls(
    aws: None,
    local_config: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    calls: set[Grant],
    template: SamTemplate,
) -> None:
    """Every way a queued Complete settles (posted to an invoice, or to an apartment as credit or paying
    its open charges; reversed after being superseded; orphaned), each call recorded while the consumer
    ran."""
    used: set[Grant] = set()
    with click_stack(local_config, monkeypatch) as stack:
        invoice_id = stack.invoice(1_500_000)
        other_invoice = stack.invoice(2_000_000, apartment_id="apt-2")
        stack.invoice(1_000_000, apartment_id="apt-3")  # a top-up exactly paying its open charges
        part_paid = stack.invoice(1_000_000, apartment_id="apt-4")
        ctid = next_trans_id()  # half of it paid by a top-up: its charges are read, not built from items
        pid = stack.prepare(prepare_form(ctid, "apt-4", "5000"))["merchant_prepare_id"]
        assert stack.complete(complete_form(ctid, "apt-4", "5000", pid))["error"] == 0
        lost_reply = stack.invoice(1_200_000, apartment_id="apt-5")
        cases = [
            (invoice_id, "15000.00", None),
            ("apt-1", "20000", None),
            ("apt-3", "10000", None),
            (other_invoice, "20000.00", "supersede"),
            ("apt-2", "999", "unknown prepare id"),
            (part_paid, "5000.00", None),
            (lost_reply, "12000.00", "reply lost"),  # the posting landed unseen: read back by key
        ]
        for account, amount, twist in cases:
            ctid = next_trans_id()
            if twist == "unknown prepare id":
                pid = 999_999_999
            else:
                pid = stack.prepare(prepare_form(ctid, account, amount))["merchant_prepare_id"]
            with inject() as faults:
                faults.outage(3600)
                assert stack.complete(complete_form(ctid, account, amount, pid))["error"] == 0
            if twist == "supersede":
                assert stack.prepare(prepare_form(next_trans_id(), account, amount))["error"] == 0
            messages = stack.queued_completes()
            calls.clear()
            with inject() as faults:
                if twist == "reply lost":
                    faults.reply_lost("TransactWriteItems")
                assert stack.settle(messages) == []
            used |= {g for g in calls if g[0].startswith("dynamodb:")}
    granted = {g for g in grants(template, "ClickCompleteFunction") if g[0].startswith("dynamodb:")}
    tables = {f"{name}": name for name in template.resources_of_type("AWS::DynamoDB::Table")}
    used = {(action, tables.get(table, table)) for action, table in used}
    assert used - granted == set(), "the function needs these"
    assert granted - used == set(), "granted but never used"
