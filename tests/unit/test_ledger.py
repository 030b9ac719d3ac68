"""Ledger rules: one-time and accumulative postings, reversal, reservation, exactly-once under threads."""

from collections.abc import Callable
from typing import Any

import pytest
from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from tests.support import together
from tolov.billing import errors
from tolov.billing.invoices import Billing, NewItem
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger, PostingResult, allocate
from tolov.store.engine import CallerConditionFailed
from tolov.store.models import Apartment, Charge, Invoice, Posting


def item(service: str, amount: int, count: int = 1, title: str | None = None) -> NewItem:
    return NewItem(
        service=service,
        title=title or service.title(),
        amount=amount,
        count=count,
        ikpu="10305001001000000",
        package_code="1503617",
        vat_percent=12,
    )


def debts(apartment_id: str = "a1") -> list[tuple[str, int]]:
    return [(c.charge_key, int(c.unpaid)) for c in Charge.query(apartment_id)]


def credit(apartment_id: str = "a1") -> int:
    return int(Apartment.get(apartment_id).credit)


@pytest.mark.parametrize(
    ("charges", "amount", "expected", "remainder"),
    [
        ([("a", 100), ("b", 50)], 120, [("a", 100), ("b", 20)], 0),
        ([("a", 100), ("b", 50)], 150, [("a", 100), ("b", 50)], 0),
        ([("a", 100), ("b", 50)], 175, [("a", 100), ("b", 50)], 25),
        ([("a", 100)], 1, [("a", 1)], 0),
        ([], 500, [], 500),
        ([("a", 0), ("b", 10)], 5, [("b", 5)], 0),
    ],
)
def test_allocate_oldest_first(
    charges: list[tuple[str, int]], amount: int, expected: list[tuple[str, int]], remainder: int
) -> None:
    assert allocate(charges, amount) == (expected, remainder)


def test_one_time_posting_pays_exactly_the_unpaid_amount_once(billing: Billing) -> None:
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 1000, 2), item("gas", 500)])
    assert invoice.amount == 2500
    with pytest.raises(errors.AmountMismatch) as mismatch:
        billing.ledger.post_to_invoice(PaymentKey("payme", "t0"), invoice.invoice_id, 2499)
    assert mismatch.value.expected == 2500
    first = billing.ledger.post_to_invoice(PaymentKey("payme", "t1"), invoice.invoice_id, 2500)
    again = billing.ledger.post_to_invoice(PaymentKey("payme", "t1"), invoice.invoice_id, 2500)
    assert (first.created, again.created) == (True, False)
    assert Invoice.get(invoice.invoice_id).status == "paid"
    assert debts() == [("2026-10#gas", 0), ("2026-10#water", 0)]
    with pytest.raises(errors.InvoiceAlreadyPaid):
        billing.ledger.post_to_invoice(PaymentKey("click", "c1"), invoice.invoice_id, 2500)


@pytest.mark.parametrize(
    ("prepare", "error"),
    [
        (lambda b, inv: b.cancel_invoice(inv.invoice_id), errors.InvoiceCancelled),
        (
            lambda b, inv: b.ledger.lock_invoice(PaymentKey("payme", "other"), inv.invoice_id, 700),
            errors.InvoiceLocked,
        ),
        (lambda b, inv: None, None),
    ],
)
def test_one_time_posting_refusals(
    billing: Billing, prepare: Callable[[Billing, Invoice], Any], error: type[Exception] | None
) -> None:
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 700)])
    prepare(billing, invoice)
    post = lambda: billing.ledger.post_to_invoice(PaymentKey("payme", "t1"), invoice.invoice_id, 700)  # noqa: E731
    if error is None:
        assert post().created
    else:
        with pytest.raises(error):
            post()
        assert Posting.count() == 0


def test_require_lock_refuses_a_payment_that_does_not_hold_the_reservation(billing: Billing) -> None:
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 700)])
    key = PaymentKey("payme", "t1")
    with pytest.raises(errors.InvoiceLocked):
        billing.ledger.post_to_invoice(key, invoice.invoice_id, 700, require_lock=True)
    billing.ledger.lock_invoice(key, invoice.invoice_id, 700)
    assert Invoice.get(invoice.invoice_id).active_payment == "payme#t1"
    assert billing.ledger.post_to_invoice(key, invoice.invoice_id, 700, require_lock=True).created
    assert Invoice.get(invoice.invoice_id).active_payment is None


