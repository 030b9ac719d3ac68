"""Billing-core defects found while building the Payme protocol on it; each test failed before its fix."""

import pytest
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from tolov.billing.errors import CallerConditionFailed
from tolov.billing.invoices import Billing, NewItem
from tolov.billing.ledger import Ledger, PaymentKey, commit
from tolov.store.models import Invoice


class _Probe(Model):
    class Meta:
        table_name = "TransactionsTable"
        region = "us-east-1"

    tx_key = UnicodeAttribute(hash_key=True)
    state = NumberAttribute()


def _invoice(billing: Billing, amount: int = 5000) -> Invoice:
    billing.put_apartment("a1", "Flat 1", "r1")
    item = NewItem("water", "Water", amount, 1, "10101001001000000", "123456", 0)
    return billing.create_invoice("a1", "2026-10", [item])


def test_commit_reports_a_failed_caller_op_at_index_zero(aws: None) -> None:
    """With no ledger ops before them (caller_start=0), a caller op failing is the caller's, not 'posting'."""
    probe = _Probe("payme#x", state=2)
    probe.save()
    with pytest.raises(CallerConditionFailed) as failed:
        commit(
            [lambda t: t.update(probe, actions=[_Probe.state.set(-1)], condition=_Probe.state == 1)],
            caller_start=0,
        )
    assert failed.value.index == 0


def test_release_without_reservation_reports_caller_condition(aws: None) -> None:
    """A cancel racing another cancel: the invoice is no longer held, our state condition fails.
    Before the fix this spun ATTEMPTS times and raised LedgerContention."""
    billing = Billing()
    invoice = _invoice(billing)
    probe = _Probe("payme#y", state=-1)
    probe.save()
    with pytest.raises(CallerConditionFailed):
        billing.ledger.release_invoice(
            PaymentKey("payme", "y"),
            invoice.invoice_id,
            caller_ops=[
                lambda t: t.update(probe, actions=[_Probe.state.set(-1)], condition=_Probe.state == 1)
            ],
        )


def test_repeated_delivery_racing_its_own_commit_gets_the_existing_posting(aws: None) -> None:
    """Two deliveries of one payment: the second reads 'no posting', then the first commits, then the
    second reads the invoice (now paid by this very key): created=False, not InvoiceAlreadyPaid."""
    billing = Billing()
    invoice = _invoice(billing)
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
