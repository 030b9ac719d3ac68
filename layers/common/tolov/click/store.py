"""Click attempts in TransactionsTable ("click#<click_trans_id>") and the repository the shop core uses.

Every state change is one conditional write: a new attempt is a put on an absent key, together with its
prepare id's alias ("click#prepare#<merchant_prepare_id>" -> click_trans_id, also absent before) and the
invoice reservation in the same transaction; every later change requires state "prepared". Confirming, and
cancelling or giving up an invoice attempt, go through the ledger so that the attempt, the posting and
the reservation move together.
"""

import datetime
import os
from collections.abc import Callable

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from tolov.billing.errors import (
    AmountMismatch,
    ApartmentNotFound,
    CallerConditionFailed,
    InvoiceAlreadyPaid,
    InvoiceCancelled,
    InvoiceLocked,
    InvoiceNotFound,
    LedgerContention,
)
from tolov.billing.ledger import Ledger, PaymentKey, TxOp, commit, error_code
from tolov.click.errors import StoreUnavailable, Unpostable
from tolov.click.repository import (
    PROVIDER,
    Account,
    AccountKind,
    ApartmentAccount,
    ClickTx,
    InvoiceAccount,
    TxState,
    payment_key,
)
from tolov.store.models import Apartment, Invoice

COUNTER_KEY = f"{PROVIDER}#counter"  # cannot collide: click_trans_id is digits


def prepare_key(prepare_id: int) -> str:
    return f"{PROVIDER}#prepare#{prepare_id}"  # cannot collide either
# Statements and reconciliation with Click go by the Tashkent business day (UTC+5, no DST).
TASHKENT = datetime.timezone(datetime.timedelta(hours=5))


class _Meta:
    table_name = os.environ.get("TRANSACTIONS_TABLE", "TransactionsTable")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # PynamoDB does not read AWS_ENDPOINT_URL itself; the local stack and tests set it.
    host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None


class ClickTransaction(Model):
    class Meta(_Meta):
        pass

    tx_key = UnicodeAttribute(hash_key=True)  # click#<click_trans_id>
    click_trans_id = UnicodeAttribute()
    click_paydoc_id = UnicodeAttribute()
    merchant_trans_id = UnicodeAttribute()
    account = UnicodeAttribute()  # invoice | apartment
    amount = NumberAttribute()  # tiyin
    prepare_id = NumberAttribute()  # merchant_prepare_id, also returned as merchant_confirm_id
    state = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)  # why cancelled, or why the ledger refused the payment
    click_error = NumberAttribute(null=True)  # Click's negative error on a cancelling Complete
    sign_time = UnicodeAttribute()
    created_at = NumberAttribute()
    confirmed_at = NumberAttribute(null=True)
    cancelled_at = NumberAttribute(null=True)
    reversed_at = NumberAttribute(null=True)
    confirm_token = UnicodeAttribute(null=True)  # the Complete request that confirmed it (see ClickTx)
    # The click_trans_id of the Complete that confirmed or cancelled it, when not the Prepare's own.
    complete_click_trans_id = UnicodeAttribute(null=True)
    # The by_day index: click#YYYY-MM-DD (Tashkent) and the Prepare time, for reconciliation.
    day_key = UnicodeAttribute()
    time = NumberAttribute()

    def to_domain(self) -> ClickTx:
        return ClickTx(
            click_trans_id=self.click_trans_id,
            click_paydoc_id=self.click_paydoc_id,
            merchant_trans_id=self.merchant_trans_id,
            account=AccountKind(self.account),
            amount=int(self.amount),
            prepare_id=int(self.prepare_id),
            state=TxState(self.state),
            sign_time=self.sign_time,
            created_at=int(self.created_at),
            reason=self.reason,
            confirm_token=self.confirm_token,
        )

    @classmethod
    def from_domain(cls, tx: ClickTx) -> "ClickTransaction":
        return cls(
            tx.payment_key,
            click_trans_id=tx.click_trans_id,
            click_paydoc_id=tx.click_paydoc_id,
            merchant_trans_id=tx.merchant_trans_id,
            account=tx.account.value,
            amount=tx.amount,
            prepare_id=tx.prepare_id,
            state=tx.state.value,
            reason=tx.reason,
            sign_time=tx.sign_time,
            created_at=tx.created_at,
            day_key=day_key(tx.created_at),
            time=tx.created_at,
        )


class ClickPrepareAlias(Model):
    """merchant_prepare_id -> the attempt its Prepare created, written in the same transaction as the
    attempt: a Complete is matched by its prepare id, and finds the attempt by key even when it carries
    another click_trans_id than the Prepare's (see shop.py)."""

    class Meta(_Meta):
        pass

    tx_key = UnicodeAttribute(hash_key=True)  # click#prepare#<merchant_prepare_id>
    click_trans_id = UnicodeAttribute()


class ClickCounter(Model):
    """merchant_prepare_id must be numeric (Click echoes it as an int): one atomic counter hands them out."""

    class Meta(_Meta):
        pass

    tx_key = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


