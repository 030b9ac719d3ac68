"""template.yaml wiring of the audit trail and reconciliation: AuditTable (TTL, the three lookups), the
reports bucket, ReconciliationFunction's schedule and routes, and least privilege: the audit is written,
never read, by the provider functions; read through its indexes only by the billing API; and
ReconciliationFunction is granted exactly the DynamoDB and S3 calls a run makes (recorded)."""

from typing import Any

import pytest

from local.template import SamTemplate
from tests.payme_harness import HOUR, TIMEOUT, Harness, water
from tests.recon_support import Rig, autopay_in_flight, click_row, rig
from tests.template.conftest import Grant
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.click.attempt import TxState
from tolov.clock import tashkent_date

__all__ = ["rig"]


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return SamTemplate.load()


def props(template: SamTemplate, name: str) -> dict[str, Any]:
    found: dict[str, Any] = template.resources[name]["Properties"]
    return found


def statements(template: SamTemplate, function: str) -> list[dict[str, Any]]:
    return [s for p in props(template, function)["Policies"] if "Statement" in p for s in p["Statement"]]


def _resource(value: Any) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"]).replace("${", "").replace(".Arn}", "")
    return str(value)


def grants(template: SamTemplate, function: str) -> set[Grant]:
    found: set[Grant] = set()
    for statement in statements(template, function):
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        found.update((a, _resource(r)) for a in actions for r in resources)
    return found


def test_the_audit_table_expires_rows_and_serves_the_three_lookups(template: SamTemplate) -> None:
    table = props(template, "AuditTable")
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    indexes = {
        i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "by_invoice": ["invoice_id", "audit_id"],
        "by_apartment": ["apartment_id", "audit_id"],
        "by_transaction": ["tx_key", "audit_id"],
    }
    assert template.data["Parameters"]["AuditRetentionDays"]["Default"] == 180
    assert template.data["Globals"]["Function"]["Environment"]["Variables"]["AUDIT_TTL_DAYS"] == {
        "Ref": "AuditRetentionDays"
    }


@pytest.mark.parametrize("function", ["PaymeMerchantFunction", "ClickShopFunction"])
def test_the_gateways_only_write_the_trail(template: SamTemplate, function: str) -> None:
    assert {a for a, r in grants(template, function) if r.startswith("AuditTable")} == {"dynamodb:PutItem"}


def test_the_billing_api_reads_the_trail_through_its_indexes_only(template: SamTemplate) -> None:
    audit = {g for g in grants(template, "BillingApiFunction") if g[1].startswith("AuditTable")}
    assert audit == {
        ("dynamodb:Query", f"AuditTable/index/{i}") for i in ("by_invoice", "by_apartment", "by_transaction")
    }
    routes = {(r.method, r.path) for r in template.api_routes() if r.function == "BillingApiFunction"}
    assert {
        ("GET", "/invoices/{invoice_id}/audit"),
        ("GET", "/apartments/{apartment_id}/audit"),
        ("GET", "/transactions/{provider}/{transaction_id}/audit"),
    } <= routes


def test_reconciliation_runs_daily_in_tashkent_and_on_its_routes(template: SamTemplate) -> None:
    events = props(template, "ReconciliationFunction")["Events"]
    daily = events["Daily"]
    assert daily["Type"] == "ScheduleV2"
    assert daily["Properties"]["ScheduleExpressionTimezone"] == "Asia/Tashkent"
    assert daily["Properties"]["ScheduleExpression"].startswith("cron(")
    routes = {
        (r.method, r.path, r.api_key_required)
        for r in template.api_routes()
        if r.function == "ReconciliationFunction"
    }
    assert routes == {("GET", "/reports/{date}", True), ("POST", "/reports/{date}/run", True)}
    env = props(template, "ReconciliationFunction")["Environment"]["Variables"]
    assert env["REPORTS_BUCKET"] == {"Ref": "ReportsBucket"}


def test_the_reports_bucket_is_private_and_encrypted(template: SamTemplate) -> None:
    bucket = props(template, "ReportsBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert template.resources["ReportsBucket"]["DeletionPolicy"] == "Retain"
    alarm = props(template, "ReconciliationMismatchAlarm")
    topic = {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "OpsAlarmTopic"}]}
    assert alarm["MetricName"] == "ReconciliationMismatches" and alarm["AlarmActions"] == [topic]


def test_reconciliation_is_granted_exactly_what_a_run_calls(
    harness: Harness, rig: Rig, calls: set[Grant], template: SamTemplate
) -> None:
    invoice_id, amount = harness.invoice(water())
    harness.apartment("apt-1")
    harness.create("a" * 24, amount, {"order_id": invoice_id})
    harness.create("b" * 24, 500_000, {"apartment_id": "apt-1"})
    harness.create("c" * 24, 500_000, {"apartment_id": "apt-1"})
    harness.result("PerformTransaction", {"id": "c" * 24})
    rig.clock.advance(TIMEOUT + HOUR)
    now = rig.clock.now
    click_row("300", TxState.PREPARED, now - 2 * HOUR)
    click_row("301", TxState.CONFIRMED_UNPOSTED, now - 2 * HOUR, confirmed=now - 2 * HOUR)
    rig.click.statuses.update({1300: -1, 1301: -1})
    day = tashkent_date(now)
    autopay_in_flight("ap-1", "r" * 24, day, now)
    rig.receipts.states["r" * 24] = 4
    Ledger(rig.clock).post_to_apartment(PaymentKey("click", "998"), "apt-1", 300_000)  # no attempt behind it
    calls.clear()  # seeding is the other functions' business
    rig.reconciliation.run(day)
    rig.reconciliation.report(day, "json")
    assert rig.out.charges  # every kind of stuck state took its path
    used = {g for g in calls if g[0].startswith(("dynamodb:", "s3:"))}
    granted = {g for g in grants(template, "ReconciliationFunction") if g[0].startswith(("dynamodb:", "s3:"))}
    granted_without_listing = granted - {("s3:ListBucket", "ReportsBucket")}
    assert used - granted == set(), "the function needs these"
    assert granted_without_listing - used == set(), "granted but never used"
