"""Click SHOP-API: Prepare and Complete, from the posted fields to the reply Click expects.

Decision order (docs.click.uz and Click's own implementations):
- both: -8 missing or malformed fields, -1 signature or foreign service_id, -3 action unknown or not
  the one of the URL it was posted to;
- Prepare: -5 account unknown, -4 invoice paid, -9 invoice cancelled, -2 amount (an invoice's unpaid
  amount; an apartment top-up within the limits both providers share), -9 Click's error < 0,
  then the attempt: a repeat answers from its row (same merchant_prepare_id), a new one is stored and,
  for an invoice, reserves it (superseding an older Click attempt of the same invoice; another
  provider's live attempt answers -7 "Another payment for this order is in progress");
- Complete: -5 account unknown, -6 prepare id unknown or bound to another order (matched by prepare id
  and merchant_trans_id, not by click_trans_id: see _read_completed), -2 amount when it came under
  another click_trans_id, -4 already confirmed (a cancel attempt gets the configured code), -9 cancelled
  or superseded, Click's error < 0 cancels and answers -9, -2 amount, then confirm and post in one
  transaction.
Once Click has debited the payer (Complete with error 0 for a live attempt) the answer is never an error
of ours: a posting the ledger refuses for good is answered with success and queued for reversal; a store
that does not answer gets the verified Complete queued (tolov.click.complete_queue) and success, -7 only
when that queue fails too. The queue's consumer settles it through this same Complete (`redo`).

Every read here is only a basis for a conditional write; a write that loses its condition makes us read
again and decide from what is now stored.
"""

import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from tolov.billing.errors import (
    AmountMismatch,
    ApartmentNotFound,
    InvoiceAlreadyPaid,
    InvoiceCancelled,
    InvoiceLocked,
    InvoiceNotFound,
    LedgerContention,
    StateChanged,
)
from tolov.billing.keys import PaymentKey
from tolov.billing.reservations import reservation_stale
from tolov.click.attempt import (
    CONFIRMED_STATES,
    PROVIDER,
    Account,
    ClickTx,
    InvoiceAccount,
    ReversalRequest,
    TxState,
)
from tolov.click.complete_queue import CompleteQueue, QueuedComplete
from tolov.click.errors import ShopError
from tolov.click.repository import ClickRepository, ReversalQueue
from tolov.click.request import BIGINT_MAX, Action, ClickRequest, validate_fields
from tolov.click.sign import sign_string, signature_matches
from tolov.clock import Clock, now_ms
from tolov.settings import ApartmentLimits
from tolov.store.engine import StoreUnavailable

# A write that loses its condition is decided again from fresh reads; this bounds how often.
RACE_ROUNDS = 4
SUPERSEDED = "superseded: no longer holds the invoice reservation"
# Another provider's live attempt holds the invoice. Not -4 ("Already paid": Click would treat the order as
# paid); nothing is debited at Prepare, so an error is safe here and Click cancels this attempt.
IN_PROGRESS_NOTE = "Another payment for this order is in progress"
CANCEL_AFTER_CONFIRM_CODES = (ShopError.ALREADY_PAID, ShopError.TRANSACTION_CANCELLED)
DEFAULT_APARTMENT_LIMITS = ApartmentLimits()


class ClickResult(NamedTuple):
    reply: dict[str, Any]
    action: str  # prepare | complete | unknown
    state: str | None = None  # the attempt's state after this request, when known
    reason: str | None = None
    reversal: ReversalRequest | None = None
    reversal_queued: bool = False
    reversal_error: str | None = None
    account: str | None = None  # invoice | apartment: what merchant_trans_id named, when it was found
    queued: QueuedComplete | None = None  # a Complete answered while the store was down (queue_error: not)
    queue_error: str | None = None

    @property
    def error(self) -> int:
        return int(self.reply["error"])


class _Round:
    """One request, across its rounds. A write whose reply was lost may still have landed: botocore resends
    it (the copy fails its conditions, as if someone else had written), or the failure reaches us and the
    next round reads the result. Either way the row then carries this request's token, which a concurrent
    duplicate's write does not: only a landed write of our own is answered as our success."""

    __slots__ = ("token",)

    def __init__(self, token: str | None = None) -> None:
        self.token = uuid.uuid4().hex if token is None else token


def echo_trans_id(fields: Mapping[str, str] | None) -> int | None:
    """click_trans_id is a bigint in Click's replies: echoed as an integer, or null when it is not one."""
    raw = (fields or {}).get("click_trans_id")
    if isinstance(raw, str) and 0 < len(raw) <= 19 and raw.isascii() and raw.isdigit():
        value = int(raw)
        return value if value <= BIGINT_MAX else None
    return None


