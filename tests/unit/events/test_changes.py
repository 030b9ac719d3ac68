"""The mapping of state changes (stream images) to domain events: which transitions are events, their
ids (the same for the same change, so a replay dedupes), amounts as integer tiyin, and the schemas."""

import json
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from tests.event_schemas import validate
from tolov.events.changes import (
    autopay_events,
    invoice_events,
    iso_time,
    transaction_events,
)

T = 1_764_633_600_123  # 2025-12-02T00:00:00.123Z


def payme(state: int, **extra: Any) -> dict[str, Any]:
    row = {
        "tx_key": "payme#6e730e8e0b852a417aa49c01",
        "payme_id": "6e730e8e0b852a417aa49c01",
        "amount": Decimal(2_500_000),
        "account_kind": "apartment",
        "account_ref": "apt-1",
        "state": Decimal(state),
        "perform_time": Decimal(T if state in (2, -2) else 0),
        "cancel_time": Decimal(T + 5 if state < 0 else 0),
    }
    return {**row, **extra}


def click(state: str, **extra: Any) -> dict[str, Any]:
    row = {
        "tx_key": "click#7000000001",
        "click_trans_id": "7000000001",
        "merchant_trans_id": "inv-1",
        "account": "invoice",
        "amount": Decimal(1_500_000),
        "state": state,
        "confirmed_at": Decimal(T),
        "cancelled_at": Decimal(T),
        "reversed_at": Decimal(T),
    }
    return {**row, **extra}


def test_payme_transitions_are_completed_cancelled_and_refunded() -> None:
    [completed] = transaction_events(payme(1), payme(2))
    assert completed.detail == {
        "event_id": "payment.completed:payme:6e730e8e0b852a417aa49c01",
        "type": "payment.completed",
        "provider": "payme",
        "amount": 2_500_000,
        "time": "2025-12-02T00:00:00.123Z",
        "transaction_id": "6e730e8e0b852a417aa49c01",
        "payment_key": "payme#6e730e8e0b852a417aa49c01",
        "account": {"kind": "apartment", "id": "apt-1"},
    }
    [cancelled] = transaction_events(payme(1), payme(-1, reason=Decimal(3)))
    [refunded] = transaction_events(payme(2), payme(-2, reason=Decimal(5)))
    assert (cancelled.type, cancelled.detail["reason"]) == ("payment.cancelled", "3")
    assert (refunded.type, refunded.detail["reason"], refunded.detail["time"]) == (
        "payment.refunded",
        "5",
        iso_time(T + 5),
    )
    for event in (completed, cancelled, refunded):
        validate(event.detail)


def test_a_change_that_is_no_transition_is_no_event() -> None:
    assert transaction_events(None, payme(1)) == []  # created: nothing happened to money yet
    assert transaction_events(payme(2), payme(2, fiscal_perform='{"x": 1}')) == []  # fiscal data only
    assert transaction_events(None, {"tx_key": "click#counter", "value": Decimal(7)}) == []
    assert transaction_events(payme(2), None) == []


def test_the_same_change_gives_the_same_event_id_so_a_replay_dedupes() -> None:
    first = transaction_events(payme(1), payme(2))
    again = transaction_events(payme(1), payme(2))
    assert first == again and first[0].event_id == again[0].event_id


def test_click_transitions() -> None:
    [completed] = transaction_events(click("prepared"), click("confirmed"))
    [cancelled] = transaction_events(click("prepared"), click("cancelled", reason="click_error_-5017"))
    [refunded] = transaction_events(click("confirmed_unposted"), click("reversed"))
    assert [e.type for e in (completed, cancelled, refunded)] == [
        "payment.completed",
        "payment.cancelled",
        "payment.refunded",
    ]
    assert completed.detail["account"] == {"kind": "invoice", "id": "inv-1"}
    assert transaction_events(click("prepared"), click("confirmed_unposted")) == []  # not posted
    for event in (completed, cancelled, refunded):
        validate(event.detail)


def invoice(status: str, payments: dict[str, Any]) -> dict[str, Any]:
    return {
        "invoice_id": "inv-1",
        "apartment_id": "apt-1",
        "period": "2026-05",
        "amount": Decimal(1_500_000),
        "status": status,
        "payments": payments,
    }


def test_an_invoice_becoming_paid_names_the_payment_that_paid_it() -> None:
    [paid] = invoice_events(
        invoice("open", {"credit": Decimal(500_000)}),
        invoice("paid", {"credit": Decimal(500_000), "click#7000000001": Decimal(1_000_000)}),
        T,
    )
    assert (paid.event_id, paid.detail["provider"], paid.detail["amount"]) == (
        "invoice.paid:inv-1:click#7000000001",
        "click",
        1_500_000,
    )
    validate(paid.detail)
    assert invoice_events(invoice("paid", {}), invoice("paid", {}), T) == []
    assert invoice_events(None, invoice("open", {}), T) == []


def test_autopay_charged_and_failed() -> None:
    period = {"pk": "ap-1", "sk": "period#2026-10", "period": "2026-10", "receipt_id": "r-1"}
    open_, paid = (
        {**period, "status": "open", "amount": Decimal(3_000_000), "updated_at": Decimal(T)},
        {**period, "status": "paid", "amount": Decimal(3_000_000), "updated_at": Decimal(T)},
    )
    [charged] = autopay_events(open_, paid, lambda autopay_id: "apt-9")
    assert (charged.event_id, charged.detail["apartment_id"], charged.detail["payment_key"]) == (
        "autopay.charged:ap-1:2026-10:r-1",
        "apt-9",
        "payme#r-1",
    )
    failure = {
        "event_id": "autopay.failed:ap-1:2026-10:r-1",
        "autopay_id": "ap-1",
        "apartment_id": "apt-9",
        "provider": "payme",
        "period": "2026-10",
        "receipt_id": "r-1",
        "amount": 3_000_000,
        "reason": "card_declined",
        "error_code": -31301,
        "at": T,
    }
    row = {"pk": "ap-1", "sk": "autopay", "status": "inactive", "card_token": b"ciphertext"}
    [failed] = autopay_events({**row, "status": "active"}, {**row, "pending_event": json.dumps(failure)}, str)
    assert failed.event_id == failure["event_id"] and "card_token" not in failed.detail
    assert "ciphertext" not in json.dumps(failed.detail)
    same = {**row, "pending_event": json.dumps(failure)}
    assert autopay_events(same, {**same, "updated_at": Decimal(T + 1)}, str) == []  # already out
    for event in (charged, failed):
        validate(event.detail)


def test_amounts_are_whole_tiyin_or_the_record_fails() -> None:
    with pytest.raises(ValueError, match="whole tiyin"):
        transaction_events(payme(1), payme(2, amount=Decimal("2500000.5")))


def test_the_schemas_refuse_what_consumers_must_not_get() -> None:
    [event] = transaction_events(payme(1), payme(2))
    for broken in (
        {**event.detail, "amount": 25000.0},  # a float amount
        {**event.detail, "card_token": "tok"},  # a field no schema names
        {k: v for k, v in event.detail.items() if k != "event_id"},
        {**event.detail, "time": "2025-12-02 00:00:00"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)
