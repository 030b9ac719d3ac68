"""Races with real threads against one shared store (moto, each DynamoDB request atomic as in AWS).

Our code runs concurrently between requests, so a read-then-write mistake would show up here as a
double posting, two live reservations or answers that no serial order explains.
"""

from collections import Counter

import pytest

from tests.click_support import SERVICE_ID, complete_form, item, next_trans_id, prepare_form
from tests.support import together
from tolov.billing.invoices import Billing
from tolov.billing.ledger import Ledger
from tolov.click.attempt import ReversalRequest
from tolov.click.dynamo import DynamoClickRepository
from tolov.click.request import Action
from tolov.click.shop_api import ClickShop
from tolov.store.click_models import ClickTransaction
from tolov.store.models import Invoice, Posting

THREADS = 8
AMOUNT = "15000.00"


class Queue:
    def __init__(self) -> None:
        self.sent: list[ReversalRequest] = []

    def enqueue(self, request: ReversalRequest) -> None:
        self.sent.append(request)


@pytest.fixture
def shop(aws: None) -> ClickShop:
    repository = DynamoClickRepository(Ledger())
    return ClickShop(repository, Queue(), service_id=SERVICE_ID, secret_key=lambda: "local-click-secret")


@pytest.fixture
def invoice_id(aws: None) -> str:
    billing = Billing()
    billing.put_apartment("apt-1", "Flat 1", "resident-1")
    return billing.create_invoice("apt-1", "2026-05", [item("water", 1_500_000)]).invoice_id


def prepared(shop: ClickShop, account: str, amount: str = AMOUNT) -> tuple[str, int]:
    ctid = next_trans_id()
    result = shop.handle(prepare_form(ctid, account, amount), Action.PREPARE)
    assert result.error == 0
    return ctid, result.reply["merchant_prepare_id"]


def test_parallel_completes_of_one_invoice_attempt_post_once(shop: ClickShop, invoice_id: str) -> None:
    ctid, pid = prepared(shop, invoice_id)
    fields = complete_form(ctid, invoice_id, AMOUNT, pid)
    results = together([lambda: shop.handle(fields, Action.COMPLETE)] * THREADS)
    # One delivery confirms; every other one is a repeat of a confirmed payment.
    assert Counter(r.error for r in results) == {0: 1, -4: THREADS - 1}
    assert {r.reply["merchant_confirm_id"] for r in results} == {pid}
    invoice = Invoice.get(invoice_id)
    assert (invoice.status, int(invoice.paid_amount)) == ("paid", 1_500_000)
    assert list(invoice.payments.as_dict()) == [f"click#{ctid}"]
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed"


def test_parallel_completes_under_different_click_trans_ids_post_once(
    shop: ClickShop, invoice_id: str
) -> None:
    """Completes matched by prepare id, each under a click_trans_id of its own (some testers do this)."""
    ctid, pid = prepared(shop, invoice_id)
    ids = [ctid] + [next_trans_id() for _ in range(THREADS - 1)]
    results = together(
        [lambda c=c: shop.handle(complete_form(c, invoice_id, AMOUNT, pid), Action.COMPLETE) for c in ids]
    )
    assert Counter(r.error for r in results) == {0: 1, -4: THREADS - 1}
    assert {r.reply["merchant_confirm_id"] for r in results} == {pid}
    assert [r.reply["click_trans_id"] for r in results] == [int(c) for c in ids]  # each echoes its own
    assert list(Invoice.get(invoice_id).payments.as_dict()) == [f"click#{ctid}"]
    for other in ids[1:]:
        with pytest.raises(Posting.DoesNotExist):
            Posting.get(f"click#{other}")


def test_parallel_completes_to_an_apartment_credit_once(shop: ClickShop, invoice_id: str) -> None:
    ctid, pid = prepared(shop, "apt-1", "20000")
    fields = complete_form(ctid, "apt-1", "20000", pid)
    results = together([lambda: shop.handle(fields, Action.COMPLETE)] * THREADS)
    assert Counter(r.error for r in results) == {0: 1, -4: THREADS - 1}
    balance = Billing().balance("apt-1")
    assert (balance.debt, balance.credit) == (0, 2_000_000 - 1_500_000)
    assert int(Posting.get(f"click#{ctid}").amount) == 2_000_000


