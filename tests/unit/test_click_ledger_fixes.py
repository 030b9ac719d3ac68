"""Billing-core defects found while building Click on it; each test failed before its fix."""

from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from tolov.billing.errors import CallerConditionFailed, InvoiceLocked
from tolov.billing.invoices import Billing, NewItem
from tolov.billing.ledger import Ledger, PaymentKey, _connection, commit
from tolov.store.models import Apartment, Invoice


class Marker(Model):
    """A stand-in for a provider's own row in the caller's part of a transaction."""

    class Meta:
        table_name = "TransactionsTable"
        region = "us-east-1"

    tx_key = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute()


def _invoice(billing: Billing, amount: int = 5000) -> Invoice:
    billing.put_apartment("apt-1", "Flat 1", "res-1")
    item = NewItem("water", "Water", amount, 1, "10101001001000000", "123456", 0)
    return billing.create_invoice("apt-1", "2026-05", [item])


def _set_state(marker: Marker, expected: str, new: str) -> Any:
    def op(t: TransactWrite) -> None:
        t.update(marker, actions=[Marker.state.set(new)], condition=Marker.state == expected)

    return op


def test_commit_reports_a_failed_caller_op_even_when_it_is_the_only_op(aws: None) -> None:
    marker = Marker("click#1", state="cancelled")
    marker.save()
    with pytest.raises(CallerConditionFailed) as failed:
        commit([_set_state(marker, "prepared", "cancelled")], caller_start=0)
    assert failed.value.index == 0


def test_release_of_an_invoice_we_no_longer_hold_reports_our_failed_condition(aws: None) -> None:
    billing = Billing()
    invoice = _invoice(billing)
    ledger = Ledger()
    ledger.lock_invoice(PaymentKey("click", "2"), invoice.invoice_id, 5000)
    marker = Marker("click#1", state="cancelled")  # already retired by whoever took the invoice
    marker.save()
    with pytest.raises(CallerConditionFailed):
        ledger.release_invoice(
            PaymentKey("click", "1"), invoice.invoice_id, caller_ops=[_set_state(marker, "prepared", "x")]
        )
    assert Marker.get("click#1").state == "cancelled"
    assert Invoice.get(invoice.invoice_id).active_payment == "click#2"


def test_supersede_replaces_an_attempt_of_the_same_provider_only(aws: None) -> None:
    billing = Billing()
    invoice = _invoice(billing)
    ledger = Ledger()
    ledger.lock_invoice(PaymentKey("click", "1"), invoice.invoice_id, 5000)
    previous = ledger.lock_invoice(PaymentKey("click", "2"), invoice.invoice_id, 5000, supersede=True)
    assert previous == "click#1"
    ledger.release_invoice(PaymentKey("click", "2"), invoice.invoice_id)

    # A Payme transaction in progress must keep its reservation: Payme debits before it performs.
    ledger.lock_invoice(PaymentKey("payme", "p1"), invoice.invoice_id, 5000)
    with pytest.raises(InvoiceLocked):
        ledger.lock_invoice(PaymentKey("click", "3"), invoice.invoice_id, 5000, supersede=True)
    assert Invoice.get(invoice.invoice_id).active_payment == "payme#p1"


def test_a_timeout_in_a_transaction_surfaces_as_a_pynamodb_error(aws: None) -> None:
    """PynamoDB's cause_response_code raises AttributeError for a timeout (its cause has response=None);
    commit() read it unguarded, so a lost reply became an AttributeError callers cannot classify."""
    billing = Billing()
    invoice = _invoice(billing)
    events = _connection().client.meta.events

    def timeout(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://dynamodb")

    events.register("before-call.dynamodb.TransactWriteItems", timeout, unique_id="timeout-test")
    try:
        with pytest.raises(TransactWriteError):
            Ledger().post_to_invoice(PaymentKey("payme", "t-1"), invoice.invoice_id, 5000)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="timeout-test")


def test_a_timeout_while_creating_an_apartment_surfaces_as_a_put_error(aws: None) -> None:
    events = Apartment._get_connection().connection.client.meta.events

    def timeout(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://dynamodb")

    events.register("before-call.dynamodb.PutItem", timeout, unique_id="timeout-test")
    try:
        with pytest.raises(PutError):
            Billing().put_apartment("apt-9", "Flat 9", "res-9")
    finally:
        events.unregister("before-call.dynamodb.PutItem", unique_id="timeout-test")
