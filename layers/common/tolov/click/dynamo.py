"""Click attempts in TransactionsTable ("click#<click_trans_id>"): the adapter the SHOP-API core uses.

Every state change is one conditional write: a new attempt is a put on an absent key, together with its
prepare id's alias ("click#prepare#<merchant_prepare_id>" -> click_trans_id, also absent before) and the
invoice reservation in the same transaction; every later change requires state "prepared". Confirming, and
cancelling or giving up an invoice attempt, go through the ledger so that the attempt, the posting and
the reservation move together. This adapter only reads and writes: the core decides what to write.
"""

import secrets
from collections.abc import Callable

from tolov.billing.errors import ApartmentNotFound, InvoiceNotFound, StateChanged, TransactionExists
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.click.attempt import (
    PROVIDER,
    Account,
    AccountKind,
    ApartmentAccount,
    ClickTx,
    InvoiceAccount,
    TxState,
    payment_key,
)
from tolov.clock import tashkent_date
from tolov.store.click_models import ClickPrepareAlias, ClickTransaction
from tolov.store.engine import (
    Action,
    CallerConditionFailed,
    ConditionFailed,
    StoreUnavailable,
    TransactWrite,
    TxOp,
    commit,
    conditional,
    unavailable_on_failure,
)
from tolov.store.models import Invoice

# merchant_prepare_id is an integer in Click's protocol (int32 in its reference implementations): drawn at
# random from the positive int32s rather than counted, so no single counter item is written by every
# Prepare. The alias written with the attempt on condition that it is absent keeps an id to one attempt;
# a draw that collides (about n / 2**31 for n attempts stored) fails the write whole and is drawn again.
PREPARE_ID_MAX = 2**31 - 1


def random_prepare_id() -> int:
    return 1 + secrets.randbelow(PREPARE_ID_MAX)


def prepare_key(prepare_id: int) -> str:
    return f"{PROVIDER}#prepare#{prepare_id}"  # cannot collide either


def day_key(time_ms: int) -> str:
    # Statements and reconciliation with Click go by the Tashkent business day.
    return f"{PROVIDER}#{tashkent_date(time_ms).isoformat()}"


def to_attempt(row: ClickTransaction) -> ClickTx:
    return ClickTx(
        click_trans_id=row.click_trans_id,
        click_paydoc_id=row.click_paydoc_id,
        merchant_trans_id=row.merchant_trans_id,
        account=AccountKind(row.account),
        amount=int(row.amount),
        prepare_id=int(row.prepare_id),
        state=TxState(row.state),
        sign_time=row.sign_time,
        created_at=int(row.created_at),
        reason=row.reason,
        confirm_token=row.confirm_token,
    )


