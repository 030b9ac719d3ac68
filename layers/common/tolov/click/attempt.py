"""A Click payment attempt in the domain's words: its states, the account it pays, the reversal of a
debit we could not post."""

from enum import StrEnum
from typing import Any, ClassVar, NamedTuple

from tolov.billing.keys import PaymentKey
from tolov.frozen import Frozen
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


class InvoiceAccount(Frozen):
    # Frozen, not a NamedTuple: `read` is no part of the account's value, so neither equality nor the
    # repr sees it.
    _fields = ("invoice_id", "status", "unpaid", "holder", "holder_since", "read")
    __slots__ = _fields
    __match_args__ = ("invoice_id", "status", "unpaid", "holder", "holder_since", "read")
    _compared = ("invoice_id", "status", "unpaid", "holder", "holder_since")
    _shown = _compared

    invoice_id: str
    status: str  # open | paid | cancelled
    unpaid: int  # tiyin
    holder: str | None  # payment key of the attempt that reserves the invoice
    holder_since: int | None  # ms, when that attempt took the reservation
    # What the store read to make this account (opaque here), handed back with the write that the
    # decision on it leads to, so that write need not read the invoice again.
    read: Any

    kind: ClassVar[AccountKind] = AccountKind.INVOICE

    def __init__(
        self,
        invoice_id: str,
        status: str,
        unpaid: int,
        holder: str | None,
        holder_since: int | None = None,
        read: Any = None,
    ) -> None:
        self._init(
            invoice_id=invoice_id,
            status=status,
            unpaid=unpaid,
            holder=holder,
            holder_since=holder_since,
            read=read,
        )


class _ApartmentAccountFields(NamedTuple):
    apartment_id: str


class ApartmentAccount(_ApartmentAccountFields):
    # A subclass because a NamedTuple body cannot hold a ClassVar.
    __slots__ = ()

    kind: ClassVar[AccountKind] = AccountKind.APARTMENT


Account = InvoiceAccount | ApartmentAccount


def payment_key(click_trans_id: str) -> str:
    return str(PaymentKey(PROVIDER, click_trans_id))


class ClickTx(NamedTuple):
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


class ReversalRequest(NamedTuple):
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
