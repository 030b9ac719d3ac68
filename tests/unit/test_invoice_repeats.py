"""A service is billed once per apartment and period: repeats, conflicts, races and lost replies."""

from typing import Any

import pytest

from tests.support import replies_lost, together
from tests.unit.test_ledger import item
from tolov.billing import errors
from tolov.billing.invoices import Billing, NewItem
from tolov.store.models import Charge, Invoice
from tolov.store.models import connection as _connection


def invoices() -> list[Invoice]:
    return list(Invoice.scan())


def charges(apartment_id: str = "a1") -> list[tuple[str, str, int]]:
    return [(c.charge_key, c.invoice_id, int(c.unpaid)) for c in Charge.query(apartment_id)]


def test_the_charge_key_is_period_and_service(billing: Billing) -> None:
    invoice, created = billing.put_invoice("a1", "2026-10", [item("water", 700), item("gas", 300)])
    assert created
    assert sorted(charges()) == [
        ("2026-10#gas", invoice.invoice_id, 300),
        ("2026-10#water", invoice.invoice_id, 700),
    ]
    assert [i.charge_key for i in invoice.items] == ["2026-10#water", "2026-10#gas"]


def test_an_identical_repeat_returns_the_first_invoice(billing: Billing) -> None:
    first, created = billing.put_invoice("a1", "2026-10", [item("water", 700, 2), item("gas", 300)])
    # Same apartment, period and items, in another order: the platform retried.
    again, created_again = billing.put_invoice("a1", "2026-10", [item("gas", 300), item("water", 700, 2)])
    assert (created, created_again) == (True, False)
    assert again.invoice_id == first.invoice_id and int(again.amount) == 1700
    assert [i.invoice_id for i in invoices()] == [first.invoice_id]
    assert billing.balance("a1").debt == 1700


@pytest.mark.parametrize(
    "items",
    [
        [item("water", 701, 2), item("gas", 300)],  # an amount differs
        [item("water", 700, 3), item("gas", 300)],  # a count differs
        [item("water", 700, 2, title="Hot water"), item("gas", 300)],  # a title differs
        [item("water", 700, 2)],  # fewer items
        [item("water", 700, 2), item("gas", 300), item("power", 100)],  # more items
        [item("power", 100), item("gas", 300)],  # overlaps in one service
    ],
)
def test_a_different_invoice_for_a_billed_service_conflicts_and_names_the_invoice(
    billing: Billing, items: list[NewItem]
) -> None:
    first, _ = billing.put_invoice("a1", "2026-10", [item("water", 700, 2), item("gas", 300)])
    with pytest.raises(errors.InvoiceConflict) as refused:
        billing.put_invoice("a1", "2026-10", items)
    assert refused.value.invoice_id == first.invoice_id
    assert set(refused.value.taken.values()) == {i.service for i in items} & {"water", "gas"}
    assert [i.invoice_id for i in invoices()] == [first.invoice_id]
    assert billing.balance("a1").debt == 1700


def test_other_periods_and_apartments_are_separate_charges(billing: Billing) -> None:
    billing.put_apartment("a2", "Flat 2", "r2")
    october, _ = billing.put_invoice("a1", "2026-10", [item("water", 700)])
    november, created_nov = billing.put_invoice("a1", "2026-11", [item("water", 700)])
    other, created_other = billing.put_invoice("a2", "2026-10", [item("water", 700)])
    assert created_nov and created_other
    assert len({october.invoice_id, november.invoice_id, other.invoice_id}) == 3


def test_a_cancelled_invoice_no_longer_counts(billing: Billing) -> None:
    first, _ = billing.put_invoice("a1", "2026-10", [item("water", 700)])
    billing.cancel_invoice(first.invoice_id)
    again, created = billing.put_invoice("a1", "2026-10", [item("water", 700)])
    assert created and again.invoice_id != first.invoice_id
    assert charges() == [("2026-10#water", again.invoice_id, 700)]
    # Cancelling the old invoice again touches nothing of the new one.
    assert billing.cancel_invoice(first.invoice_id).status == "cancelled"
    assert charges() == [("2026-10#water", again.invoice_id, 700)]
    assert billing.balance("a1").debt == 700


def test_identical_invoices_posted_10_times_at_once_make_one(billing: Billing) -> None:
    results = together([lambda: billing.put_invoice("a1", "2026-10", [item("water", 700)])] * 10)
    assert len({invoice.invoice_id for invoice, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert len(invoices()) == 1 and billing.balance("a1").debt == 700


def test_different_invoices_racing_for_one_service_one_wins_the_rest_conflict(billing: Billing) -> None:
    def bill(amount: int) -> Any:
        try:
            return billing.put_invoice("a1", "2026-10", [item("water", amount)])[0].invoice_id
        except errors.InvoiceConflict as conflict:
            return conflict

    results = together([lambda amount=amount: bill(amount) for amount in range(100, 1100, 100)])
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert all(r.invoice_id == winners[0] for r in results if isinstance(r, errors.InvoiceConflict))
    assert len(invoices()) == 1


def test_a_write_that_landed_whose_reply_was_lost_is_recognised_as_ours(billing: Billing) -> None:
    """The first TransactWriteItems reaches DynamoDB and lands; its reply is dropped, so botocore sends
    it again: that retry meets the invoice it wrote and must return it, not write a second one."""
    landed_before_drop: list[int] = []
    with replies_lost(
        _connection().client, "TransactWriteItems", on_drop=lambda: landed_before_drop.append(len(invoices()))
    ) as dropped:
        invoice, created = billing.put_invoice("a1", "2026-10", [item("water", 700), item("gas", 300)])
    assert dropped == [1] and landed_before_drop == [1]  # the write was in the table when its reply died
    assert created  # the invoice id is the one this call drew: it is ours
    assert [i.invoice_id for i in invoices()] == [invoice.invoice_id]
    assert billing.balance("a1").debt == 1000


def test_a_cancel_whose_reply_was_lost_is_recognised(billing: Billing) -> None:
    invoice, _ = billing.put_invoice("a1", "2026-10", [item("water", 700)])
    with replies_lost(_connection().client, "TransactWriteItems") as dropped:
        cancelled = billing.cancel_invoice(invoice.invoice_id)
    assert dropped == [1] and cancelled.status == "cancelled"
    assert charges() == [] and Invoice.get(invoice.invoice_id).status == "cancelled"
