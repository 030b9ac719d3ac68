"""The write engine: what a transaction's failures mean to the code above the store."""

from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from tolov.billing.invoices import Billing, NewItem
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.store.engine import CallerConditionFailed, StoreUnavailable, commit
from tolov.store.models import Apartment, Invoice, connection


class Marker(Model):
    """A stand-in for a provider's own row in the caller's part of a transaction."""

    class Meta:
        table_name = "TransactionsTable"
        region = "us-east-1"

    tx_key = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute()


def _set_state(marker: Marker, expected: str, new: str) -> Any:
    def op(t: TransactWrite) -> None:
        t.update(marker, actions=[Marker.state.set(new)], condition=Marker.state == expected)

    return op


def _invoice(billing: Billing, amount: int = 5000) -> Invoice:
    billing.put_apartment("apt-1", "Flat 1", "res-1")
    item = NewItem("water", "Water", amount, 1, "10101001001000000", "123456", 0)
    return billing.create_invoice("apt-1", "2026-05", [item])


def test_commit_reports_a_failed_caller_op_even_when_it_is_the_only_op(aws: None) -> None:
    """With no ledger ops before them (caller_start=0), a caller op failing is the caller's, not the
    ledger's first op (found building Click and again building Payme)."""
    marker = Marker("click#1", state="cancelled")
    marker.save()
    with pytest.raises(CallerConditionFailed) as failed:
        commit([_set_state(marker, "prepared", "cancelled")], caller_start=0)
    assert failed.value.index == 0


@pytest.fixture
def timeouts(aws: None) -> Any:
    """A read time-out on the given operation of the client that runs it."""
    registered: list[tuple[Any, str]] = []

    def on(client: Any, operation: str) -> None:
        def timeout(**_: Any) -> None:
            raise ReadTimeoutError(endpoint_url="https://dynamodb")

        client.meta.events.register(f"before-call.dynamodb.{operation}", timeout, unique_id="timeout-test")
        registered.append((client, operation))

    yield on
    for client, operation in registered:
        client.meta.events.unregister(f"before-call.dynamodb.{operation}", unique_id="timeout-test")


def test_a_timeout_in_a_transaction_surfaces_as_store_unavailable(timeouts: Any) -> None:
    """PynamoDB's cause_response_code raises AttributeError for a timeout (its cause has response=None);
    commit() read it unguarded, so a lost reply became an AttributeError callers cannot classify."""
    invoice = _invoice(Billing())
    timeouts(connection().client, "TransactWriteItems")
    with pytest.raises(StoreUnavailable):
        Ledger().post_to_invoice(PaymentKey("payme", "t-1"), invoice.invoice_id, 5000)


def test_a_timeout_while_creating_an_apartment_surfaces_as_store_unavailable(timeouts: Any) -> None:
    timeouts(Apartment._get_connection().connection.client, "PutItem")
    with pytest.raises(StoreUnavailable):
        Billing().put_apartment("apt-9", "Flat 9", "res-9")