def test_parallel_repeats_of_one_prepare_create_one_attempt(shop: ClickShop, invoice_id: str) -> None:
    ctid = next_trans_id()
    fields = prepare_form(ctid, invoice_id, AMOUNT)
    results = together([lambda: shop.handle(fields, Action.PREPARE)] * THREADS)
    assert {r.error for r in results} == {0}
    assert len({r.reply["merchant_prepare_id"] for r in results}) == 1
    assert Invoice.get(invoice_id).active_payment == f"click#{ctid}"


def test_parallel_attempts_on_one_invoice_leave_one_live_reservation(
    shop: ClickShop, invoice_id: str
) -> None:
    ctids = [next_trans_id() for _ in range(THREADS)]
    results = together(
        [lambda c=c: shop.handle(prepare_form(c, invoice_id, AMOUNT), Action.PREPARE) for c in ctids]
    )
    # Each Prepare succeeded when it ran; the newest holds the invoice, every other one is retired.
    assert {r.error for r in results} == {0}
    holder = Invoice.get(invoice_id).active_payment
    assert holder in {f"click#{c}" for c in ctids}
    states = {c: ClickTransaction.get(f"click#{c}").state for c in ctids}
    assert Counter(states.values()) == {"prepared": 1, "cancelled": THREADS - 1}
    assert states[holder.split("#")[1]] == "prepared"

    # Click debits every attempt it got a 0 for, and completes them all at once: one is delivered.
    completes = together(
        [
            lambda c=c, r=r: shop.handle(
                complete_form(c, invoice_id, AMOUNT, r.reply["merchant_prepare_id"]), Action.COMPLETE
            )
            for c, r in zip(ctids, results, strict=True)
        ]
    )
    assert Counter(r.error for r in completes) == {0: 1, -9: THREADS - 1}
    winner = ctids[[r.error for r in completes].index(0)]
    assert f"click#{winner}" == holder
    invoice = Invoice.get(invoice_id)
    assert (invoice.status, list(invoice.payments.as_dict())) == ("paid", [holder])


@pytest.mark.parametrize("round_", range(4))
def test_complete_racing_a_newer_prepare_is_serialisable(
    shop: ClickShop, invoice_id: str, round_: int
) -> None:
    old, pid = prepared(shop, invoice_id)
    new = next_trans_id()
    complete, prepare = together(
        [
            lambda: shop.handle(complete_form(old, invoice_id, AMOUNT, pid), Action.COMPLETE),
            lambda: shop.handle(prepare_form(new, invoice_id, AMOUNT), Action.PREPARE),
        ]
    )
    invoice = Invoice.get(invoice_id)
    if complete.error == 0:  # the Complete went first: the invoice is paid before the new attempt
        assert prepare.error == -4
        assert invoice.status == "paid" and list(invoice.payments.as_dict()) == [f"click#{old}"]
    else:  # the Prepare went first: the old attempt was superseded and is not delivered
        assert (complete.error, prepare.error) == (-9, 0)
        assert invoice.status == "open" and invoice.active_payment == f"click#{new}"
        with pytest.raises(Posting.DoesNotExist):
            Posting.get(f"click#{old}")


@pytest.mark.parametrize("round_", range(4))
def test_confirm_racing_a_cancel_of_the_same_attempt(shop: ClickShop, invoice_id: str, round_: int) -> None:
    ctid, pid = prepared(shop, invoice_id)
    confirm, cancel = together(
        [
            lambda: shop.handle(complete_form(ctid, invoice_id, AMOUNT, pid), Action.COMPLETE),
            lambda: shop.handle(complete_form(ctid, invoice_id, AMOUNT, pid, error="-5017"), Action.COMPLETE),
        ]
    )
    state = ClickTransaction.get(f"click#{ctid}").state
    if confirm.error == 0:
        assert (cancel.error, state, Invoice.get(invoice_id).status) == (-4, "confirmed", "paid")
    else:
        assert (confirm.error, cancel.error, state) == (-9, -9, "cancelled")
        invoice = Invoice.get(invoice_id)
        assert (invoice.status, invoice.active_payment) == ("open", None)