def test_reservation_can_be_released_or_superseded(billing: Billing) -> None:
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 700)])
    old, new = PaymentKey("click", "1"), PaymentKey("click", "2")
    assert billing.ledger.lock_invoice(old, invoice.invoice_id, 700) is None
    with pytest.raises(errors.InvoiceLocked):
        billing.ledger.lock_invoice(new, invoice.invoice_id, 700)
    assert billing.ledger.lock_invoice(new, invoice.invoice_id, 700, supersede=True) == "click#1"
    billing.ledger.release_invoice(old, invoice.invoice_id)  # no longer the holder: nothing changes
    assert Invoice.get(invoice.invoice_id).active_payment == "click#2"
    billing.ledger.release_invoice(new, invoice.invoice_id)
    assert Invoice.get(invoice.invoice_id).active_payment is None
    with pytest.raises(errors.AmountMismatch):
        billing.ledger.lock_invoice(old, invoice.invoice_id, 701)


def test_accumulative_posting_allocates_by_period_then_service_and_keeps_credit(billing: Billing) -> None:
    billing.create_invoice("a1", "2026-10", [item("water", 300), item("electricity", 200)])
    billing.create_invoice("a1", "2026-09", [item("gas", 100)])
    result = billing.ledger.post_to_apartment(PaymentKey("click", "p1"), "a1", 350)
    assert [(a.charge_key, int(a.amount)) for a in result.posting.allocations] == [
        ("2026-09#gas", 100),
        ("2026-10#electricity", 200),
        ("2026-10#water", 50),
    ]
    assert debts() == [("2026-09#gas", 0), ("2026-10#electricity", 0), ("2026-10#water", 250)]
    billing.ledger.post_to_apartment(PaymentKey("click", "p2"), "a1", 400)
    assert credit() == 150 and billing.balance("a1").debt == 0
    invoices = {i.period: i for i in Invoice.scan()}
    assert invoices["2026-10"].status == "paid" and int(invoices["2026-10"].paid_amount) == 500
    assert invoices["2026-10"].payments.as_dict() == {"click#p1": 250, "click#p2": 250}


def test_next_invoice_consumes_credit(billing: Billing) -> None:
    billing.ledger.post_to_apartment(PaymentKey("payme", "t1"), "a1", 1000)
    assert credit() == 1000
    partly = billing.create_invoice("a1", "2026-11", [item("water", 600), item("gas", 600)])
    assert (int(partly.paid_amount), partly.status, credit()) == (1000, "open", 0)
    assert billing.balance("a1").debt == 200
    billing.ledger.post_to_apartment(PaymentKey("payme", "t2"), "a1", 900)
    covered = billing.create_invoice("a1", "2026-12", [item("water", 700)])
    assert (covered.status, credit()) == ("paid", 0)


def test_accumulative_posting_leaves_a_reserved_invoice_to_its_payment(billing: Billing) -> None:
    reserved = billing.create_invoice("a1", "2026-09", [item("water", 300)])
    billing.create_invoice("a1", "2026-10", [item("gas", 100)])
    billing.ledger.lock_invoice(PaymentKey("payme", "t1"), reserved.invoice_id, 300)
    billing.ledger.post_to_apartment(PaymentKey("click", "p1"), "a1", 150)
    assert debts() == [("2026-09#water", 300), ("2026-10#gas", 0)] and credit() == 50
    assert billing.ledger.post_to_invoice(
        PaymentKey("payme", "t1"), reserved.invoice_id, 300, require_lock=True
    ).created


def test_reversal_restores_debts_and_takes_back_credit_once(billing: Billing) -> None:
    billing.create_invoice("a1", "2026-10", [item("water", 300)])
    billing.ledger.post_to_apartment(PaymentKey("payme", "t1"), "a1", 500)
    assert (debts(), credit()) == ([("2026-10#water", 0)], 200)
    first = billing.ledger.reverse(PaymentKey("payme", "t1"), reason="refund")
    again = billing.ledger.reverse("payme#t1", reason="refund")
    assert (first.created, again.created) == (True, False)
    assert (debts(), credit()) == ([("2026-10#water", 300)], 0)
    invoice = next(iter(Invoice.scan()))
    assert (invoice.status, int(invoice.paid_amount), invoice.payments.as_dict()) == ("open", 0, {})
    with pytest.raises(errors.PostingNotFound):
        billing.ledger.reverse("payme#nope", reason="refund")


def test_reversal_of_spent_credit_becomes_debt(billing: Billing) -> None:
    billing.ledger.post_to_apartment(PaymentKey("payme", "t1"), "a1", 400)
    billing.create_invoice("a1", "2026-10", [item("water", 300)])  # consumes 300 of the credit
    billing.ledger.reverse("payme#t1", reason="refund")
    balance = billing.balance("a1")
    assert (balance.debt, balance.credit, credit()) == (300, 0, -300)


