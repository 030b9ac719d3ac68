"""Charging one autopay for one period: at most one paid receipt, whatever crashes or redeliveries happen.

The period's charge is a small state machine in AutopayTable. Its receipt id is stored before
receipts.pay; from then on every delivery (after an unknown outcome of pay too: a time-out, HTTP 5xx, -32400,
a crash) resolves that receipt by receipts.check and never creates another while it may still be paid:

    state 0            pay that same receipt; one Payme refused before (a decline, or a failure that was
                       certain, not an unknown outcome) is cancelled instead
    1 2 3 6 20 21 30   in flight: TryLater, the queue delivers the message again after a backoff
    5                  held: autopay never holds, so never done either: TryLater, then the DLQ
    4                  paid: posted to the apartment's ledger under PaymentKey("payme", receipt id), the key
                       Payme's PerformTransaction for that receipt uses, so whichever path comes first posts
    50                 cancelled: only now may the period get a new receipt

One charger works on a period at a time (a lease on the period, longer than the charger's timeout); the
conditional writes of the adapter keep the rest exactly once. Declines are handled by their kind
(tolov.autopay.declines). Nothing here logs a card token.
"""

import contextlib
import secrets
from collections.abc import Callable
from enum import StrEnum

from tolov.autopay.declines import Decline, card_problem, classify
from tolov.autopay.fiscal import receipt_detail
from tolov.autopay.repository import (
    OPEN,
    PAID,
    PENDING,
    REFUSED,
    Autopay,
    AutopayStore,
    Deactivation,
    Due,
    Outcome,
    PeriodCharge,
)
from tolov.autopay.schedule import ChargeRequest, next_cycle, next_run, shard_of
from tolov.autopay.subscribe import Subscribe
from tolov.autopay.vault import Vault
from tolov.billing.errors import LedgerContention, StateChanged
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.clock import Clock, now_ms
from tolov.payme.subscribe_api import IN_FLIGHT_STATES, ReceiptState, SubscribeError
from tolov.settings import ApartmentLimits, AutopaySettings, PaymeSettings
from tolov.store.engine import StoreUnavailable

PROVIDER = "payme"
CARD_DECLINED = "card_declined"  # inactive_reason after a card that cannot be charged
# Written with the deactivation (Deactivation.event); EventPublisherFunction emits it off AutopayTable's
# stream (tolov.events), so the failure and its event cannot part.
AUTOPAY_FAILED = "autopay.failed"


class ChargeOutcome(StrEnum):
    PAID = "paid"
    DECLINED = "declined"  # insufficient funds: the next run tries again
    GAVE_UP = "gave_up"  # insufficient funds on the last retry: given up for the period
    CARD_FAILED = "card_failed"  # the card cannot be charged: autopay deactivated, autopay.failed emitted
    SKIPPED = "skipped"  # a debt below the top-up minimum: not charged, carried to the next run
    NOTHING_DUE = "nothing_due"
    SETTLED = "settled"  # this period, or this run of it, was decided already: a repeated message
    INACTIVE = "inactive"


class TryLater(Exception):
    """Nothing is decided: the message is to be delivered again after a backoff (then the DLQ).
    kind: in_flight | unknown_outcome | unavailable | our_side | unexpected | busy | ledger_busy."""

    def __init__(self, kind: str, code: int | None = None) -> None:
        super().__init__(kind if code is None else f"{kind} ({code})")
        self.kind = kind
        self.code = code


def _later(error: SubscribeError) -> TryLater:
    kind = classify(error)
    if kind in (Decline.UNKNOWN_OUTCOME, Decline.UNAVAILABLE, Decline.OUR_SIDE):
        return TryLater(kind.value, error.code)
    return TryLater(Decline.UNEXPECTED.value, error.code)


