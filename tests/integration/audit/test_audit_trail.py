"""The audit trail on moto: the gateways record every exchange masked, with a TTL; the routes find them by
invoice, apartment and provider transaction id, oldest first; a failing audit write changes no reply."""

import time
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from tests.click_support import ClickStack, click_stack, complete_form, prepare_form
from tests.payme_harness import LOCAL_KEY, Handler, handler, load_event, water
from tests.support import invoke, rest_event
from tolov.billing.invoices import Billing

__all__ = ["handler"]  # the fixture

PID = "5305e3bab097f420a62ced0b"
CARD = "8600495473316478"


def audit(path: str, **params: str) -> tuple[int, Any]:
    resource = path
    for name in params:
        resource = resource.replace(params[name], "{" + name + "}")
    return invoke("billing_api", rest_event("GET", resource, params))


def pay_with_payme(handler: Handler) -> str:
    billing = Billing()
    billing.put_apartment("apt-1", "Yunusobod 4-18-7", "resident-1")
    invoice = billing.create_invoice("apt-1", "2026-09", [water()])
    account = {"order_id": invoice.invoice_id}
    now = int(time.time() * 1000)
    amount = int(invoice.amount)
    for method, params in [
        ("CheckPerformTransaction", {"amount": amount, "account": account}),
        ("CreateTransaction", {"id": PID, "time": now, "amount": amount, "account": account}),
        ("PerformTransaction", {"id": PID}),
        ("CheckTransaction", {"id": PID}),
    ]:
        assert "result" in handler.invoke(load_event(method, **params))
    return invoice.invoice_id


def test_payme_exchanges_by_invoice_apartment_and_transaction_oldest_first(handler: Handler) -> None:
    invoice_id = pay_with_payme(handler)
    status, body = audit(f"/invoices/{invoice_id}/audit", invoice_id=invoice_id)
    assert status == 200
    operations = [e["operation"] for e in body["entries"]]
    assert operations == [
        "CheckPerformTransaction",
        "CreateTransaction",
        "PerformTransaction",
        "CheckTransaction",
    ]
    assert [e["at"] for e in body["entries"]] == sorted(e["at"] for e in body["entries"])
    create = body["entries"][1]
    assert create["transaction_id"] == PID and create["invoice_id"] == invoice_id
    assert create["request"]["params"]["id"] == PID and create["reply"]["result"]["state"] == 1
    assert body["entries"][2]["reply"]["result"]["state"] == 2

    status, by_tx = audit(f"/transactions/payme/{PID}/audit", provider="payme", transaction_id=PID)
    assert status == 200
    assert [e["operation"] for e in by_tx["entries"]] == operations[1:]

    status, by_apartment = audit("/apartments/apt-1/audit", apartment_id="apt-1")
    assert status == 200 and [e["operation"] for e in by_apartment["entries"]] == operations
    assert LOCAL_KEY not in str(body)


def test_rows_carry_the_ttl_of_the_setting(handler: Handler) -> None:
    pay_with_payme(handler)
    table = boto3.resource("dynamodb").Table("AuditTable")
    items = table.scan()["Items"]  # a test's look at every row; the product reads through the indexes
    assert items
    for item in items:
        assert int(item["expires_at"]) - int(item["at"]) // 1000 == 180 * 86_400
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="AuditTable")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_change_password_is_kept_without_the_password(handler: Handler) -> None:
    handler.invoke(load_event("ChangePassword", password="n3w-key-n3w-key-n3w-key-n3w-key-n3w"))
    item = boto3.resource("dynamodb").Table("AuditTable").scan()["Items"][0]
    assert item["operation"] == "ChangePassword"
    assert "n3w-key" not in str(item) and '"password": "***"' in str(item["request"])


def test_an_audit_write_failure_changes_no_reply(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    billing = Billing()
    billing.put_apartment("apt-1", "Flat", "resident-1")
    invoice = billing.create_invoice("apt-1", "2026-09", [water()])
    event = load_event(
        "CheckPerformTransaction", amount=int(invoice.amount), account={"order_id": invoice.invoice_id}
    )
    healthy = handler.invoke(event)
    from tolov.store.audit_models import AuditRecord

    def fail(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("AuditTable unreachable")

    monkeypatch.setattr(AuditRecord, "save", fail)
    assert handler.invoke(event) == healthy


@pytest.fixture
def click(aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    with click_stack(local_config, monkeypatch) as stack:
        yield stack


def test_click_exchanges_masked_and_found_by_all_three(click: ClickStack) -> None:
    invoice_id = click.invoice(1_500_000)
    trans_id = "2000000001"
    prepared = click.prepare(prepare_form(trans_id, invoice_id, "15000.00"))
    assert prepared["error"] == 0
    done = click.complete(complete_form(trans_id, invoice_id, "15000.00", prepared["merchant_prepare_id"]))
    assert done["error"] == 0
    status, body = audit(f"/invoices/{invoice_id}/audit", invoice_id=invoice_id)
    assert status == 200
    entries = body["entries"]
    assert [e["operation"] for e in entries] == ["prepare", "complete"]
    assert all(e["request"]["sign_string"] == "***" for e in entries)
    assert entries[0]["reply"]["merchant_prepare_id"] == prepared["merchant_prepare_id"]
    assert all(e["invoice_id"] == invoice_id and e["transaction_id"] == trans_id for e in entries)
    status, by_tx = audit(f"/transactions/click/{trans_id}/audit", provider="click", transaction_id=trans_id)
    assert [e["operation"] for e in by_tx["entries"]] == ["prepare", "complete"]
    status, by_apartment = audit("/apartments/apt-1/audit", apartment_id="apt-1")
    assert [e["operation"] for e in by_apartment["entries"]] == ["prepare", "complete"]


def test_a_click_top_up_is_found_by_apartment(click: ClickStack) -> None:
    click.apartment("apt-9")
    prepared = click.prepare(prepare_form("2000000009", "apt-9", "5000.00"))
    assert prepared["error"] == 0
    status, body = audit("/apartments/apt-9/audit", apartment_id="apt-9")
    assert status == 200
    (entry,) = body["entries"]
    assert entry["apartment_id"] == "apt-9" and entry["invoice_id"] is None


def test_garbage_is_kept_too(click: ClickStack) -> None:
    status, _ = click.call("/click/prepare", urlencode({"card": CARD}) + "&&&=")
    assert status == 200
    item = boto3.resource("dynamodb").Table("AuditTable").scan()["Items"][0]
    assert CARD not in str(item)


def test_unknown_lookups_answer_in_the_billing_shape(aws: None) -> None:
    status, body = audit("/invoices/0000000000/audit", invoice_id="0000000000")
    assert status == 404 and "message" in body
    status, body = audit("/apartments/nope/audit", apartment_id="nope")
    assert status == 404 and "errors" in body
    status, body = audit("/transactions/paypal/1/audit", provider="paypal", transaction_id="1")
    assert status == 422 and body["errors"]
    status, body = audit("/transactions/click/1/audit", provider="click", transaction_id="1")
    assert status == 200 and body["entries"] == []
