"""What the protocol core needs from storage and the ledger, in the protocol's own words.

Every state change is one atomic step that either happens completely or raises; the implementation
(dynamo.py) runs each as a single DynamoDB transaction together with the ledger's writes. A lost race
raises tolov.billing.errors.StateChanged (TransactionExists for a Create), as on every payment path.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from tolov.payme.transaction import FiscalType, Transaction


class InvoiceLine(NamedTuple):
    title: str
    unit_price: int  # tiyin
    count: int  # type: ignore[assignment]  # shadows tuple.count: the stored item's field is "count"
    ikpu: str
    package_code: str
    vat_percent: int
    prepaid: int  # tiyin of this line already paid (apartment credit applied when the invoice was issued)


class InvoiceView(NamedTuple):
    invoice_id: str
    status: str  # open | paid | cancelled
    amount: int
    unpaid: int
    holder: str | None  # payment key of the attempt reserving it, e.g. "payme#<id>"
    lines: Sequence[InvoiceLine]
    holder_since: int | None = None  # ms, when that attempt took the reservation


class ApartmentView(NamedTuple):
    apartment_id: str
    label: str
    debt: int | None  # tiyin; None when not asked for


class Repository(Protocol):
    def get(self, payme_id: str) -> Transaction | None: ...

    def get_many(self, payme_ids: list[str]) -> dict[str, Transaction]:
        """The stored ones among these transactions, by id, in one read."""
        ...

    def invoice(self, invoice_id: str) -> InvoiceView:
        """Raises tolov.billing.errors.InvoiceNotFound."""
        ...

    def apartment(self, apartment_id: str, *, with_debt: bool) -> ApartmentView:
        """Raises tolov.billing.errors.ApartmentNotFound."""
        ...

    def create(self, tx: Transaction) -> None:
        """Store a new state-1 transaction; an invoice is reserved for it in the same step.
        Raises TransactionExists, or the ledger's refusal (InvoiceLocked, AmountMismatch, ...)."""
        ...

    def perform(self, tx: Transaction, perform_time: int) -> None:
        """State 1 -> 2 together with the ledger posting. Raises StateChanged when the transaction is no
        longer in state 1, AlreadyPosted when its posting already exists, or the ledger's refusal."""
        ...

    def mark_performed(self, tx: Transaction, perform_time: int) -> None:
        """State 1 -> 2 alone, on condition that its payment is posted (and not reversed): for a
        Subscribe receipt the autopay charger posted first. Raises StateChanged otherwise."""
        ...

    def cancel(self, tx: Transaction, cancel_time: int, reason: int) -> None:
        """State 1 -> -1 releasing the invoice, or 2 -> -2 reversing the posting. Raises StateChanged."""
        ...

    def set_fiscal(self, payme_id: str, kind: FiscalType, data: dict[str, Any]) -> bool:
        """Store the fiscal receipt data of one kind; False when the transaction does not exist."""
        ...

    def statement(self, start: int, end: int) -> list[Transaction]:
        """Transactions with start <= time <= end, ascending by time."""
        ...
