"""Payme transactions in TransactionsTable, moved together with the ledger in one DynamoDB transaction.

Each state change is conditioned on the state it leaves (state == 1, state == 2) and rides in the
ledger's own TransactWrite as a caller operation: a transaction becomes 2 exactly when its posting is
written, -1 exactly when its invoice reservation is dropped, -2 exactly when its posting is reversed.
This adapter only reads and writes; the Merchant API core decides.
"""

from collections.abc import Iterable
from typing import Any

from tolov.billing.errors import AlreadyPosted, StateChanged, TransactionExists
from tolov.billing.invoices import Billing
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.clock import Clock, now_ms
from tolov.payme.merchant_api import PROVIDER
from tolov.payme.repository import ApartmentView, InvoiceLine, InvoiceView
from tolov.payme.transaction import (
    CANCELLED,
    CANCELLED_AFTER_PERFORM,
    CREATED,
    PERFORMED,
    AccountKind,
    FiscalType,
    Transaction,
    day_key,
    days_between,
)
from tolov.store.engine import (
    Action,
    CallerConditionFailed,
    ConditionFailed,
    TxOp,
    conditional,
    transact,
)
from tolov.store.fanout import read_all
from tolov.store.models import Posting
from tolov.store.payme_models import PaymeTransactionRecord as Row


def payment_key(payme_id: str) -> PaymentKey:
    return PaymentKey(PROVIDER, payme_id)


def to_row(tx: Transaction) -> Row:
    return Row(
        str(payment_key(tx.id)),
        day_key=day_key(tx.time),
        time=tx.time,
        payme_id=tx.id,
        amount=tx.amount,
        account=tx.account,
        account_kind=tx.kind,
        account_ref=tx.target,
        create_time=tx.create_time,
        perform_time=tx.perform_time,
        cancel_time=tx.cancel_time,
        transaction=tx.transaction,
        state=tx.state,
        reason=tx.reason,
    )


def from_row(row: Row) -> Transaction:
    fiscal: dict[str, dict[str, Any]] = {}
    if row.fiscal_perform is not None:
        fiscal["PERFORM"] = row.fiscal_perform
    if row.fiscal_cancel is not None:
        fiscal["CANCEL"] = row.fiscal_cancel
    kind: AccountKind = "invoice" if row.account_kind == "invoice" else "apartment"
    return Transaction(
        id=row.payme_id,
        time=int(row.time),
        amount=int(row.amount),
        account=row.account,
        kind=kind,
        target=row.account_ref,
        create_time=int(row.create_time),
        transaction=row.transaction,
        state=int(row.state),
        perform_time=int(row.perform_time),
        cancel_time=int(row.cancel_time),
        reason=None if row.reason is None else int(row.reason),
        fiscal=fiscal,
    )


def _transition(payme_id: str, from_state: int, actions: list[Action]) -> TxOp:
    row = Row(str(payment_key(payme_id)))
    condition = Row.state == from_state
    return lambda t: t.update(row, actions=actions, condition=condition)


def _cancel_actions(state: int, cancel_time: int, reason: int) -> list[Action]:
    return [Row.state.set(state), Row.cancel_time.set(cancel_time), Row.reason.set(reason)]