def test_a_failing_caller_condition_writes_nothing(billing: Billing) -> None:
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 300)])
    guard = lambda t: t.condition_check(Apartment, "a1", condition=Apartment.label == "not this")  # noqa: E731
    with pytest.raises(CallerConditionFailed) as failed:
        billing.ledger.post_to_invoice(PaymentKey("payme", "t1"), invoice.invoice_id, 300, caller_ops=[guard])
    assert failed.value.index == 0
    assert Posting.count() == 0 and Invoice.get(invoice.invoice_id).status == "open"
    assert debts() == [("2026-10#water", 300)]


def hammer(n: int, action: Callable[[], PostingResult]) -> list[Any]:
    """Run `action` in n threads released together; return results or the exceptions raised."""

    def caught() -> Any:
        try:
            return action()
        except Exception as error:  # collected, asserted by the caller
            return error

    return together([caught] * n)


def test_same_invoice_payment_posted_20_times_at_once_moves_the_ledger_once(billing: Billing) -> None:
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 1000), item("gas", 500)])
    results = hammer(
        20, lambda: billing.ledger.post_to_invoice(PaymentKey("payme", "same"), invoice.invoice_id, 1500)
    )
    assert all(isinstance(r, PostingResult) for r in results), results
    assert sum(r.created for r in results) == 1
    assert {r.posting.posted_at for r in results} == {results[0].posting.posted_at}
    stored = Invoice.get(invoice.invoice_id)
    assert (stored.status, int(stored.paid_amount)) == ("paid", 1500)
    assert debts() == [("2026-10#gas", 0), ("2026-10#water", 0)] and Posting.count() == 1


def test_same_apartment_payment_posted_20_times_at_once_moves_the_ledger_once(billing: Billing) -> None:
    billing.create_invoice("a1", "2026-10", [item("water", 1000)])
    results = hammer(20, lambda: billing.ledger.post_to_apartment(PaymentKey("click", "same"), "a1", 1300))
    assert all(isinstance(r, PostingResult) for r in results), results
    assert sum(r.created for r in results) == 1
    assert debts() == [("2026-10#water", 0)] and credit() == 300 and Posting.count() == 1


def test_different_payments_racing_for_one_apartment_each_count_once(billing: Billing) -> None:
    billing.create_invoice("a1", "2026-10", [item("water", 1000), item("gas", 1000)])
    counter = iter(range(100))
    results = hammer(
        10, lambda: billing.ledger.post_to_apartment(PaymentKey("click", f"p{next(counter)}"), "a1", 250)
    )
    assert all(isinstance(r, PostingResult) and r.created for r in results), results
    assert debts() == [("2026-10#gas", 0), ("2026-10#water", 0)] and credit() == 500


def test_one_time_payments_racing_for_one_invoice_only_one_wins(billing: Billing) -> None:
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 1000)])
    counter = iter(range(100))
    results = hammer(
        20,
        lambda: billing.ledger.post_to_invoice(
            PaymentKey("payme", f"t{next(counter)}"), invoice.invoice_id, 1000
        ),
    )
    winners = [r for r in results if isinstance(r, PostingResult)]
    assert len(winners) == 1 and winners[0].created
    assert all(isinstance(r, errors.InvoiceAlreadyPaid) for r in results if r not in winners), results
    assert Posting.count() == 1 and int(Invoice.get(invoice.invoice_id).paid_amount) == 1000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_a_live_reservation_of_another_provider_is_never_taken_over(aws: None) -> None:
    clock = Clock(1_000_000)
    billing = Billing(clock)
    billing.put_apartment("a1", "Flat 1", "r1")
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 700)])
    billing.ledger.lock_invoice(PaymentKey("click", "1"), invoice.invoice_id, 700)
    clock.now += 30 * 60_000  # exactly the Click TTL: still live
    with pytest.raises(errors.InvoiceLocked):
        billing.ledger.lock_invoice(PaymentKey("payme", "t1"), invoice.invoice_id, 700, supersede=True)
    clock.now += 1
    assert billing.ledger.lock_invoice(PaymentKey("payme", "t1"), invoice.invoice_id, 700) == "click#1"
    stored = Invoice.get(invoice.invoice_id)
    assert (stored.active_payment, int(stored.active_payment_at)) == ("payme#t1", clock.now)
    clock.now += 43_200_000  # Payme's 12 h: Click may not take it yet
    with pytest.raises(errors.InvoiceLocked):
        billing.ledger.lock_invoice(PaymentKey("click", "2"), invoice.invoice_id, 700, supersede=True)
    clock.now += 1
    assert billing.ledger.lock_invoice(PaymentKey("click", "2"), invoice.invoice_id, 700) == "payme#t1"
    # The stale holder's late payment finds the reservation gone and posts nothing.
    with pytest.raises(errors.InvoiceLocked):
        billing.ledger.post_to_invoice(PaymentKey("payme", "t1"), invoice.invoice_id, 700, require_lock=True)
    assert billing.ledger.post_to_invoice(
        PaymentKey("click", "2"), invoice.invoice_id, 700, require_lock=True
    ).created
    assert Invoice.get(invoice.invoice_id).active_payment_at is None