def day_key(time_ms: int) -> str:
    day = datetime.datetime.fromtimestamp(time_ms / 1000, TASHKENT).date()
    return f"{PROVIDER}#{day.isoformat()}"


def _guard[T](call: Callable[[], T]) -> T:
    """Store failures (throttling, network, contention) become StoreUnavailable: nothing was decided."""
    try:
        return call()
    except LedgerContention as error:
        raise StoreUnavailable(str(error)) from error
    except PynamoDBException as error:
        raise StoreUnavailable(error_code(error) or type(error).__name__) from error


def _conditional_failure(error: PynamoDBException) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"


def _completed_under(complete_trans_id: str | None) -> list[Action]:
    """Record a Complete that came under another click_trans_id than the attempt's own."""
    if complete_trans_id is None:
        return []
    return [ClickTransaction.complete_click_trans_id.set(complete_trans_id)]


def _change(key: str, actions: list[Action]) -> TxOp:
    """An update of a prepared attempt, as an op of a ledger transaction."""
    row = ClickTransaction(key)

    def op(t: TransactWrite) -> None:
        t.update(row, actions=actions, condition=ClickTransaction.state == TxState.PREPARED.value)

    return op


class DynamoClickRepository:
    def __init__(self, ledger: Ledger | None = None) -> None:
        self.ledger = ledger or Ledger()

    # ------------------------------------------------------------------ reads
    def get(self, click_trans_id: str) -> ClickTx | None:
        def read() -> ClickTx | None:
            try:
                return ClickTransaction.get(payment_key(click_trans_id), consistent_read=True).to_domain()
            except ClickTransaction.DoesNotExist:
                return None

        return _guard(read)

    def find_by_prepare_id(self, prepare_id: int) -> ClickTx | None:
        def read() -> str | None:
            try:
                return ClickPrepareAlias.get(prepare_key(prepare_id), consistent_read=True).click_trans_id
            except ClickPrepareAlias.DoesNotExist:
                return None  # never handed out, or an attempt from before the aliases

        click_trans_id = _guard(read)
        return None if click_trans_id is None else self.get(click_trans_id)

    def find_account(self, merchant_trans_id: str, kind: AccountKind | None = None) -> Account | None:
        """Invoice ids are looked up first: they are ten-digit numbers the billing core issues, while
        apartment ids come from the platform; an invoice id that is also an apartment id is the invoice."""

        def read() -> Account | None:
            if kind in (None, AccountKind.INVOICE):
                try:
                    invoice = Invoice.get(merchant_trans_id, consistent_read=True)
                except Invoice.DoesNotExist:
                    pass
                else:
                    return InvoiceAccount(
                        invoice_id=invoice.invoice_id,
                        status=invoice.status,
                        unpaid=int(invoice.amount) - int(invoice.paid_amount),
                        holder=invoice.active_payment,
                        holder_since=None
                        if invoice.active_payment_at is None
                        else int(invoice.active_payment_at),
                    )
            if kind in (None, AccountKind.APARTMENT):
                try:
                    Apartment.get(merchant_trans_id, consistent_read=True, attributes_to_get=["apartment_id"])
                except Apartment.DoesNotExist:
                    return None
                return ApartmentAccount(apartment_id=merchant_trans_id)
            return None

        return _guard(read)

    def next_prepare_id(self) -> int:
        def allocate() -> int:
            counter = ClickCounter(COUNTER_KEY)
            counter.update(actions=[ClickCounter.value.add(1)])  # returns the new value (ALL_NEW)
            return int(counter.value)

        return _guard(allocate)

    # ------------------------------------------------------------------ writes
    def create(self, tx: ClickTx, account: Account, now: int) -> bool:
        row = ClickTransaction.from_domain(tx)
        alias = ClickPrepareAlias(prepare_key(tx.prepare_id), click_trans_id=tx.click_trans_id)

        def put(t: TransactWrite) -> None:
            t.save(row, condition=ClickTransaction.tx_key.does_not_exist())
            # A prepare id names one attempt for good: an alias that exists (the counter reset, say)
            # fails the whole write, and the Prepare takes the next id.
            t.save(alias, condition=ClickPrepareAlias.tx_key.does_not_exist())

        if isinstance(account, ApartmentAccount):
            try:
                # Anything but success (our condition failed, a transaction conflict): read again.
                return _guard(lambda: commit([put], caller_start=0)) is None
            except CallerConditionFailed:
                return False

        ops: list[TxOp] = [put]
        holder = account.holder
        if holder is not None and holder.startswith(f"{PROVIDER}#") and holder != tx.payment_key:
            # The newest attempt wins; the one it replaces is retired in the same transaction, so a
            # prepared invoice attempt holds its reservation unless it has been superseded. Its
            # condition (still prepared) fails if the holder changed since we read the invoice.
            ops.append(
                _change(
                    holder,
                    [
                        ClickTransaction.state.set(TxState.CANCELLED.value),
                        ClickTransaction.reason.set(f"superseded by {tx.payment_key}"),
                        ClickTransaction.cancelled_at.set(now),
                    ],
                )
            )
        key = PaymentKey(PROVIDER, tx.click_trans_id)
        # Supersede only the holder we read and retire: when we saw none, an attempt that took the
        # invoice since must not be replaced without being retired, so it makes us read again.
        supersede = len(ops) > 1
        try:
            _guard(
                lambda: self.ledger.lock_invoice(
                    key, account.invoice_id, tx.amount, supersede=supersede, caller_ops=ops
                )
            )
        except CallerConditionFailed:
            return False  # the attempt exists already, or the one we meant to retire has moved on
        except (InvoiceLocked, InvoiceAlreadyPaid, InvoiceCancelled, AmountMismatch, InvoiceNotFound):
            return False  # the invoice changed since we read it: decide again from a fresh read
        return True

    def confirm(self, tx: ClickTx, now: int, token: str, complete_trans_id: str | None = None) -> bool:
        confirmed: list[Action] = [
            ClickTransaction.state.set(TxState.CONFIRMED.value),
            ClickTransaction.confirmed_at.set(now),
            ClickTransaction.confirm_token.set(token),
            *_completed_under(complete_trans_id),
        ]
        ops = [_change(tx.payment_key, confirmed)]
        key = PaymentKey(PROVIDER, tx.click_trans_id)
        try:
            if tx.account is AccountKind.INVOICE:
                result = _guard(
                    lambda: self.ledger.post_to_invoice(
                        key, tx.merchant_trans_id, tx.amount, require_lock=True, caller_ops=ops
                    )
                )
            else:
                result = _guard(
                    lambda: self.ledger.post_to_apartment(
                        key, tx.merchant_trans_id, tx.amount, caller_ops=ops
                    )
                )
        except (CallerConditionFailed, InvoiceLocked):
            # Our state moved, or the reservation went to a newer attempt: read again.
            return False
        except AmountMismatch as error:
            raise Unpostable(f"amount no longer matches the invoice (unpaid {error.expected})") from None
        except InvoiceAlreadyPaid:
            raise Unpostable("invoice already paid") from None
        except InvoiceCancelled:
            raise Unpostable("invoice cancelled") from None
        except (InvoiceNotFound, ApartmentNotFound):
            raise Unpostable("account not found") from None
        # created=False: this payment was posted already and our state change went with that posting,
        # whether it was this request's (botocore resent a write whose reply was lost) or a duplicate's.
        return result.created

    def cancel(
        self,
        tx: ClickTx,
        reason: str,
        click_error: int | None,
        now: int,
        complete_trans_id: str | None = None,
    ) -> bool:
        actions: list[Action] = [
            ClickTransaction.state.set(TxState.CANCELLED.value),
            ClickTransaction.reason.set(reason),
            ClickTransaction.cancelled_at.set(now),
            *_completed_under(complete_trans_id),
        ]
        if click_error is not None:
            actions.append(ClickTransaction.click_error.set(click_error))
        return self._leave_invoice(tx, _change(tx.payment_key, actions))

    def mark_unposted(
        self,
        tx: ClickTx,
        reason: str,
        click_paydoc_id: str,
        now: int,
        token: str,
        complete_trans_id: str | None = None,
    ) -> bool:
        actions: list[Action] = [
            ClickTransaction.state.set(TxState.CONFIRMED_UNPOSTED.value),
            ClickTransaction.reason.set(reason),
            ClickTransaction.click_paydoc_id.set(click_paydoc_id),
            ClickTransaction.confirmed_at.set(now),
            ClickTransaction.confirm_token.set(token),
            *_completed_under(complete_trans_id),
        ]
        return self._leave_invoice(tx, _change(tx.payment_key, actions))

    def mark_reversed(self, click_trans_id: str, now: int) -> bool:
        """confirmed_unposted -> reversed, once Click has refunded the payment."""
        row = ClickTransaction(payment_key(click_trans_id))
        unposted = ClickTransaction.state == TxState.CONFIRMED_UNPOSTED.value
        actions: list[Action] = [
            ClickTransaction.state.set(TxState.REVERSED.value),
            ClickTransaction.reversed_at.set(now),
        ]
        try:
            _guard(lambda: row.update(actions=actions, condition=unposted))
        except StoreUnavailable as error:
            if isinstance(error.__cause__, PynamoDBException) and _conditional_failure(error.__cause__):
                return False
            raise
        return True

    def _leave_invoice(self, tx: ClickTx, op: TxOp) -> bool:
        """Apply op, dropping the attempt's invoice reservation in the same transaction if it holds one."""
        try:
            if tx.account is AccountKind.INVOICE:
                try:
                    _guard(
                        lambda: self.ledger.release_invoice(
                            tx.payment_key, tx.merchant_trans_id, caller_ops=[op]
                        )
                    )
                    return True
                except InvoiceNotFound:
                    pass  # nothing to release; the attempt still changes
            if _guard(lambda: commit([op], caller_start=0)) is not None:
                raise StoreUnavailable("transaction conflict")
        except CallerConditionFailed:
            return False
        return True