class DynamoRepository:
    def __init__(self, clock: Clock = now_ms, ledger: Ledger | None = None) -> None:
        self.ledger = ledger or Ledger(clock)
        self.billing = Billing(clock, self.ledger)

    # ------------------------------------------------------------------ reads
    def get(self, payme_id: str) -> Transaction | None:
        try:
            return from_row(Row.get(str(payment_key(payme_id)), consistent_read=True))
        except Row.DoesNotExist:
            return None

    def get_many(self, payme_ids: list[str]) -> dict[str, Transaction]:
        keys = [str(payment_key(i)) for i in dict.fromkeys(payme_ids)]
        found = (from_row(row) for row in Row.batch_get(keys, consistent_read=True))
        return {tx.id: tx for tx in found}

    def invoice(self, invoice_id: str) -> InvoiceView:
        invoice = self.ledger.invoice(invoice_id)
        paid = int(invoice.paid_amount)
        prepaid: dict[str, int] = {}
        if paid and invoice.status == "open":
            prepaid = {c.charge_key: int(c.paid_amount) for c in self.ledger.invoice_charges(invoice)}
        return InvoiceView(
            invoice_id=invoice.invoice_id,
            status=invoice.status,
            amount=int(invoice.amount),
            unpaid=int(invoice.amount) - paid,
            holder=invoice.active_payment,
            holder_since=None if invoice.active_payment_at is None else int(invoice.active_payment_at),
            lines=[
                InvoiceLine(
                    title=item.title,
                    unit_price=int(item.amount),
                    count=int(item.count),
                    ikpu=item.ikpu,
                    package_code=item.package_code,
                    vat_percent=int(item.vat_percent),
                    prepaid=prepaid.get(item.charge_key, 0),
                )
                for item in invoice.items
            ],
        )

    def apartment(self, apartment_id: str, *, with_debt: bool) -> ApartmentView:
        apartment = self.ledger.apartment(apartment_id)
        debt = self.billing.balance(apartment_id, apartment=apartment).debt if with_debt else None
        return ApartmentView(apartment_id, apartment.label, debt)

    def statement(self, start: int, end: int) -> list[Transaction]:
        """One Query per UTC day, the days side by side; day after day, each day in time order."""

        def day(key: str) -> Iterable[Transaction]:
            rows = Row.by_day.query(key, range_key_condition=Row.time.between(start, end))
            return (from_row(row) for row in rows)

        return read_all(list(days_between(start, end)), day)

    # ------------------------------------------------------------------ changes
    def create(self, tx: Transaction) -> None:
        row = to_row(tx)
        absent = Row.tx_key.does_not_exist()
        if tx.kind == "invoice":
            try:
                self.ledger.lock_invoice(
                    payment_key(tx.id),
                    tx.target,
                    tx.amount,
                    caller_ops=[lambda t: t.save(row, condition=absent)],
                )
            except CallerConditionFailed:
                raise TransactionExists(tx.id) from None
            return
        try:
            conditional(lambda: row.save(condition=absent))
        except ConditionFailed:
            raise TransactionExists(tx.id) from None

    def perform(self, tx: Transaction, perform_time: int) -> None:
        op = _transition(tx.id, CREATED, [Row.state.set(PERFORMED), Row.perform_time.set(perform_time)])
        key = payment_key(tx.id)
        try:
            if tx.kind == "invoice":
                result = self.ledger.post_to_invoice(
                    key, tx.target, tx.amount, require_lock=True, caller_ops=[op]
                )
            else:
                result = self.ledger.post_to_apartment(key, tx.target, tx.amount, caller_ops=[op])
        except CallerConditionFailed:
            raise StateChanged(tx.id) from None
        if not result.created:
            raise AlreadyPosted(tx.id)

    def mark_performed(self, tx: Transaction, perform_time: int) -> None:
        key = str(payment_key(tx.id))
        posted = Posting.payment_key.exists() & Posting.reversed_at.does_not_exist()
        ops: list[TxOp] = [
            lambda t: t.condition_check(Posting, key, condition=posted),
            _transition(tx.id, CREATED, [Row.state.set(PERFORMED), Row.perform_time.set(perform_time)]),
        ]
        if transact(ops) is not None:
            raise StateChanged(tx.id)

    def cancel(self, tx: Transaction, cancel_time: int, reason: int) -> None:
        key = payment_key(tx.id)
        try:
            if tx.state == PERFORMED:
                op = _transition(
                    tx.id, PERFORMED, _cancel_actions(CANCELLED_AFTER_PERFORM, cancel_time, reason)
                )
                if not self.ledger.reverse(key, reason=f"payme reason {reason}", caller_ops=[op]).created:
                    raise StateChanged(tx.id)
            elif tx.kind == "invoice":
                op = _transition(tx.id, CREATED, _cancel_actions(CANCELLED, cancel_time, reason))
                self.ledger.release_invoice(key, tx.target, caller_ops=[op])
            else:
                # An apartment holds no reservation: a plain conditional update is the whole step.
                row = Row(str(key))
                conditional(
                    lambda: row.update(
                        actions=_cancel_actions(CANCELLED, cancel_time, reason),
                        condition=Row.state == CREATED,
                    )
                )
        except (CallerConditionFailed, ConditionFailed):
            raise StateChanged(tx.id) from None

    def set_fiscal(self, payme_id: str, kind: FiscalType, data: dict[str, Any]) -> bool:
        attribute = Row.fiscal_perform if kind == "PERFORM" else Row.fiscal_cancel
        row = Row(str(payment_key(payme_id)))
        try:
            conditional(lambda: row.update(actions=[attribute.set(data)], condition=Row.tx_key.exists()))
        except ConditionFailed:
            return False
        return True