class Charger:
    def __init__(
        self,
        store: AutopayStore,
        subscribe: Subscribe,
        vault: Vault,
        ledger: Ledger,
        payme: PaymeSettings,
        limits: ApartmentLimits,
        autopay: AutopaySettings,
        *,
        clock: Clock = now_ms,
        lease_owner: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        if not payme.apartment_field:
            raise RuntimeError("PAYME_APARTMENT_FIELD is empty: autopay charges apartment accounts")
        self.store = store
        self.subscribe = subscribe
        self.vault = vault
        self.ledger = ledger
        self.payme = payme
        self.limits = limits
        self.settings = autopay
        self.clock = clock
        self.lease_owner = lease_owner

    # ------------------------------------------------------------------ entry
    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        autopay = self.store.get(request.autopay_id)
        if autopay is None:
            return ChargeOutcome.INACTIVE
        if not autopay.active:
            return ChargeOutcome.INACTIVE
        if not self._due(autopay, request):
            # A message of a period or run the autopay has moved past (or not reached): only a period
            # that exists and is not decided may have work left (a receipt still to resolve).
            existing = self.store.period(autopay.autopay_id, request.period)
            if existing is None or self._settled(existing, request):
                if existing is not None:
                    self._advance_recorded(autopay, existing)
                return ChargeOutcome.SETTLED
        owner, now = self.lease_owner(), self.clock()
        try:
            charge = self.store.take_lease(
                autopay.autopay_id, request.period, owner, now, now + self.settings.lease_ms
            )
        except StateChanged:
            decided = self.store.period(autopay.autopay_id, request.period)
            if decided is not None and decided.status != OPEN:
                self._advance_recorded(autopay, decided)
                return ChargeOutcome.SETTLED
            raise TryLater("busy") from None  # another charger has this period now
        try:
            return self._charge(autopay, charge, request)
        finally:
            with contextlib.suppress(StoreUnavailable):  # an unreleased lease expires on its own
                self.store.release_lease(autopay.autopay_id, request.period, owner)

    def _charge(self, autopay: Autopay, charge: PeriodCharge, request: ChargeRequest) -> ChargeOutcome:
        if charge.receipt_id is not None:
            outcome = self._resolve(autopay, charge, request)
            if outcome is not None:
                return outcome
            charge = self._period(autopay, request.period)  # its receipt is cancelled: a new one may come
        if self._settled(charge, request):
            self._advance_recorded(autopay, charge)
            return ChargeOutcome.SETTLED
        return self._new_receipt(autopay, charge, request)

    # ------------------------------------------------------------------ the stored receipt
    def _resolve(
        self, autopay: Autopay, charge: PeriodCharge, request: ChargeRequest
    ) -> ChargeOutcome | None:
        """What the stored receipt's state says; None when it is cancelled (a new one may be created)."""
        receipt_id = charge.receipt_id or ""
        try:
            state = self.subscribe.receipts_check(receipt_id)
            # The amount the receipt was created for is stored with its id; Payme's word only if it is not.
            amount = charge.amount
            if state == ReceiptState.PAID and amount is None:
                amount = self.subscribe.receipts_get(receipt_id).amount
        except SubscribeError as error:
            raise _later(error) from None
        if state == ReceiptState.PAID and amount is not None:
            return self._paid(autopay, charge, amount)
        if state == ReceiptState.CANCELLED:
            self._forget(charge)
            return None
        if state in IN_FLIGHT_STATES:
            self._note(charge, Outcome.IN_FLIGHT, None)
            raise TryLater("in_flight")
        if state != ReceiptState.CREATED:
            raise TryLater("unexpected")  # 5 (held): autopay never holds a payment
        if charge.phase == REFUSED:
            # Refused before (declined, or failed for certain): never paid again, cancelled before a new one.
            if self._cancel(receipt_id):
                self._forget(charge)
                return None
            raise TryLater("in_flight")
        return self._pay(autopay, charge, request)

    def _pay(self, autopay: Autopay, charge: PeriodCharge, request: ChargeRequest) -> ChargeOutcome:
        token = self.vault.open(autopay.sealed_token, autopay.autopay_id)
        try:
            receipt = self.subscribe.receipts_pay(charge.receipt_id or "", token)
        except SubscribeError as error:
            return self._refused(autopay, charge, request, error, token)
        if receipt.state == ReceiptState.PAID:
            return self._paid(autopay, charge, receipt.amount)
        self._note(charge, Outcome.IN_FLIGHT, None)
        raise TryLater("in_flight")

    def _refused(
        self,
        autopay: Autopay,
        charge: PeriodCharge,
        request: ChargeRequest,
        error: SubscribeError,
        token: str,
    ) -> ChargeOutcome:
        kind = classify(error)
        if kind is Decline.FUNDS_OR_CARD:
            kind = self._funds_or_card(token)
        if kind is Decline.INSUFFICIENT_FUNDS:
            return self._no_funds(autopay, charge, request, error.code)
        if kind is Decline.CARD_UNUSABLE:
            return self._card_failed(autopay, charge, request, error.code)
        if kind is Decline.UNKNOWN_OUTCOME:
            # It may be paid: the receipt stays, and the next delivery reads its state before anything.
            self._note(charge, Outcome.IN_FLIGHT, error.code)
        else:
            # Not paid, for certain, and not the card's fault. The receipt is not paid again (Payme may have
            # cancelled its Merchant API transaction, which would refuse it): a new one next time.
            self._note(charge, Outcome.FAILED, error.code, refused=True)
        raise _later(error)

    def _funds_or_card(self, token: str) -> Decline:
        """-31630 is insufficient funds or a bad card: cards.check tells which."""
        try:
            card = self.subscribe.cards_check(token)
        except SubscribeError as error:
            if classify(error) is Decline.CARD_UNUSABLE:
                return Decline.CARD_UNUSABLE
            raise _later(error) from None
        return Decline.INSUFFICIENT_FUNDS if card_problem(card) is None else Decline.CARD_UNUSABLE

    # ------------------------------------------------------------------ a new receipt
    def _new_receipt(self, autopay: Autopay, charge: PeriodCharge, request: ChargeRequest) -> ChargeOutcome:
        payable = self.ledger.payable(autopay.apartment_id)
        amount = min(payable.debt, autopay.max_amount, self.limits.max_tiyin)
        if amount <= 0:
            self._skip(autopay, charge, 0, request, next_cycle(charge.period, autopay.day_of_month))
            return ChargeOutcome.NOTHING_DUE
        if amount < self.limits.min_tiyin:
            due = next_run(request.run_date, charge.period, autopay.day_of_month)
            self._skip(autopay, charge, amount, request, due)
            return ChargeOutcome.SKIPPED
        now = self.clock()
        try:
            receipt = self.subscribe.receipts_create(
                amount,
                {self.payme.apartment_field: autopay.apartment_id},
                description=f"{self.payme.topup_title} ({charge.period})",
                detail=receipt_detail(payable, amount, self.payme),
            )
        except SubscribeError as error:
            # No receipt id is known, so none is stored: one created unseen is never paid.
            self.store.failed(autopay.autopay_id, charge.period, amount, error.code, now)
            raise _later(error) from None
        try:
            self.store.attach_receipt(autopay.autopay_id, charge.period, receipt.id, amount, now)
        except StateChanged:
            self._cancel(receipt.id)  # another charger got the period first: ours is never paid
            raise TryLater("busy") from None
        attached = charge._replace(receipt_id=receipt.id, receipt_at=now, amount=amount, phase=PENDING)
        return self._pay(autopay, attached, request)

    # ------------------------------------------------------------------ outcomes
    def _paid(self, autopay: Autopay, charge: PeriodCharge, amount: int) -> ChargeOutcome:
        key = PaymentKey(PROVIDER, charge.receipt_id or "")
        try:
            # created=False: the Merchant API's PerformTransaction (or an earlier delivery) posted it.
            self.ledger.post_to_apartment(key, autopay.apartment_id, amount)
        except LedgerContention:
            raise TryLater("ledger_busy") from None
        due = next_cycle(charge.period, autopay.day_of_month)
        try:
            self.store.paid(charge, amount, due, self.clock())
        except StateChanged:
            current = self.store.period(autopay.autopay_id, charge.period)
            if current is None or current.status != PAID:
                raise TryLater("busy") from None
        self._advance(autopay, charge.period, due)
        return ChargeOutcome.PAID

    def _no_funds(
        self, autopay: Autopay, charge: PeriodCharge, request: ChargeRequest, code: int | None
    ) -> ChargeOutcome:
        give_up = charge.declines + 1 > self.settings.retry_days
        cycle = next_cycle(charge.period, autopay.day_of_month)
        due = cycle if give_up else next_run(request.run_date, charge.period, autopay.day_of_month)
        try:
            self.store.declined(charge, code, request.run_date.isoformat(), next_due=due, now=self.clock())
        except StateChanged:
            raise TryLater("busy") from None
        if self._cancel(charge.receipt_id or ""):
            with contextlib.suppress(TryLater):  # left to the next run, which cancels it first
                self._forget(charge)
        self._advance(autopay, charge.period, due)
        return ChargeOutcome.DECLINED if due.period == charge.period else ChargeOutcome.GAVE_UP

    def _card_failed(
        self, autopay: Autopay, charge: PeriodCharge, request: ChargeRequest, code: int | None
    ) -> ChargeOutcome:
        now, run = self.clock(), request.run_date.isoformat()
        event = {
            "event_id": f"{AUTOPAY_FAILED}:{autopay.autopay_id}:{charge.period}:{charge.receipt_id}",
            "autopay_id": autopay.autopay_id,
            "apartment_id": autopay.apartment_id,
            "provider": autopay.provider,
            "period": charge.period,
            "receipt_id": charge.receipt_id,
            "amount": charge.amount or 0,
            "reason": CARD_DECLINED,
            "error_code": code,
            "at": now,
        }
        try:
            self.store.declined(
                charge, code, run, next_due=None, now=now, deactivation=Deactivation(CARD_DECLINED, event)
            )
        except StateChanged:
            current = self.store.get(autopay.autopay_id)
            if current is None or current.active:
                raise TryLater("busy") from None
            # Cancelled by its resident meanwhile: the decline is still this period's outcome.
            with contextlib.suppress(StateChanged):
                self.store.declined(charge, code, run, next_due=None, now=now)
        if self._cancel(charge.receipt_id or ""):
            with contextlib.suppress(TryLater):
                self._forget(charge)
        return ChargeOutcome.CARD_FAILED

    def _skip(
        self, autopay: Autopay, charge: PeriodCharge, amount: int, request: ChargeRequest, due: Due
    ) -> None:
        with contextlib.suppress(StateChanged):  # this run's decision is recorded already
            self.store.skipped(charge, amount, request.run_date.isoformat(), due, self.clock())
        self._advance(autopay, charge.period, due)

    # ------------------------------------------------------------------ helpers
    def _period(self, autopay: Autopay, period: str) -> PeriodCharge:
        charge = self.store.period(autopay.autopay_id, period)
        if charge is None:
            raise TryLater("busy")
        return charge

    @staticmethod
    def _settled(charge: PeriodCharge, request: ChargeRequest) -> bool:
        """The period is decided, or this run (or a later one) is recorded and no receipt waits."""
        if charge.status != OPEN:
            return True
        decided = charge.decided_run
        return charge.receipt_id is None and decided is not None and request.run_date.isoformat() <= decided

    @staticmethod
    def _due(autopay: Autopay, request: ChargeRequest) -> bool:
        return (
            autopay.due_period == request.period and (autopay.due_date or "") <= request.run_date.isoformat()
        )

    def _advance(self, autopay: Autopay, period: str, due: Due) -> None:
        self.store.advance(
            autopay.autopay_id, period, due, shard_of(autopay.autopay_id, self.settings.shards)
        )

    def _advance_recorded(self, autopay: Autopay, charge: PeriodCharge) -> None:
        """Finish what a delivery that crashed after recording the outcome did not: move the due date."""
        if charge.next_due is not None:
            self._advance(autopay, charge.period, charge.next_due)

    def _note(
        self, charge: PeriodCharge, outcome: Outcome, code: int | None, *, refused: bool = False
    ) -> None:
        with contextlib.suppress(StateChanged):
            self.store.note(charge, outcome, code, self.clock(), refused=refused)

    def _forget(self, charge: PeriodCharge) -> None:
        try:
            self.store.clear_receipt(charge)
        except StateChanged:
            raise TryLater("busy") from None

    def _cancel(self, receipt_id: str) -> bool:
        """Cancel an unpaid receipt; True once it is cancelled (50). Never cancels a paid one: Payme would
        refund it. A failure leaves it to the next run, which cancels it before creating another."""
        try:
            state = self.subscribe.receipts_check(receipt_id)
            if state == ReceiptState.CREATED:
                state = self.subscribe.receipts_cancel(receipt_id).state
        except SubscribeError:
            return False
        return state == ReceiptState.CANCELLED