def to_row(tx: ClickTx) -> ClickTransaction:
    return ClickTransaction(
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


def _invoice_read(account: Account | None) -> Invoice | None:
    """The invoice find_account read for this account, if that is what it holds."""
    read = account.read if isinstance(account, InvoiceAccount) else None
    return read if isinstance(read, Invoice) else None


def _completed_under(complete_trans_id: str | None) -> list[Action]:
    """Record a Complete that came under another click_trans_id than the attempt's own."""
    if complete_trans_id is None:
        return []
    return [ClickTransaction.complete_click_trans_id.set(complete_trans_id)]


def _change(key: str, actions: list[Action], was: TxState = TxState.PREPARED) -> TxOp:
    """An update of an attempt still in state `was`, as an op of a ledger transaction."""
    row = ClickTransaction(key)

    def op(t: TransactWrite) -> None:
        t.update(row, actions=actions, condition=ClickTransaction.state == was.value)

    return op


def _moved[T](write: Callable[[], T], attempt: str) -> T:
    """A write of ours whose caller condition failed: the attempt is no longer as we read it."""
    try:
        return write()
    except CallerConditionFailed:
        raise StateChanged(attempt) from None


class DynamoClickRepository:
    def __init__(
        self, ledger: Ledger | None = None, *, prepare_ids: Callable[[], int] | None = None
    ) -> None:
        self.ledger = ledger or Ledger()
        self.prepare_ids = prepare_ids  # None: random_prepare_id

    # ------------------------------------------------------------------ reads
    def get(self, click_trans_id: str) -> ClickTx | None:
        with unavailable_on_failure():
            try:
                return to_attempt(ClickTransaction.get(payment_key(click_trans_id), consistent_read=True))
            except ClickTransaction.DoesNotExist:
                return None

    def find_by_prepare_id(self, prepare_id: int) -> ClickTx | None:
        with unavailable_on_failure():
            try:
                alias = ClickPrepareAlias.get(prepare_key(prepare_id), consistent_read=True)
            except ClickPrepareAlias.DoesNotExist:
                return None  # never handed out, or an attempt from before the aliases
        return self.get(alias.click_trans_id)

    def find_account(self, merchant_trans_id: str, kind: AccountKind | None = None) -> Account | None:
        """Invoice ids are looked up first: they are ten-digit numbers the billing core issues, while
        apartment ids come from the platform; an invoice id that is also an apartment id is the invoice."""
        with unavailable_on_failure():
            if kind in (None, AccountKind.INVOICE):
                try:
                    invoice = self.ledger.invoice(merchant_trans_id)
                except InvoiceNotFound:
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
                        read=invoice,
                    )
            if kind in (None, AccountKind.APARTMENT):
                try:
                    self.ledger.apartment(merchant_trans_id, attributes=["apartment_id"])
                except ApartmentNotFound:
                    return None
                return ApartmentAccount(apartment_id=merchant_trans_id)
            return None

    def next_prepare_id(self) -> int:
        return (self.prepare_ids or random_prepare_id)()

    # ------------------------------------------------------------------ writes
    def create(self, tx: ClickTx, account: Account, now: int, *, retire: str | None = None) -> None:
        row = to_row(tx)
        alias = ClickPrepareAlias(prepare_key(tx.prepare_id), click_trans_id=tx.click_trans_id)
        ops: list[TxOp] = [
            lambda t: t.save(row, condition=ClickTransaction.tx_key.does_not_exist()),
            # A prepare id names one attempt for good: an alias that exists fails the whole write, and
            # the Prepare draws another id.
            lambda t: t.save(alias, condition=ClickPrepareAlias.tx_key.does_not_exist()),
        ]
        if isinstance(account, ApartmentAccount):
            try:
                if commit(ops, caller_start=0) is not None:
                    raise StateChanged(tx.click_trans_id)  # a conflicting transaction: read again
            except CallerConditionFailed as failed:
                if failed.index == 0:
                    raise TransactionExists(tx.click_trans_id) from None
                raise StateChanged(tx.click_trans_id) from None
            return
        if retire is not None:
            retired: list[Action] = [
                ClickTransaction.state.set(TxState.CANCELLED.value),
                ClickTransaction.reason.set(f"superseded by {tx.payment_key}"),
                ClickTransaction.cancelled_at.set(now),
            ]
            ops.append(_change(retire, retired))
        key = PaymentKey(PROVIDER, tx.click_trans_id)
        try:
            self.ledger.lock_invoice(
                key,
                account.invoice_id,
                tx.amount,
                supersede=retire is not None,
                caller_ops=ops,
                invoice=_invoice_read(account),
            )
        except CallerConditionFailed as failed:
            if failed.index == 0:
                raise TransactionExists(tx.click_trans_id) from None
            raise StateChanged(retire or tx.click_trans_id) from None

    def confirm(
        self,
        tx: ClickTx,
        now: int,
        token: str,
        complete_trans_id: str | None = None,
        *,
        account: Account | None = None,
    ) -> None:
        confirmed: list[Action] = [
            ClickTransaction.state.set(TxState.CONFIRMED.value),
            ClickTransaction.confirmed_at.set(now),
            ClickTransaction.confirm_token.set(token),
            *_completed_under(complete_trans_id),
        ]
        ops = [_change(tx.payment_key, confirmed)]
        key = PaymentKey(PROVIDER, tx.click_trans_id)
        if tx.account is AccountKind.INVOICE:
            result = _moved(
                lambda: self.ledger.post_to_invoice(
                    key,
                    tx.merchant_trans_id,
                    tx.amount,
                    require_lock=True,
                    caller_ops=ops,
                    invoice=_invoice_read(account),
                ),
                tx.click_trans_id,
            )
        else:
            result = _moved(
                lambda: self.ledger.post_to_apartment(key, tx.merchant_trans_id, tx.amount, caller_ops=ops),
                tx.click_trans_id,
            )
        if not result.created:
            # Posted already, and our state change went with that posting, whether it was this
            # request's (botocore resent a write whose reply was lost) or a duplicate's.
            raise StateChanged(tx.click_trans_id)

    def cancel(
        self,
        tx: ClickTx,
        reason: str,
        click_error: int | None,
        now: int,
        complete_trans_id: str | None = None,
    ) -> None:
        actions: list[Action] = [
            ClickTransaction.state.set(TxState.CANCELLED.value),
            ClickTransaction.reason.set(reason),
            ClickTransaction.cancelled_at.set(now),
            *_completed_under(complete_trans_id),
        ]
        if click_error is not None:
            actions.append(ClickTransaction.click_error.set(click_error))
        self._leave_invoice(tx, _change(tx.payment_key, actions))

    def mark_unposted(
        self,
        tx: ClickTx,
        reason: str,
        click_paydoc_id: str,
        now: int,
        token: str,
        complete_trans_id: str | None = None,
        *,
        was: TxState = TxState.PREPARED,
    ) -> None:
        actions: list[Action] = [
            ClickTransaction.state.set(TxState.CONFIRMED_UNPOSTED.value),
            ClickTransaction.reason.set(reason),
            ClickTransaction.click_paydoc_id.set(click_paydoc_id),
            ClickTransaction.confirmed_at.set(now),
            ClickTransaction.confirm_token.set(token),
            *_completed_under(complete_trans_id),
        ]
        self._leave_invoice(tx, _change(tx.payment_key, actions, was))

    def mark_reversed(self, click_trans_id: str, now: int) -> None:
        row = ClickTransaction(payment_key(click_trans_id))
        unposted = ClickTransaction.state == TxState.CONFIRMED_UNPOSTED.value
        actions: list[Action] = [
            ClickTransaction.state.set(TxState.REVERSED.value),
            ClickTransaction.reversed_at.set(now),
        ]
        try:
            conditional(lambda: row.update(actions=actions, condition=unposted))
        except ConditionFailed:
            raise StateChanged(click_trans_id) from None

    def _leave_invoice(self, tx: ClickTx, op: TxOp) -> None:
        """Apply op, dropping the attempt's invoice reservation in the same transaction if it holds one."""
        if tx.account is AccountKind.INVOICE:
            # No reservation to drop (an invoice gone, or taken over) leaves the attempt's change alone.
            _moved(
                lambda: self.ledger.release_invoice(tx.payment_key, tx.merchant_trans_id, caller_ops=[op]),
                tx.click_trans_id,
            )
            return
        if _moved(lambda: commit([op], caller_start=0), tx.click_trans_id) is not None:
            raise StoreUnavailable("transaction conflict")
