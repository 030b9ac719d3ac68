"""template.yaml wiring of autopay: the schedule, the charge queue and its DLQ and alarms, the concurrency
bound, the KMS key, the event bus, the lease between the charger's timeout and the queue's visibility."""

from typing import Any

import pytest

from local.template import SamTemplate, function_environment, load_config
from tolov.autopay.charger_gateway import (
    BACKOFF_CAP_S,
    LONGEST_CHARGE_MS,
    OUR_SIDE_METRIC,
    backoff_seconds,
    metric_name,
)
from tolov.settings import load_settings

TOPIC = {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "OpsAlarmTopic"}]}


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return SamTemplate.load()


def props(template: SamTemplate, name: str) -> dict[str, Any]:
    found: dict[str, Any] = template.resources[name]["Properties"]
    return found


def test_the_scheduler_runs_daily_at_nine_in_tashkent(template: SamTemplate) -> None:
    [event] = props(template, "AutopaySchedulerFunction")["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == "cron(0 9 * * ? *)"
    assert event["Properties"]["ScheduleExpressionTimezone"] == "Asia/Tashkent"
    assert event["Properties"]["Input"] == "{}"


def test_the_charger_consumes_the_queue_in_batches_with_partial_failures_at_a_bounded_concurrency(
    template: SamTemplate,
) -> None:
    charger = props(template, "AutopayChargerFunction")
    [event] = charger["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["Queue"] == {
        "Fn::GetAtt": ["AutopayChargeQueue", "Arn"]
    }
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    bound = {"Ref": "AutopayChargerConcurrency"}
    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": bound}
    assert charger["ReservedConcurrentExecutions"] == bound
    assert template.data["Parameters"]["AutopayChargerConcurrency"]["MinValue"] == 2  # SQS's own minimum


def test_the_lease_outlives_the_charger_and_expires_before_a_redelivery(template: SamTemplate) -> None:
    timeout_s = props(template, "AutopayChargerFunction")["Timeout"]
    visibility_s = props(template, "AutopayChargeQueue")["VisibilityTimeout"]
    lease_s = (
        load_settings(function_environment("AutopayChargerFunction", load_config())).autopay.lease_ms / 1000
    )
    assert timeout_s < lease_s < visibility_s and visibility_s >= 6 * timeout_s


def test_the_charger_timeout_covers_the_longest_charge_with_room(template: SamTemplate) -> None:
    """Five Subscribe calls at the client's bound each (it never repeats one) and the AWS calls fit one
    invocation, so the first record of a batch always ends before Lambda stops it; later records start only
    with that much time left (tests/integration/autopay: the charger hands the rest back)."""
    timeout_ms = props(template, "AutopayChargerFunction")["Timeout"] * 1000
    assert timeout_ms >= LONGEST_CHARGE_MS + 20_000
    [event] = props(template, "AutopayChargerFunction")["Events"].values()
    batch = event["Properties"]["BatchSize"]
    assert 1 <= batch <= 10


def test_the_charge_queue_has_an_alarmed_dead_letter_queue(template: SamTemplate) -> None:
    redrive = props(template, "AutopayChargeQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["AutopayChargeDeadLetterQueue", "Arn"]}
    alarm = props(template, "AutopayDeadLetterAlarm")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["AutopayChargeDeadLetterQueue", "QueueName"]}}
    ]
    assert alarm["AlarmActions"] == [TOPIC]


def test_our_side_refusals_have_an_alarm_on_the_metric_the_charger_emits(template: SamTemplate) -> None:
    alarm = props(template, "AutopayOurSideAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Tolov", OUR_SIDE_METRIC)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "tolov"}]  # Powertools' default dimension
    assert metric_name("our_side") == "AutopayOurSide" and metric_name("card_failed") == "AutopayCardFailed"


def test_autopay_settings_come_from_the_template(template: SamTemplate) -> None:
    everything = load_settings(function_environment("AutopayChargerFunction", load_config()))
    settings = everything.autopay
    assert settings.kms_key_id == "alias/AutopayCardKey" and everything.event_bus == "TolovEventBus"
    assert settings.queue_url.endswith("/AutopayChargeQueue") and settings.retry_days == 3
    key = template.resources["AutopayCardKey"]
    assert key["DeletionPolicy"] == "Retain" and key["Properties"]["EnableKeyRotation"] is True


def test_the_charger_may_decrypt_but_not_encrypt_tokens_and_only_the_billing_api_encrypts(
    template: SamTemplate,
) -> None:
    def kms_actions(function: str) -> list[str]:
        policies = props(template, function)["Policies"]
        statements = [s for p in policies for s in p.get("Statement", [])]
        actions = [
            s["Action"] for s in statements if s["Resource"] == {"Fn::GetAtt": ["AutopayCardKey", "Arn"]}
        ]
        return sorted(a for group in actions for a in ([group] if isinstance(group, str) else group))

    assert kms_actions("AutopayChargerFunction") == ["kms:Decrypt"]
    assert kms_actions("BillingApiFunction") == ["kms:Decrypt", "kms:Encrypt"]
    assert kms_actions("AutopaySchedulerFunction") == []


def test_the_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    for count, ceiling in [(1, 30), (2, 60), (3, 120), (6, 900), (20, BACKOFF_CAP_S)]:
        delays = {backoff_seconds(count) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (count, delays)
