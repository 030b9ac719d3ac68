"""What the SHOP-API core needs from storage and the reversal queue, in the domain's words.

The core (shop.py) decides; an implementation of ClickRepository (store.py: DynamoDB through the
billing ledger) makes each state change a single conditional write or transaction and reports a lost
race by returning False, so that the core reads again and decides from what is now true.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from tolov.money import tiyin_to_sum_str

PROVIDER = "click"


class TxState(StrEnum):
    PREPARED = "prepared"  # reserved; Click may now debit the payer
    CONFIRMED = "confirmed"  # posted to the ledger
    CONFIRMED_UNPOSTED = "confirmed_unposted"  # Click debited, the ledger refused: a reversal is queued
    REVERSED = "reversed"  # the unposted payment was refunded through the Merchant API
    CANCELLED = "cancelled"  # Click cancelled it, or a newer attempt for the same invoice superseded it


CONFIRMED_STATES = frozenset({TxState.CONFIRMED, TxState.CONFIRMED_UNPOSTED, TxState.REVERSED})


class AccountKind(StrEnum):
    INVOICE = "invoice"  # one-time: exactly the unpaid amount, reserved at Prepare
    APARTMENT = "apartment"  # accumulative: any positive amount, allocated by the ledger


@dataclass(frozen=True)
class InvoiceAccount:
    invoice_id: str
    status: str  # open | paid | cancelled
    unpaid: int  # tiyin
    holder: str | None  # payment key of the attempt that reserves the invoice
    holder_since: int | None = None  # ms, when that attempt took the reservation

    kind: ClassVar[AccountKind] = AccountKind.INVOICE


@dataclass(frozen=True)
class ApartmentAccount:
    apartment_id: str

    kind: ClassVar[AccountKind] = AccountKind.APARTMENT


Account = InvoiceAccount | ApartmentAccount


def payment_key(click_trans_id: str) -> str:
    return f"{PROVIDER}#{click_trans_id}"


@dataclass(frozen=True)
class ClickTx:
    """One Click payment attempt (one click_trans_id), created by its Prepare."""

    click_trans_id: str
    click_paydoc_id: str
    merchant_trans_id: str
    account: AccountKind
    amount: int  # tiyin
    prepare_id: int
    state: TxState
    sign_time: str
    created_at: int
    reason: str | None = None
    # The token of the Complete request whose write confirmed the attempt (or marked it unposted): how that
    # request recognises its own write after a lost reply, and tells it from a concurrent duplicate's.
    confirm_token: str | None = None

    @property
    def payment_key(self) -> str:
        return payment_key(self.click_trans_id)


@dataclass(frozen=True)
class ReversalRequest:
    """A debited payment we could not post: refund it through the Merchant API. Never carries secrets."""

    click_trans_id: str
    click_paydoc_id: str
    merchant_trans_id: str
    amount: int  # tiyin
    reason: str

    def message(self) -> dict[str, Any]:
        return {
            "click_trans_id": self.click_trans_id,
            "click_paydoc_id": self.click_paydoc_id,
            "merchant_trans_id": self.merchant_trans_id,
            "amount": self.amount,
            "amount_sum": tiyin_to_sum_str(self.amount),
            "reason": self.reason,
        }

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> "ReversalRequest":
        amount = data["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount must be a positive int of tiyin")
        return cls(
            click_trans_id=str(data["click_trans_id"]),
            click_paydoc_id=str(data["click_paydoc_id"]),
            merchant_trans_id=str(data["merchant_trans_id"]),
            amount=amount,
            reason=str(data.get("reason", "")),
        )


class ClickRepository(Protocol):
    """Raises StoreUnavailable when the store cannot answer; False means "the state moved, read again"."""

    def get(self, click_trans_id: str) -> ClickTx | None: ...

    def find_by_prepare_id(self, prepare_id: int) -> ClickTx | None:
        """The attempt whose Prepare was answered with this merchant_prepare_id, read by key."""
        ...

    def find_account(self, merchant_trans_id: str, kind: AccountKind | None = None) -> Account | None:
        """The invoice with this id, else the apartment (or only the given kind)."""
        ...

    def next_prepare_id(self) -> int: ...

    def create(self, tx: ClickTx, account: Account, now: int) -> bool:
        """Store a new prepared attempt and what finds it by prepare id; for an invoice, reserve it in the
        same write and retire the Click attempt that held it (account.holder). False if the attempt, its
        prepare id or the invoice moved."""
        ...

    # complete_trans_id: the click_trans_id of a Complete that came under another id than the attempt's
    # own, recorded on the attempt; the posting stays keyed by the attempt's.

    def confirm(self, tx: ClickTx, now: int, token: str, complete_trans_id: str | None = None) -> bool:
        """prepared -> confirmed, recording `token`, together with the ledger posting. Raises Unpostable.
        False also when the posting exists already: read again (the token says whose it was)."""
        ...

    def cancel(
        self,
        tx: ClickTx,
        reason: str,
        click_error: int | None,
        now: int,
        complete_trans_id: str | None = None,
    ) -> bool:
        """prepared -> cancelled, dropping the invoice reservation if the attempt still holds it."""
        ...

    def mark_unposted(
        self,
        tx: ClickTx,
        reason: str,
        click_paydoc_id: str,
        now: int,
        token: str,
        complete_trans_id: str | None = None,
    ) -> bool:
        """prepared -> confirmed_unposted, recording `token`, dropping the reservation: the debit is to be
        reversed."""
        ...


class ReversalQueue(Protocol):
    def enqueue(self, request: ReversalRequest) -> None: ...
