"""A Payme transaction as the protocol sees it: states, reasons, the 12-hour timeout, statement days."""

import datetime as dt
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

CREATED = 1
PERFORMED = 2
CANCELLED = -1  # cancelled before perform
CANCELLED_AFTER_PERFORM = -2  # refunded

REASON_TIMEOUT = 4

# Payme cancels a transaction 12 h after creating it. We count from Payme's own `time`: that is the
# instant Payme's clock runs from, so we never perform a transaction Payme already considers dead
# (our create_time is always later, and would stretch the window by the delivery delay).
TIMEOUT_MS = 43_200_000

AccountKind = Literal["invoice", "apartment"]
FiscalType = Literal["PERFORM", "CANCEL"]

_DAY_MS = 86_400_000


class _TransactionFields(NamedTuple):
    id: str  # Payme's id
    time: int  # Payme's creation time, ms
    amount: int  # tiyin
    account: dict[str, Any]  # as Payme sent it
    kind: AccountKind
    target: str  # the invoice id or apartment id the account resolved to
    create_time: int
    transaction: str  # our id for it, a string as Payme requires
    # The defaults are Transaction.__new__'s.
    state: int
    perform_time: int
    cancel_time: int
    reason: int | None
    fiscal: dict[str, dict[str, Any]]


class Transaction(_TransactionFields):
    # A subclass because a NamedTuple cannot override __new__, and only __new__ can give every
    # transaction its own fiscal dict rather than one shared default.
    __slots__ = ()

    def __new__(
        cls,
        id: str,
        time: int,
        amount: int,
        account: dict[str, Any],
        kind: AccountKind,
        target: str,
        create_time: int,
        transaction: str,
        state: int = CREATED,
        perform_time: int = 0,
        cancel_time: int = 0,
        reason: int | None = None,
        fiscal: dict[str, dict[str, Any]] | None = None,
    ) -> "Transaction":
        return super().__new__(
            cls,
            id,
            time,
            amount,
            account,
            kind,
            target,
            create_time,
            transaction,
            state,
            perform_time,
            cancel_time,
            reason,
            {} if fiscal is None else fiscal,
        )

    def expired(self, now: int) -> bool:
        return now - self.time > TIMEOUT_MS

    def statement_entry(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "amount": self.amount,
            "account": self.account,
            "create_time": self.create_time,
            "perform_time": self.perform_time,
            "cancel_time": self.cancel_time,
            "transaction": self.transaction,
            "state": self.state,
            "reason": self.reason,
            "receivers": None,
        }


def day_of(time_ms: int) -> str:
    """UTC calendar day of a Payme timestamp, the hash key of the by_day index."""
    return dt.datetime.fromtimestamp(time_ms // 1000, dt.UTC).strftime("%Y-%m-%d")


def day_key(time_ms: int) -> str:
    return f"payme#{day_of(time_ms)}"


def days_between(start_ms: int, end_ms: int) -> Iterator[str]:
    """Every day_key from the day of start_ms to the day of end_ms, both included, ascending."""
    day = start_ms - start_ms % _DAY_MS
    while day <= end_ms:
        yield day_key(day)
        day += _DAY_MS


def day_count(start_ms: int, end_ms: int) -> int:
    if end_ms < start_ms:
        return 0
    return (end_ms // _DAY_MS) - (start_ms // _DAY_MS) + 1