def echo_merchant_trans_id(fields: Mapping[str, str] | None) -> str | None:
    raw = (fields or {}).get("merchant_trans_id")
    return raw if isinstance(raw, str) else None


def reply(
    fields: Mapping[str, str] | None,
    action: Action | None,
    code: ShopError,
    *,
    our_id: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Click's reply shape; `our_id` is merchant_prepare_id on Prepare, merchant_confirm_id on Complete."""
    id_field = "merchant_confirm_id" if action is Action.COMPLETE else "merchant_prepare_id"
    return {
        "click_trans_id": echo_trans_id(fields),
        "merchant_trans_id": echo_merchant_trans_id(fields),
        id_field: our_id,
        "error": int(code),
        "error_note": note or code.note,
    }


def _label(action: Action | None) -> str:
    return "unknown" if action is None else action.name.lower()


class ClickShop:
    def __init__(
        self,
        repository: ClickRepository,
        reversals: ReversalQueue,
        *,
        service_id: str,
        secret_key: Callable[[], str],
        cancel_after_confirm: int = ShopError.ALREADY_PAID,
        apartment_limits: ApartmentLimits = DEFAULT_APARTMENT_LIMITS,
        clock: Clock = now_ms,
        completes: CompleteQueue | None = None,
    ) -> None:
        if not service_id.isascii() or not service_id.isdigit():
            raise ValueError("service_id must be Click's numeric service id")
        if cancel_after_confirm not in CANCEL_AFTER_CONFIRM_CODES:
            raise ValueError("a cancel after confirmation is answered -4 (legacy tester) or -9 (Postman)")
        self.repository = repository
        self.reversals = reversals
        self.service_id = int(service_id)
        self.secret_key = secret_key
        self.cancel_after_confirm = ShopError(cancel_after_confirm)
        self.apartment_limits = apartment_limits
        self.clock = clock
        self.completes = completes

    def _read(self, request: ClickRequest) -> tuple[ClickTx | None, ClickTx | None, Account | None]:
        """This attempt's row, the same row if it belongs to this order, and the order's account."""
        tx = self.repository.get(request.trans_id)
        bound = tx if tx is not None and tx.merchant_trans_id == request.merchant_trans_id else None
        account = self.repository.find_account(request.merchant_trans_id, bound.account if bound else None)
        return tx, bound, account

    def _read_completed(
        self, request: ClickRequest, prepare_id: int
    ) -> tuple[ClickTx | None, Account | None]:
        """The attempt a Complete settles (None: -6), and the order's account.

        A Complete is matched to its attempt by merchant_prepare_id (our id, covered by the signature) and
        merchant_trans_id. This departs on purpose from the reference's §4.3, which binds a Complete to its
        click_trans_id too: some testers send a Complete under another click_trans_id than the Prepare's,
        and with a valid signature, our prepare id, the account and the amount it is that attempt's
        Complete (recorded on the attempt, posted under the attempt's key: never a second posting).
        The attempt under the Complete's own click_trans_id is the usual case; otherwise the prepare id
        finds the attempt by key (the alias Prepare wrote with it)."""
        tx = self.repository.get(request.trans_id)
        if tx is None or tx.prepare_id != prepare_id:
            tx = self.repository.find_by_prepare_id(prepare_id)
        if tx is None or tx.prepare_id != prepare_id or tx.merchant_trans_id != request.merchant_trans_id:
            tx = None
        return tx, self.repository.find_account(request.merchant_trans_id, tx.account if tx else None)

    # ------------------------------------------------------------------ entry
    def handle(self, fields: Mapping[str, str] | None, endpoint: Action | None) -> ClickResult:
        """Answer one request. `endpoint` is the action of the URL it was posted to (None: one URL for
        both, dispatched on the action field). `fields` None: the body could not be read."""
        if fields is None:
            return ClickResult(reply(None, endpoint, ShopError.BAD_REQUEST), _label(endpoint))
        claimed = endpoint if endpoint is not None else _claimed_action(fields)
        request = validate_fields(fields, complete=claimed is Action.COMPLETE)
        if request is None:
            return ClickResult(reply(fields, claimed, ShopError.BAD_REQUEST), _label(claimed))
        if not self._authentic(request):
            return ClickResult(reply(fields, claimed, ShopError.SIGN_CHECK_FAILED), _label(claimed))
        action = _claimed_action(fields)
        if action is None or (endpoint is not None and action is not endpoint):
            return ClickResult(reply(fields, claimed, ShopError.ACTION_NOT_FOUND), _label(claimed))
        decide = self._prepare if action is Action.PREPARE else self._complete
        attempt = _Round()
        # A store failure is retried once here (every write is conditional, so a second round is safe);
        # then -7 asks Click to retry.
        for _ in range(2):
            try:
                return decide(request, fields, attempt)
            except (StoreUnavailable, LedgerContention):
                continue
        if action is Action.COMPLETE and request.click_error == 0 and self.completes is not None:
            # Click has debited: never -7 while the request can be recorded elsewhere.
            return self._queue(self.completes, request, fields, attempt)
        return ClickResult(reply(fields, action, ShopError.FAILED_TO_UPDATE_USER), _label(action))

    def redo(self, queued: QueuedComplete) -> ClickResult:
        """Settle a Complete answered 0 while the store was down, through the same decisions, with the
        webhook's token (its write may have landed) and Click's debit taken as given: what the webhook
        would have cancelled or refused is marked unposted and its reversal queued. A store failure is
        raised: the queue delivers the message again."""
        request = queued.request()
        return self._complete(request, queued.fields, _Round(queued.token), answered=True)

    def _queue(
        self, completes: CompleteQueue, request: ClickRequest, fields: Mapping[str, str], attempt: _Round
    ) -> ClickResult:
        queued = QueuedComplete.of(request, attempt.token, self.clock())
        try:
            completes.enqueue(queued)
        except Exception as error:  # nothing recorded anywhere: -7, Click retries
            body = reply(fields, Action.COMPLETE, ShopError.FAILED_TO_UPDATE_USER)
            return ClickResult(body, "complete", queued=queued, queue_error=type(error).__name__)
        body = reply(fields, Action.COMPLETE, ShopError.SUCCESS, our_id=queued.prepare_id)
        return ClickResult(body, "complete", "queued", "store unavailable; complete queued", queued=queued)

    def _authentic(self, request: ClickRequest) -> bool:
        if int(request.service_id) != self.service_id:
            return False
        expected = sign_string(
            click_trans_id=request.click_trans_id,
            service_id=request.service_id,
            secret_key=self.secret_key(),
            merchant_trans_id=request.merchant_trans_id,
            merchant_prepare_id=request.merchant_prepare_id or "",
            amount=request.amount,
            action=request.action,
            sign_time=request.sign_time,
        )
        return signature_matches(expected, request.sign_string)

    # ------------------------------------------------------------------ prepare
    def _prepare(self, request: ClickRequest, fields: Mapping[str, str], attempt: _Round) -> ClickResult:
        amount = request.tiyin

        kind: str | None = None  # the account of the latest read, for the audit trail

        def answer(code: ShopError, tx: ClickTx | None = None, note: str | None = None) -> ClickResult:
            our_id = tx.prepare_id if tx is not None else None
            state = tx.state.value if tx is not None else None
            body = reply(fields, Action.PREPARE, code, our_id=our_id, note=note)
            reason = tx.reason if tx is not None else note
            return ClickResult(body, "prepare", state, reason, account=kind)

        for _ in range(RACE_ROUNDS):
            tx, bound, account = self._read(request)
            kind = None if account is None else account.kind.value
            if account is None:
                return answer(ShopError.USER_DOES_NOT_EXIST)
            if isinstance(account, InvoiceAccount):
                if account.status == "paid":
                    return answer(ShopError.ALREADY_PAID, bound)
                if account.status != "open":
                    return answer(ShopError.TRANSACTION_CANCELLED, bound)
                if amount != account.unpaid:
                    return answer(ShopError.INCORRECT_AMOUNT, bound)
            elif not self.apartment_limits.allows_topup(amount):  # the limits Payme keeps too
                return answer(ShopError.INCORRECT_AMOUNT, bound)
            if request.click_error < 0:
                return answer(ShopError.TRANSACTION_CANCELLED, bound)

            if tx is not None:  # a repeated Prepare: answer from the attempt, never create a second one
                if bound is None:
                    return answer(ShopError.TRANSACTION_DOES_NOT_EXIST)
                if tx.amount != amount:
                    return answer(ShopError.INCORRECT_AMOUNT, tx)
                if tx.state in CONFIRMED_STATES:
                    return answer(ShopError.ALREADY_PAID, tx)
                if tx.state is TxState.CANCELLED:
                    return answer(ShopError.TRANSACTION_CANCELLED, tx)
                if _superseded(tx, account):
                    try:
                        self.repository.cancel(tx, SUPERSEDED, None, self.clock())
                    except StateChanged:
                        continue
                    return answer(ShopError.TRANSACTION_CANCELLED, _with(tx, TxState.CANCELLED, SUPERSEDED))
                return answer(ShopError.SUCCESS, tx)

            if isinstance(account, InvoiceAccount) and _held_by_other_provider(account, self.clock()):
                return answer(ShopError.FAILED_TO_UPDATE_USER, note=IN_PROGRESS_NOTE)
            now = self.clock()
            new = ClickTx(
                click_trans_id=request.trans_id,
                click_paydoc_id=request.click_paydoc_id,
                merchant_trans_id=request.merchant_trans_id,
                account=account.kind,
                amount=amount,
                prepare_id=self.repository.next_prepare_id(),
                state=TxState.PREPARED,
                sign_time=request.sign_time,
                created_at=now,
            )
            try:
                self.repository.create(new, account, now, retire=_to_retire(account, new))
            except (
                StateChanged,
                InvoiceLocked,
                InvoiceAlreadyPaid,
                InvoiceCancelled,
                AmountMismatch,
                InvoiceNotFound,
            ):
                continue  # the attempt, the one to retire or the invoice moved: decide again
            return answer(ShopError.SUCCESS, new)
        raise StoreUnavailable("Prepare lost every race")

    # ------------------------------------------------------------------ complete
    def _complete(
        self, request: ClickRequest, fields: Mapping[str, str], attempt: _Round, *, answered: bool = False
    ) -> ClickResult:
        """answered: Click was already told 0 for this debit (redo of a queued Complete)."""
        prepare_id = int(request.merchant_prepare_id or "0")

        kind: str | None = None  # the account of the latest read, for the audit trail

        def answer(code: ShopError, tx: ClickTx | None = None, **extra: Any) -> ClickResult:
            our_id = tx.prepare_id if tx is not None else None
            state = tx.state.value if tx is not None else None
            reason = tx.reason if tx is not None else None
            body = reply(fields, Action.COMPLETE, code, our_id=our_id)
            return ClickResult(body, "complete", state, reason, account=kind, **extra)

        for _ in range(RACE_ROUNDS):
            found, account = self._read_completed(request, prepare_id)
            kind = None if account is None else account.kind.value
            if account is None:
                return answer(ShopError.USER_DOES_NOT_EXIST)
            if found is None:
                return answer(ShopError.TRANSACTION_DOES_NOT_EXIST)
            tx = found
            # A Complete under another click_trans_id must match the attempt's amount to be its Complete.
            other_id = request.trans_id if request.trans_id != tx.click_trans_id else None
            if other_id is not None and request.tiyin != tx.amount:
                return answer(ShopError.INCORRECT_AMOUNT, tx)

            if tx.state in CONFIRMED_STATES:
                if tx.confirm_token == attempt.token:  # our own write landed although its reply was lost
                    if tx.state is TxState.CONFIRMED_UNPOSTED:
                        return self._reverse(request, tx, tx.reason or "", answer)
                    return answer(ShopError.SUCCESS, tx)
                if request.click_error == 0:
                    return answer(ShopError.ALREADY_PAID, tx)
                # Click cancelling what we delivered: answered, never reversed here.
                return answer(self.cancel_after_confirm, tx)
            if tx.state is TxState.CANCELLED and not answered:
                return answer(ShopError.TRANSACTION_CANCELLED, tx)

            superseded = _superseded(tx, account)
            if answered and (tx.state is TxState.CANCELLED or superseded or request.tiyin != tx.amount):
                # Click was told 0 for this debit: what a live Complete would cancel (-9) or refuse (-2)
                # is refunded instead, through the reversal queue.
                settled = self._unposted(
                    request, tx, _refused_after_answer(tx, superseded), attempt, other_id, answer
                )
                if settled is None:
                    continue
                return settled
            if superseded or request.click_error < 0:
                reason = SUPERSEDED if superseded else f"click error {request.click_error}"
                click_error = request.click_error if request.click_error < 0 else None
                try:
                    self.repository.cancel(tx, reason, click_error, self.clock(), other_id)
                except StateChanged:
                    continue
                return answer(ShopError.TRANSACTION_CANCELLED, _with(tx, TxState.CANCELLED, reason))
            if request.tiyin != tx.amount:
                return answer(ShopError.INCORRECT_AMOUNT, tx)

            # Click has debited the payer: from here on the answer is success.
            # A lost race or a lost reply (StateChanged, StoreUnavailable) is decided again from a fresh read.
            try:
                self.repository.confirm(tx, self.clock(), attempt.token, other_id, account=account)
            except (StateChanged, InvoiceLocked):
                continue  # our state moved, or the reservation went to a newer attempt: read again
            except (
                AmountMismatch,
                InvoiceAlreadyPaid,
                InvoiceCancelled,
                InvoiceNotFound,
                ApartmentNotFound,
            ) as no:
                settled = self._unposted(request, tx, _unpostable(no), attempt, other_id, answer)
                if settled is None:
                    continue
                return settled
            return answer(ShopError.SUCCESS, _with(tx, TxState.CONFIRMED, None))
        raise StoreUnavailable("Complete lost every race")

    def _unposted(
        self,
        request: ClickRequest,
        tx: ClickTx,
        reason: str,
        attempt: _Round,
        other_id: str | None,
        answer: Callable[..., ClickResult],
    ) -> ClickResult | None:
        """A debit we will not post: the attempt marked unposted (from the state we read), its reversal
        queued. None: the attempt moved meanwhile; decide again."""
        try:
            self.repository.mark_unposted(
                tx, reason, request.click_paydoc_id, self.clock(), attempt.token, other_id, was=tx.state
            )
        except StateChanged:
            return None
        return self._reverse(request, tx, reason, answer)

    def _reverse(
        self,
        request: ClickRequest,
        tx: ClickTx,
        reason: str,
        answer: Callable[..., ClickResult],
    ) -> ClickResult:
        reversal = ReversalRequest(
            click_trans_id=tx.click_trans_id,
            click_paydoc_id=request.click_paydoc_id,
            merchant_trans_id=tx.merchant_trans_id,
            amount=tx.amount,
            reason=reason,
        )
        unposted = _with(tx, TxState.CONFIRMED_UNPOSTED, reason)
        try:
            self.reversals.enqueue(reversal)
        except Exception as error:  # the reply stays success whatever the queue does; the row records it
            return answer(ShopError.SUCCESS, unposted, reversal=reversal, reversal_error=type(error).__name__)
        return answer(ShopError.SUCCESS, unposted, reversal=reversal, reversal_queued=True)


def _claimed_action(fields: Mapping[str, str]) -> Action | None:
    raw = fields.get("action")
    return {"0": Action.PREPARE, "1": Action.COMPLETE}.get(raw) if isinstance(raw, str) else None


def _superseded(tx: ClickTx, account: Account) -> bool:
    """A prepared invoice attempt that no longer holds the invoice's reservation has been replaced."""
    return isinstance(account, InvoiceAccount) and account.holder != tx.payment_key


def _held_by_other_provider(account: InvoiceAccount, now: int) -> bool:
    """Another provider's live attempt; a stale one (see reservations) the ledger lets us take over."""
    holder = account.holder
    return (
        holder is not None
        and PaymentKey.provider_of(holder) != PROVIDER
        and not reservation_stale(holder, account.holder_since, now)
    )


def _to_retire(account: Account, new: ClickTx) -> str | None:
    """The newest attempt wins: the Click attempt holding the invoice is retired in the same write, so a
    prepared invoice attempt holds its reservation unless it has been superseded. Only the holder we
    read: one that took the invoice since fails the write's condition, and we read again."""
    if not isinstance(account, InvoiceAccount) or account.holder is None:
        return None
    holder = account.holder
    return holder if PaymentKey.provider_of(holder) == PROVIDER and holder != new.payment_key else None


def _refused_after_answer(tx: ClickTx, superseded: bool) -> str:
    """Why a Complete Click was told 0 for is refunded rather than posted."""
    if tx.state is TxState.CANCELLED:
        return f"cancelled before the queued Complete was settled ({tx.reason or 'cancelled'})"
    if superseded:
        return SUPERSEDED
    return "amount differs from the Prepare's"


def _unpostable(refusal: Exception) -> str:
    """Why the ledger refuses a debited payment for good: recorded, and the debit reversed."""
    if isinstance(refusal, AmountMismatch):
        return f"amount no longer matches the invoice (unpaid {refusal.expected})"
    if isinstance(refusal, InvoiceAlreadyPaid):
        return "invoice already paid"
    if isinstance(refusal, InvoiceCancelled):
        return "invoice cancelled"
    return "account not found"


def _with(tx: ClickTx, state: TxState, reason: str | None) -> ClickTx:
    return tx._replace(state=state, reason=reason)
