"""The in-memory fakes keep the DynamoDB adapters' contract: the same checks, run on both.

Each test runs twice: on DynamoDB (moto, the tables of template.yaml; tolov.payme.dynamo,
tolov.click.dynamo, the SQS reversal queue) and on tests/fakes.py (no moto). What the cores rely on is
checked here: a lost race raises StateChanged (TransactionExists for a taken key), the ledger's refusals
come as the ledger raises them, one attempt at a time holds an invoice, a payment posts once and reverses
once, and reads say what was written.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.fakes import FakeClickRepository, FakeLedger, FakePaymeRepository, FakeReversalQueue
from tests.payme_harness import HOUR, Clock, gas, water
from tolov.billing.errors import (
    AmountMismatch,
    ApartmentNotFound,
    InvoiceAlreadyPaid,
    InvoiceCancelled,
    InvoiceLocked,
    InvoiceNotFound,
    StateChanged,
    TransactionExists,
)
from tolov.billing.invoices import Billing
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.billing.reservations import RESERVATION_TTL_MS
from tolov.click.attempt import (
    AccountKind,
    ApartmentAccount,
    ClickTx,
    InvoiceAccount,
    ReversalRequest,
    TxState,
)
from tolov.click.dynamo import DynamoClickRepository
from tolov.click.reversal import SqsReversalQueue
from tolov.payme.dynamo import DynamoRepository
from tolov.payme.transaction import CANCELLED, CANCELLED_AFTER_PERFORM, PERFORMED, Transaction
from tolov.payme.transaction import AccountKind as PaymeKind

DYNAMODB, FAKES = "dynamodb", "fakes"


@dataclass
class Store:
    clock: Clock
    ledger: Ledger | FakeLedger
    billing: Billing | FakeLedger
    payme: DynamoRepository | FakePaymeRepository
    click: DynamoClickRepository | FakeClickRepository
    reversals: SqsReversalQueue | FakeReversalQueue
    received: Callable[[], list[dict[str, Any]]]  # the reversal messages a consumer would read

    def invoice(self, amount: int = 2_500_000, apartment_id: str = "apt-1", period: str = "2026-09") -> str:
        self.billing.put_apartment(apartment_id, "Flat 1", "resident-1")
        return self.billing.create_invoice(apartment_id, period, [water(amount)]).invoice_id

    def apartment(self, apartment_id: str = "apt-1") -> str:
        self.billing.put_apartment(apartment_id, "Flat 1", "resident-1")
        return apartment_id

    def holder(self, invoice_id: str) -> str | None:
        return self.payme.invoice(invoice_id).holder

    def posting(self, key: str) -> Any:
        return self.ledger.posting(key)


def _dynamodb(clock: Clock) -> Store:
    ledger = Ledger(clock)
    queue_url = boto3.client("sqs").create_queue(QueueName="ClickReversalQueue")["QueueUrl"]

    def received() -> list[dict[str, Any]]:
        got = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    return Store(
        clock,
        ledger,
        Billing(clock, ledger),
        DynamoRepository(clock, ledger),
        DynamoClickRepository(ledger),
        SqsReversalQueue(queue_url),
        received,
    )


def _fakes(clock: Clock) -> Store:
    ledger = FakeLedger(clock)
    queue = FakeReversalQueue()
    return Store(
        clock, ledger, ledger, FakePaymeRepository(ledger), FakeClickRepository(ledger), queue, queue.messages
    )


@pytest.fixture(params=[DYNAMODB, FAKES])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == DYNAMODB:
        request.getfixturevalue("aws")
        return _dynamodb(Clock())
    return _fakes(Clock())


def payme_tx(
    store: Store, payme_id: str, target: str, amount: int, kind: PaymeKind = "invoice"
) -> Transaction:
    field = "order_id" if kind == "invoice" else "apartment_id"
    now = store.clock.now
    return Transaction(payme_id, now, amount, {field: target}, kind, target, now, f"t-{payme_id}")


def click_tx(
    store: Store, ctid: str, target: str, amount: int, kind: AccountKind = AccountKind.INVOICE
) -> ClickTx:
    return ClickTx(
        click_trans_id=ctid,
        click_paydoc_id=f"9{ctid}",
        merchant_trans_id=target,
        account=kind,
        amount=amount,
        prepare_id=store.click.next_prepare_id(),
        state=TxState.PREPARED,
        sign_time="2026-09-21 19:13:20",
        created_at=store.clock.now,
    )


def click_account(store: Store, target: str) -> InvoiceAccount | ApartmentAccount:
    account = store.click.find_account(target)
    assert account is not None
    return account


# ---------------------------------------------------------------------- Payme: create
@pytest.mark.parametrize("kind", ["invoice", "apartment"])
def test_payme_create_twice_is_transaction_exists(store: Store, kind: PaymeKind) -> None:
    target = store.invoice() if kind == "invoice" else store.apartment()
    tx = payme_tx(store, "p-1", target, 2_500_000, kind)
    store.payme.create(tx)
    with pytest.raises(TransactionExists):
        store.payme.create(tx)
    assert store.payme.get("p-1") == tx


def test_payme_create_reserves_the_invoice_for_its_holder(store: Store) -> None:
    invoice_id = store.invoice()
    store.clock.advance(5)
    store.payme.create(payme_tx(store, "p-1", invoice_id, 2_500_000))
    view = store.payme.invoice(invoice_id)
    assert (view.holder, view.holder_since, view.status, view.unpaid) == (
        "payme#p-1",
        store.clock.now,
        "open",
        2_500_000,
    )


def test_a_held_invoice_refuses_every_other_attempt(store: Store) -> None:
    invoice_id = store.invoice()
    store.payme.create(payme_tx(store, "p-1", invoice_id, 2_500_000))
    with pytest.raises(InvoiceLocked):
        store.payme.create(payme_tx(store, "p-2", invoice_id, 2_500_000))
    with pytest.raises(InvoiceLocked):
        store.click.create(click_tx(store, "701", invoice_id, 2_500_000), click_account(store, invoice_id), 0)
    assert store.payme.get("p-2") is None and store.click.get("701") is None
    assert store.holder(invoice_id) == "payme#p-1"


def test_payme_create_meets_the_ledgers_refusals(store: Store) -> None:
    with pytest.raises(InvoiceNotFound):
        store.payme.create(payme_tx(store, "p-1", "9999999999", 1))
    invoice_id = store.invoice()
    with pytest.raises(AmountMismatch) as mismatch:
        store.payme.create(payme_tx(store, "p-1", invoice_id, 2_500_001))
    assert mismatch.value.expected == 2_500_000
    cancelled = store.invoice(period="2026-10")
    store.billing.cancel_invoice(cancelled)
    with pytest.raises(InvoiceCancelled):
        store.payme.create(payme_tx(store, "p-1", cancelled, 2_500_000))
    tx = payme_tx(store, "p-2", invoice_id, 2_500_000)
    store.payme.create(tx)
    store.payme.perform(tx, store.clock.now)
    with pytest.raises(InvoiceAlreadyPaid):
        store.payme.create(payme_tx(store, "p-3", invoice_id, 2_500_000))
    assert store.payme.get("p-1") is None and store.payme.get("p-3") is None


def test_reads_of_what_does_not_exist(store: Store) -> None:
    with pytest.raises(InvoiceNotFound):
        store.payme.invoice("9999999999")
    with pytest.raises(ApartmentNotFound):
        store.payme.apartment("no-such-flat", with_debt=True)
    assert store.payme.get("p-1") is None and store.click.get("701") is None
    assert store.click.find_account("no-such-flat") is None
    assert store.click.find_by_prepare_id(424242) is None
    assert store.payme.set_fiscal("p-1", "PERFORM", {"receipt_id": 1}) is False


# ---------------------------------------------------------------------- Payme: perform and cancel
def test_payme_perform_posts_once(store: Store) -> None:
    invoice_id = store.invoice()
    tx = payme_tx(store, "p-1", invoice_id, 2_500_000)
    store.payme.create(tx)
    store.payme.perform(tx, store.clock.now + 1)
    with pytest.raises(StateChanged):
        store.payme.perform(tx, store.clock.now + 2)  # tx as read before: state 1 no longer holds
    stored = store.payme.get("p-1")
    assert stored is not None and (stored.state, stored.perform_time) == (PERFORMED, store.clock.now + 1)
    posting = store.posting("payme#p-1")
    assert int(posting.amount) == 2_500_000 and posting.reversed_at is None
    view = store.payme.invoice(invoice_id)
    assert (view.status, view.unpaid, view.holder) == ("paid", 0, None)


def test_payme_perform_needs_the_reservation(store: Store) -> None:
    invoice_id = store.invoice()
    tx = payme_tx(store, "p-1", invoice_id, 2_500_000)
    store.payme.create(tx)
    store.ledger.release_invoice(PaymentKey("payme", "p-1"), invoice_id)
    with pytest.raises(InvoiceLocked):
        store.payme.perform(tx, store.clock.now)
    assert store.posting("payme#p-1") is None


def test_payme_cancel_releases_the_invoice_once(store: Store) -> None:
    invoice_id = store.invoice()
    tx = payme_tx(store, "p-1", invoice_id, 2_500_000)
    store.payme.create(tx)
    store.payme.cancel(tx, store.clock.now + 1, 3)
    with pytest.raises(StateChanged):
        store.payme.cancel(tx, store.clock.now + 2, 3)
    with pytest.raises(InvoiceLocked):  # the ledger refuses first: the reservation is gone with it
        store.payme.perform(tx, store.clock.now + 2)
    stored = store.payme.get("p-1")
    assert stored is not None and (stored.state, stored.cancel_time, stored.reason) == (
        CANCELLED,
        store.clock.now + 1,
        3,
    )
    assert store.holder(invoice_id) is None and store.posting("payme#p-1") is None
    store.payme.create(payme_tx(store, "p-2", invoice_id, 2_500_000))  # free for the next attempt


def test_payme_cancel_after_perform_reverses_once(store: Store) -> None:
    invoice_id = store.invoice()
    tx = payme_tx(store, "p-1", invoice_id, 2_500_000)
    store.payme.create(tx)
    store.payme.perform(tx, store.clock.now)
    performed = store.payme.get("p-1")
    assert performed is not None
    store.payme.cancel(performed, store.clock.now + 1, 5)
    with pytest.raises(StateChanged):
        store.payme.cancel(performed, store.clock.now + 2, 5)
    stored = store.payme.get("p-1")
    assert stored is not None and (stored.state, stored.reason) == (CANCELLED_AFTER_PERFORM, 5)
    assert store.posting("payme#p-1").reversed_at is not None
    view = store.payme.invoice(invoice_id)
    assert (view.status, view.unpaid, view.holder) == ("open", 2_500_000, None)


def test_payme_apartment_top_up_pays_debts_then_credit(store: Store) -> None:
    store.invoice(1_000_000, period="2026-08")
    store.billing.create_invoice("apt-1", "2026-09", [gas(600_000)])
    assert store.payme.apartment("apt-1", with_debt=True).debt == 1_600_000
    assert store.payme.apartment("apt-1", with_debt=False).debt is None
    tx = payme_tx(store, "p-1", "apt-1", 2_000_000, "apartment")
    store.payme.create(tx)
    store.payme.perform(tx, store.clock.now)
    assert store.payme.apartment("apt-1", with_debt=True).debt == 0
    assert store.billing.balance("apt-1").credit == 400_000
    performed = store.payme.get("p-1")
    assert performed is not None
    store.payme.cancel(performed, store.clock.now, 5)
    assert (store.billing.balance("apt-1").debt, store.billing.balance("apt-1").credit) == (1_600_000, 0)


def test_an_invoice_partly_paid_from_credit_shows_it_per_line(store: Store) -> None:
    tx = payme_tx(store, "p-1", store.apartment(), 700_000, "apartment")
    store.payme.create(tx)
    store.payme.perform(tx, store.clock.now)
    invoice_id = store.billing.create_invoice("apt-1", "2026-09", [water(500_000), gas(600_000)]).invoice_id
    view = store.payme.invoice(invoice_id)
    assert (view.amount, view.unpaid) == (1_100_000, 400_000)
    assert [(line.unit_price, line.prepaid) for line in view.lines] == [
        (500_000, 500_000),
        (600_000, 200_000),
    ]


def test_a_stale_reservation_of_another_provider_is_taken_over(store: Store) -> None:
    invoice_id = store.invoice()
    store.click.create(click_tx(store, "701", invoice_id, 2_500_000), click_account(store, invoice_id), 0)
    with pytest.raises(InvoiceLocked):
        store.payme.create(payme_tx(store, "p-1", invoice_id, 2_500_000))
    store.clock.advance(RESERVATION_TTL_MS["click"] + 1)
    store.payme.create(payme_tx(store, "p-1", invoice_id, 2_500_000))
    assert store.holder(invoice_id) == "payme#p-1"


def test_statement_by_payme_time_inclusive_and_ascending(store: Store) -> None:
    apartment = store.apartment()
    start = store.clock.now
    for payme_id, offset in (("p-3", 50 * HOUR), ("p-1", 0), ("p-4", 50 * HOUR + 1), ("p-2", 24 * HOUR)):
        store.payme.create(
            payme_tx(store, payme_id, apartment, 500_000, "apartment")._replace(time=start + offset)
        )
    assert [t.id for t in store.payme.statement(start, start + 50 * HOUR)] == ["p-1", "p-2", "p-3"]
    assert [t.id for t in store.payme.statement(start + 1, start + 50 * HOUR + 1)] == ["p-2", "p-3", "p-4"]
    assert store.payme.statement(start + 1, start + 2) == []


def test_fiscal_data_is_kept_per_kind(store: Store) -> None:
    tx = payme_tx(store, "p-1", store.apartment(), 500_000, "apartment")
    store.payme.create(tx)
    assert store.payme.set_fiscal("p-1", "PERFORM", {"receipt_id": 1})
    assert store.payme.set_fiscal("p-1", "CANCEL", {"receipt_id": 2})
    assert store.payme.set_fiscal("p-1", "PERFORM", {"receipt_id": 3})
    stored = store.payme.get("p-1")
    assert stored is not None and stored.fiscal == {"PERFORM": {"receipt_id": 3}, "CANCEL": {"receipt_id": 2}}
    assert stored.state == tx.state


# ---------------------------------------------------------------------- Click
def test_click_create_twice_is_transaction_exists_and_a_taken_prepare_id_state_changed(
    store: Store,
) -> None:
    invoice_id = store.invoice()
    tx = click_tx(store, "701", invoice_id, 2_500_000)
    store.click.create(tx, click_account(store, invoice_id), 0)
    with pytest.raises(TransactionExists):
        store.click.create(tx, click_account(store, invoice_id), 0)
    apartment = store.apartment("apt-2")
    # Another attempt under a prepare id already handed out: not this attempt's repeat, a draw to redo.
    with pytest.raises(StateChanged) as taken:
        store.click.create(
            click_tx(store, "702", apartment, 100_000, AccountKind.APARTMENT)._replace(
                prepare_id=tx.prepare_id
            ),
            click_account(store, apartment),
            0,
        )
    assert not isinstance(taken.value, TransactionExists)
    assert store.click.get("702") is None
    assert store.click.find_by_prepare_id(tx.prepare_id) == tx
    assert store.click.get("701") == tx


def test_click_prepare_ids_are_positive_int32(store: Store) -> None:
    ids = [store.click.next_prepare_id() for _ in range(20)]
    assert all(isinstance(i, int) and 0 < i < 2**31 for i in ids) and len(set(ids)) > 1


def test_click_find_account_reads_the_invoice_first_or_the_kind_asked(store: Store) -> None:
    invoice_id = store.invoice()
    store.clock.advance(5)
    store.click.create(click_tx(store, "701", invoice_id, 2_500_000), click_account(store, invoice_id), 0)
    assert store.click.find_account(invoice_id) == InvoiceAccount(
        invoice_id, "open", 2_500_000, "click#701", store.clock.now
    )
    assert store.click.find_account("apt-1") == ApartmentAccount("apt-1")
    assert store.click.find_account("apt-1", AccountKind.INVOICE) is None
    assert store.click.find_account(invoice_id, AccountKind.APARTMENT) is None


def test_click_supersede_moves_the_reservation_and_retires_the_holder(store: Store) -> None:
    invoice_id = store.invoice()
    old = click_tx(store, "701", invoice_id, 2_500_000)
    store.click.create(old, click_account(store, invoice_id), 0)
    new = click_tx(store, "702", invoice_id, 2_500_000)
    store.click.create(new, click_account(store, invoice_id), 1, retire="click#701")
    assert store.holder(invoice_id) == "click#702"
    retired = store.click.get("701")
    assert retired is not None and (retired.state, retired.reason) == (
        TxState.CANCELLED,
        "superseded by click#702",
    )
    # Retiring an attempt that has moved on (it no longer is prepared) is a lost race; nothing changes.
    with pytest.raises(StateChanged):
        store.click.create(
            click_tx(store, "703", invoice_id, 2_500_000),
            click_account(store, invoice_id),
            2,
            retire="click#701",
        )
    assert store.click.get("703") is None and store.holder(invoice_id) == "click#702"
    # Without leave to supersede, a Click holder refuses like any other.
    with pytest.raises(InvoiceLocked):
        store.click.create(click_tx(store, "704", invoice_id, 2_500_000), click_account(store, invoice_id), 3)
    # The superseded attempt no longer holds the invoice: it cannot post.
    with pytest.raises(InvoiceLocked):
        store.click.confirm(old, 4, "token-old")


def test_click_confirm_posts_once(store: Store) -> None:
    invoice_id = store.invoice()
    tx = click_tx(store, "701", invoice_id, 2_500_000)
    store.click.create(tx, click_account(store, invoice_id), 0)
    store.click.confirm(tx, 1, "token-1", complete_trans_id="799")
    with pytest.raises(StateChanged):
        store.click.confirm(tx, 2, "token-2")
    confirmed = store.click.get("701")
    assert confirmed is not None and (confirmed.state, confirmed.confirm_token) == (
        TxState.CONFIRMED,
        "token-1",
    )
    assert int(store.posting("click#701").amount) == 2_500_000
    assert store.posting("click#799") is None
    assert click_account(store, invoice_id) == InvoiceAccount(invoice_id, "paid", 0, None, None)
    with pytest.raises(StateChanged):
        store.click.cancel(tx, "too late", -5017, 3)


def test_click_apartment_confirm_posts_to_the_apartment(store: Store) -> None:
    apartment = store.apartment()
    tx = click_tx(store, "701", apartment, 300_000, AccountKind.APARTMENT)
    store.click.create(tx, click_account(store, apartment), 0)
    store.click.confirm(tx, 1, "token-1")
    assert store.billing.balance(apartment).credit == 300_000
    with pytest.raises(StateChanged):
        store.click.confirm(tx, 2, "token-2")
    assert store.billing.balance(apartment).credit == 300_000


def test_click_cancel_releases_the_invoice_once(store: Store) -> None:
    invoice_id = store.invoice()
    tx = click_tx(store, "701", invoice_id, 2_500_000)
    store.click.create(tx, click_account(store, invoice_id), 0)
    store.click.cancel(tx, "click error -5017", -5017, 1)
    with pytest.raises(StateChanged):
        store.click.cancel(tx, "again", None, 2)
    with pytest.raises(InvoiceLocked):  # the ledger refuses first: the reservation is gone with it
        store.click.confirm(tx, 2, "token")
    cancelled = store.click.get("701")
    assert cancelled is not None and (cancelled.state, cancelled.reason) == (
        TxState.CANCELLED,
        "click error -5017",
    )
    assert store.holder(invoice_id) is None and store.posting("click#701") is None


def test_click_unposted_then_reversed_once(store: Store) -> None:
    invoice_id = store.invoice()
    tx = click_tx(store, "701", invoice_id, 2_500_000)
    store.click.create(tx, click_account(store, invoice_id), 0)
    with pytest.raises(StateChanged):
        store.click.mark_reversed("701", 1)  # only a debited, unposted payment is reversed
    store.click.mark_unposted(tx, "invoice cancelled", "1574969493", 1, "token-1")
    with pytest.raises(StateChanged):
        store.click.mark_unposted(tx, "again", "1574969493", 2, "token-2")
    unposted = store.click.get("701")
    assert unposted is not None and (
        unposted.state,
        unposted.reason,
        unposted.confirm_token,
        unposted.click_paydoc_id,
    ) == (
        TxState.CONFIRMED_UNPOSTED,
        "invoice cancelled",
        "token-1",
        "1574969493",
    )
    assert store.holder(invoice_id) is None and store.posting("click#701") is None
    store.click.mark_reversed("701", 3)
    with pytest.raises(StateChanged):
        store.click.mark_reversed("701", 4)
    reversed_tx = store.click.get("701")
    assert reversed_tx is not None and reversed_tx.state is TxState.REVERSED


def test_a_reversal_reaches_the_queue_as_its_message(store: Store) -> None:
    request = ReversalRequest("701", "1574969493", "1234567890", 2_500_000, "invoice cancelled")
    store.reversals.enqueue(request)
    [message] = store.received()
    assert message == request.message()
    assert ReversalRequest.from_message(message) == request
