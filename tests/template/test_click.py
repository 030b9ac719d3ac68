"""template.yaml wiring of the Click functions: routes, configuration, least privilege, the reversal queue."""

from typing import Any

import pytest

from local.template import ROOT, SamTemplate, function_environment, load_config


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


@pytest.mark.parametrize("function", ["ClickShopFunction", "ClickReversalFunction"])
def test_each_function_has_its_log_group(template: SamTemplate, function: str) -> None:
    group = resource(template, f"{function}LogGroup")["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}


def test_handlers_import_nothing_of_payme() -> None:
    for name in ("click_shop", "click_reversal"):
        imports = [
            line
            for line in (ROOT / "functions" / name / "app.py").read_text().splitlines()
            if line.startswith(("import ", "from "))
        ]
        assert imports and not any("payme" in line for line in imports)