# ---------------------------------------------------------------------- defects found building the providers
class _Row(Model):
    """A stand-in for a provider's own row in the caller's part of a ledger transaction."""

    class Meta:
        table_name = "TransactionsTable"
        region = "us-east-1"

    tx_key = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute()


def _moves(row: _Row, expected: str, new: str) -> Callable[[TransactWrite], None]:
    def op(t: TransactWrite) -> None:
        t.update(row, actions=[_Row.state.set(new)], condition=_Row.state == expected)

    return op


def test_release_of_an_invoice_we_no_longer_hold_reports_our_failed_condition(billing: Billing) -> None:
    """Another attempt took the invoice and retired ours: our release fails on our own condition."""
    invoice = billing.create_invoice("a1", "2026-05", [item("water", 5000)])
    ledger = Ledger()
    ledger.lock_invoice(PaymentKey("click", "2"), invoice.invoice_id, 5000)
    row = _Row("click#1", state="cancelled")  # already retired by whoever took the invoice
    row.save()
    with pytest.raises(CallerConditionFailed):
        ledger.release_invoice(
            PaymentKey("click", "1"), invoice.invoice_id, caller_ops=[_moves(row, "prepared", "x")]
        )
    assert _Row.get("click#1").state == "cancelled"
    assert Invoice.get(invoice.invoice_id).active_payment == "click#2"


def test_release_without_reservation_reports_caller_condition(billing: Billing) -> None:
    """A cancel racing another cancel: the invoice is no longer held, our state condition fails.
    Before the fix this spun ATTEMPTS times and raised LedgerContention."""
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 5000)])
    row = _Row("payme#y", state="-1")
    row.save()
    with pytest.raises(CallerConditionFailed):
        billing.ledger.release_invoice(
            PaymentKey("payme", "y"), invoice.invoice_id, caller_ops=[_moves(row, "1", "-1")]
        )


def test_supersede_replaces_an_attempt_of_the_same_provider_only(billing: Billing) -> None:
    invoice = billing.create_invoice("a1", "2026-05", [item("water", 5000)])
    ledger = Ledger()
    ledger.lock_invoice(PaymentKey("click", "1"), invoice.invoice_id, 5000)
    previous = ledger.lock_invoice(PaymentKey("click", "2"), invoice.invoice_id, 5000, supersede=True)
    assert previous == "click#1"
    ledger.release_invoice(PaymentKey("click", "2"), invoice.invoice_id)

    # A Payme transaction in progress must keep its reservation: Payme debits before it performs.
    ledger.lock_invoice(PaymentKey("payme", "p1"), invoice.invoice_id, 5000)
    with pytest.raises(errors.InvoiceLocked):
        ledger.lock_invoice(PaymentKey("click", "3"), invoice.invoice_id, 5000, supersede=True)
    assert Invoice.get(invoice.invoice_id).active_payment == "payme#p1"


def test_repeated_delivery_racing_its_own_commit_gets_the_existing_posting(billing: Billing) -> None:
    """Two deliveries of one payment: the second reads 'no posting', then the first commits, then the
    second reads the invoice (now paid by this very key): created=False, not InvoiceAlreadyPaid."""
    invoice = billing.create_invoice("a1", "2026-10", [item("water", 5000)])
    key = PaymentKey("payme", "p1")
    first = Ledger()
    original = Ledger.invoice
    raced = []

    def invoice_after_other_delivery(invoice_id: str) -> Invoice:
        if not raced:
            raced.append(first.post_to_invoice(key, invoice_id, 5000))
        return original(invoice_id)

    second = Ledger()
    second.invoice = invoice_after_other_delivery  # type: ignore[method-assign]
    result = second.post_to_invoice(key, invoice.invoice_id, 5000)
    assert raced and raced[0].created
    assert result.created is False
    assert result.posting.payment_key == "payme#p1"
