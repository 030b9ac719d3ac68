"""What enrolment, the schedule and the charger need from storage, in autopay's own words.

Every change is one conditional step that happens completely or raises StateChanged (TransactionExists
for a new autopay whose apartment and provider already have an active one), as on every payment path:
the core then reads again and decides from what is stored. dynamo.py implements it over AutopayTable.
"""

from collections.abc import Iterator
from enum import StrEnum
from typing import Any, NamedTuple, Protocol


class Outcome(StrEnum):
    """An attempt's outcome, as GET /autopay/{id} shows it."""

    PAID = "paid"
    DECLINED = "declined"  # Payme refused the card: funds, or a card that cannot be charged
    FAILED = "failed"  # the attempt failed on a system (Payme's or ours); retried
    IN_FLIGHT = "in_flight"  # a receipt whose outcome is not known yet
    SKIPPED = "skipped"  # below the apartment top-up minimum: not charged, carried to the next run


ACTIVE = "active"
INACTIVE = "inactive"
OPEN, PAID, CLOSED = "open", "paid", "closed"  # a period's status
# Its receipt's phase: pending (may still be paid), or refused (Payme refused to pay it, by a decline or a
# definite failure: never paid again; cancelled before the period gets another).
PENDING, REFUSED = "pending", "refused"


class Autopay(NamedTuple):
    autopay_id: str
    apartment_id: str
    provider: str
    card_number: str
    card_expire: str
    sealed_token: bytes
    day_of_month: int
    max_amount: int
    status: str
    created_at: int
    inactive_reason: str | None = None
    due_date: str | None = None  # YYYY-MM-DD of the next run that charges it; None when inactive
    due_period: str | None = None
    card_removed_at: int | None = None
    pending_event: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


class Due(NamedTuple):
    """Where an autopay's due date moves once a period's outcome is known."""

    date: str
    period: str


class PeriodCharge(NamedTuple):
    autopay_id: str
    period: str
    status: str  # open | paid | closed
    receipt_id: str | None = None
    receipt_at: int | None = None
    amount: int | None = None
    phase: str | None = None  # pending | refused
    declines: int = 0
    decided_run: str | None = None  # the latest run date whose outcome is recorded
    next_due: Due | None = None
    lease_owner: str | None = None
    lease_until: int | None = None


class Attempt(NamedTuple):
    period: str
    receipt_id: str | None
    amount: int
    outcome: Outcome
    error_code: int | None
    at: int


class Deactivation(NamedTuple):
    reason: str
    event: dict[str, Any] | None = None  # autopay.failed's facts, on the autopay row (the outbox)


class AutopayStore(Protocol):
    # ------------------------------------------------------------------ autopays
    def create(self, autopay: Autopay, shard: str) -> None:
        """Raises TransactionExists (with the holder's id as its argument) when the apartment and provider
        have an active autopay, StateChanged when that one went away in the meantime (try again)."""
        ...

    def get(self, autopay_id: str) -> Autopay | None: ...

    def active_holder(self, apartment_id: str, provider: str) -> str | None: ...

    def of_apartment(self, apartment_id: str) -> list[Autopay]:
        """Newest first."""
        ...

    def attempts(self, autopay_id: str, limit: int) -> list[Attempt]:
        """Newest first."""
        ...

    def deactivate(self, autopay_id: str, deactivation: Deactivation, now: int) -> None:
        """active -> inactive, out of the due index, the active key released. StateChanged if not active."""
        ...

    def card_removed(self, autopay_id: str, now: int) -> None: ...

    def advance(self, autopay_id: str, period: str, due: Due, shard: str) -> bool:
        """Move the due date of an active autopay still due for `period` forward to `due`; False when it
        is not (inactive, or moved already)."""
        ...

    def due(self, shard: str, run_date: str) -> Iterator[tuple[str, str]]:
        """(autopay id, period) of every autopay of the shard due on or before run_date."""
        ...

    # ------------------------------------------------------------------ periods
    def period(self, autopay_id: str, period: str) -> PeriodCharge | None: ...

    def take_lease(self, autopay_id: str, period: str, owner: str, now: int, until: int) -> PeriodCharge:
        """Only one charger works on a period at a time: the period's charge as it stands, opened if new,
        leased to owner until `until`. StateChanged while another holds a live lease (or the period is no
        longer open)."""
        ...

    def release_lease(self, autopay_id: str, period: str, owner: str) -> None: ...

    def attach_receipt(self, autopay_id: str, period: str, receipt_id: str, amount: int, at: int) -> None:
        """Store the receipt on the period (before receipts.pay) with its attempt, in_flight. StateChanged
        when the period already holds one or is not open."""
        ...

    def note(
        self,
        charge: PeriodCharge,
        outcome: Outcome,
        error_code: int | None,
        now: int,
        *,
        refused: bool = False,
    ) -> None:
        """Update the outcome shown for the period's current (pending) receipt: in_flight, failed; with
        refused, the receipt is also never to be paid again (a definite failure). StateChanged otherwise."""
        ...

    def paid(self, charge: PeriodCharge, amount: int, next_due: Due, now: int) -> None:
        """open -> paid for the receipt it holds, its attempt paid. StateChanged otherwise."""
        ...

    def declined(
        self,
        charge: PeriodCharge,
        error_code: int | None,
        run_date: str,
        *,
        next_due: Due | None,
        now: int,
        deactivation: Deactivation | None = None,
    ) -> None:
        """Record a decline of the held receipt for this run (one more insufficient-funds run when
        next_due is on the same period). next_due None closes the period for good; with a deactivation
        the autopay is deactivated in the same step. StateChanged when the receipt is no longer pending
        (or, with a deactivation, the autopay no longer active)."""
        ...

    def clear_receipt(self, charge: PeriodCharge) -> None:
        """Forget a receipt that is cancelled (state 50). StateChanged if another is held."""
        ...

    def skipped(self, charge: PeriodCharge, amount: int, run_date: str, next_due: Due, now: int) -> None:
        """This run decided not to charge (amount 0 or below the minimum; 0 records no attempt).
        StateChanged when the run's outcome is recorded already or a receipt is held."""
        ...

    def failed(self, autopay_id: str, period: str, amount: int, error_code: int | None, now: int) -> None:
        """An attempt that failed before a receipt existed (receipts.create refused or unanswered)."""
        ...
