"""Payme transactions in TransactionsTable, moved together with the ledger in one DynamoDB transaction.

Each state change is conditioned on the state it leaves (state == 1, state == 2) and rides in the
ledger's own TransactWrite as a caller operation: a transaction becomes 2 exactly when its posting is
written, -1 exactly when its invoice reservation is dropped, -2 exactly when its posting is reversed.
"""

import os
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from tolov.billing.errors import CallerConditionFailed
from tolov.billing.invoices import Billing
from tolov.billing.ledger import Ledger, PaymentKey, TxOp
from tolov.clock import Clock, now_ms
from tolov.payme.repository import ApartmentView, InvoiceLine, InvoiceView, StateChanged, TransactionExists
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
from tolov.store.models import Charge

PROVIDER = "payme"


class _Meta:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None


class PaymeByDay(GlobalSecondaryIndex["PaymeTransactionRecord"]):
    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    day_key = UnicodeAttribute(hash_key=True)
    time = NumberAttribute(range_key=True)


class PaymeTransactionRecord(Model):
    class Meta(_Meta):
        table_name = os.environ.get("TRANSACTIONS_TABLE", "TransactionsTable")

    tx_key = UnicodeAttribute(hash_key=True)  # payme#<Payme id>
    day_key = UnicodeAttribute()  # payme#YYYY-MM-DD of `time`, UTC
    time = NumberAttribute()  # Payme's creation time
    payme_id = UnicodeAttribute()
    amount = NumberAttribute()
    account = JSONAttribute()  # exactly as Payme sent it, for GetStatement
    account_kind = UnicodeAttribute()  # invoice | apartment
    account_ref = UnicodeAttribute()  # invoice id or apartment id
    create_time = NumberAttribute()
    perform_time = NumberAttribute(default=0)
    cancel_time = NumberAttribute(default=0)
    transaction = UnicodeAttribute()
    state = NumberAttribute()
    reason = NumberAttribute(null=True)
    fiscal_perform = JSONAttribute(null=True)
    fiscal_cancel = JSONAttribute(null=True)

    by_day = PaymeByDay()


def tx_key(payme_id: str) -> str:
    return f"{PROVIDER}#{payme_id}"


def payment_key(payme_id: str) -> PaymentKey:
    return PaymentKey(PROVIDER, payme_id)


def to_record(tx: Transaction) -> PaymeTransactionRecord:
    return PaymeTransactionRecord(
        tx_key(tx.id),
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


def from_record(record: PaymeTransactionRecord) -> Transaction:
    fiscal: dict[str, dict[str, Any]] = {}
    if record.fiscal_perform is not None:
        fiscal["PERFORM"] = record.fiscal_perform
    if record.fiscal_cancel is not None:
        fiscal["CANCEL"] = record.fiscal_cancel
    kind: AccountKind = "invoice" if record.account_kind == "invoice" else "apartment"
    return Transaction(
        id=record.payme_id,
        time=int(record.time),
        amount=int(record.amount),
        account=record.account,
        kind=kind,
        target=record.account_ref,
        create_time=int(record.create_time),
        transaction=record.transaction,
        state=int(record.state),
        perform_time=int(record.perform_time),
        cancel_time=int(record.cancel_time),
        reason=None if record.reason is None else int(record.reason),
        fiscal=fiscal,
    )


def _transition(payme_id: str, from_state: int, actions: list[Action]) -> TxOp:
    record = PaymeTransactionRecord(tx_key(payme_id))
    condition = PaymeTransactionRecord.state == from_state
    return lambda t: t.update(record, actions=actions, condition=condition)


def _cancel_actions(state: int, cancel_time: int, reason: int) -> list[Action]:
    return [
        PaymeTransactionRecord.state.set(state),
        PaymeTransactionRecord.cancel_time.set(cancel_time),
        PaymeTransactionRecord.reason.set(reason),
    ]


def _conditional_failure(error: PutError | UpdateError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


class DynamoRepository:
    def __init__(self, clock: Clock = now_ms, ledger: Ledger | None = None) -> None:
        self.ledger = ledger or Ledger(clock)
        self.billing = Billing(clock, self.ledger)

    # ------------------------------------------------------------------ reads
    def get(self, payme_id: str) -> Transaction | None:
        try:
            return from_record(PaymeTransactionRecord.get(tx_key(payme_id), consistent_read=True))
        except PaymeTransactionRecord.DoesNotExist:
            return None

    def invoice(self, invoice_id: str) -> InvoiceView:
        invoice = self.ledger.invoice(invoice_id)
        paid = int(invoice.paid_amount)
        prepaid: dict[str, int] = {}
        if paid and invoice.status == "open":
            keys = [(invoice.apartment_id, item.charge_key) for item in invoice.items]
            prepaid = {c.charge_key: int(c.paid_amount) for c in Charge.batch_get(keys, consistent_read=True)}
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
        if with_debt:
            balance = self.billing.balance(apartment_id)
            label = self.ledger.apartment(apartment_id).label
            return ApartmentView(apartment_id, label, balance.debt)
        return ApartmentView(apartment_id, self.ledger.apartment(apartment_id).label, None)

    def statement(self, start: int, end: int) -> list[Transaction]:
        found: list[Transaction] = []
        for day in days_between(start, end):
            query = PaymeTransactionRecord.by_day.query(
                day, range_key_condition=PaymeTransactionRecord.time.between(start, end)
            )
            found.extend(from_record(record) for record in query)
        return found

    # ------------------------------------------------------------------ changes
    def create(self, tx: Transaction) -> None:
        record = to_record(tx)
        absent = PaymeTransactionRecord.tx_key.does_not_exist()
        if tx.kind == "invoice":
            try:
                self.ledger.lock_invoice(
                    payment_key(tx.id),
                    tx.target,
                    tx.amount,
                    caller_ops=[lambda t: t.save(record, condition=absent)],
                )
            except CallerConditionFailed:
                raise TransactionExists(tx.id) from None
            return
        try:
            record.save(condition=absent)
        except PutError as error:
            if _conditional_failure(error):
                raise TransactionExists(tx.id) from None
            raise

    def perform(self, tx: Transaction, perform_time: int) -> None:
        op = _transition(
            tx.id,
            CREATED,
            [
                PaymeTransactionRecord.state.set(PERFORMED),
                PaymeTransactionRecord.perform_time.set(perform_time),
            ],
        )
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
                PaymeTransactionRecord(tx_key(tx.id)).update(
                    actions=_cancel_actions(CANCELLED, cancel_time, reason),
                    condition=PaymeTransactionRecord.state == CREATED,
                )
        except CallerConditionFailed:
            raise StateChanged(tx.id) from None
        except UpdateError as error:
            if _conditional_failure(error):
                raise StateChanged(tx.id) from None
            raise

    def set_fiscal(self, payme_id: str, kind: FiscalType, data: dict[str, Any]) -> bool:
        attribute = (
            PaymeTransactionRecord.fiscal_perform
            if kind == "PERFORM"
            else PaymeTransactionRecord.fiscal_cancel
        )
        try:
            PaymeTransactionRecord(tx_key(payme_id)).update(
                actions=[attribute.set(data)], condition=PaymeTransactionRecord.tx_key.exists()
            )
        except UpdateError as error:
            if _conditional_failure(error):
                return False
            raise
        return True
