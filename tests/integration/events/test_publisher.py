"""EventPublisherFunction over moto: real Payme and Click payments write their tables, the tables' streams
(read as Lambda reads them, local.streams) feed the publisher handler, and the bus receives the events,
each valid against its JSON Schema; a failing PutEvents is a partial batch failure retried with the same
event id."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.click_support import ClickStack, click_stack, complete_form, prepare_form
from tests.event_schemas import validate_delivered
from tests.events_support import Outbox
from tests.payme_harness import Harness
from tolov.events import bus as bus_module


@pytest.fixture
def outbox(harness: Harness) -> Outbox:
    return Outbox()


@pytest.fixture
def click(
    harness: Harness, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ClickStack]:
    with click_stack(local_config, monkeypatch) as stack:
        yield stack


def pay_with_payme(harness: Harness, payme_id: str) -> tuple[str, int]:
    invoice_id, amount = harness.invoice()
    assert "result" in harness.create(payme_id, amount, {"order_id": invoice_id})
    harness.result("PerformTransaction", {"id": payme_id})
    return invoice_id, amount


def test_a_payme_payment_and_its_refund_become_events_with_ids_amounts_and_times(
    harness: Harness,
    outbox: Outbox,
) -> None:
    invoice_id, amount = pay_with_payme(harness, "6e730e8e0b852a417aa4a001")
    harness.result("CancelTransaction", {"id": "6e730e8e0b852a417aa4a001", "reason": 5})
    outbox.drain()
    events = outbox.published()
    for event in events:
        validate_delivered(event)
    by_type = {e["detail-type"]: e["detail"] for e in events}
    assert sorted(by_type) == ["invoice.paid", "payment.completed", "payment.refunded"]
    completed = by_type["payment.completed"]
    assert completed["event_id"] == "payment.completed:payme:6e730e8e0b852a417aa4a001"
    assert (completed["provider"], completed["amount"], completed["payment_key"]) == (
        "payme",
        amount,
        "payme#6e730e8e0b852a417aa4a001",
    )
    assert completed["account"] == {"kind": "invoice", "id": invoice_id}
    assert by_type["payment.refunded"]["reason"] == "5"
    paid = by_type["invoice.paid"]
    assert (paid["invoice_id"], paid["provider"], paid["amount"]) == (invoice_id, "payme", amount)


def test_a_cancelled_payme_transaction_is_payment_cancelled(harness: Harness, outbox: Outbox) -> None:
    invoice_id, amount = harness.invoice()
    harness.create("6e730e8e0b852a417aa4a002", amount, {"order_id": invoice_id})
    harness.result("CancelTransaction", {"id": "6e730e8e0b852a417aa4a002", "reason": 3})
    [cancelled] = outbox.details()
    assert (cancelled["type"], cancelled["reason"], cancelled["amount"]) == ("payment.cancelled", "3", amount)


def test_a_click_payment_becomes_payment_completed_and_invoice_paid(
    click: ClickStack, outbox: Outbox
) -> None:
    invoice_id = click.invoice(1_234_567)
    prepared = click.prepare(prepare_form("9100000001", invoice_id, "12345.67"))
    assert prepared["error"] == 0
    done = click.complete(
        complete_form("9100000001", invoice_id, "12345.67", prepared["merchant_prepare_id"])
    )
    assert done["error"] == 0
    outbox.drain()
    events = outbox.published()
    for event in events:
        validate_delivered(event)
    by_type = {e["detail-type"]: e["detail"] for e in events}
    assert sorted(by_type) == ["invoice.paid", "payment.completed"]
    assert by_type["payment.completed"]["event_id"] == "payment.completed:click:9100000001"
    assert by_type["payment.completed"]["amount"] == 1_234_567
    assert by_type["invoice.paid"]["provider"] == "click"


def test_a_failed_put_is_retried_from_its_record_and_keeps_its_event_id(
    harness: Harness,
    outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pay_with_payme(harness, "6e730e8e0b852a417aa4a003")
    real = boto3.client("events")
    calls: list[list[str]] = []

    class Flaky:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            calls.append([e["DetailType"] for e in Entries])
            if len(calls) == 1:
                return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
            return dict(real.put_events(Entries=Entries))

    handler_bus = outbox_bus(monkeypatch)
    handler_bus._events = lambda: Flaky()  # type: ignore[method-assign]
    outbox.drain()
    assert any(r["batchItemFailures"] for r in outbox.responses)  # reported, not raised
    ids = [e["detail"]["event_id"] for e in outbox.published()]
    assert sorted(set(ids)) == sorted(ids)  # the refused entry was not half-published
    assert "payment.completed:payme:6e730e8e0b852a417aa4a003" in ids
    assert calls[0] == calls[1]  # the same record, the same event, again


def outbox_bus(monkeypatch: pytest.MonkeyPatch) -> bus_module.EventBus:
    """The bus of the publisher handler the Outbox loaded."""
    from tests.support import load_handler

    publisher = load_handler("event_publisher").publisher.get()
    return publisher.bus  # type: ignore[no-any-return]


def test_records_that_change_no_payment_state_publish_nothing(harness: Harness, outbox: Outbox) -> None:
    harness.invoice()  # an apartment, an open invoice: streams carry them, no event means them
    assert outbox.drain() > 0 and outbox.published() == []
