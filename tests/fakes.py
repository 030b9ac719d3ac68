"""In-memory stand-ins for the storage adapters, so protocol cores can be tested without moto.

FakeLedger holds what the billing tables hold (apartments, invoices with their charges and reservation,
postings) and keeps the ledger's rules; FakePaymeRepository (tolov.payme.repository.Repository) and
FakeClickRepository (tolov.click.repository.ClickRepository) keep their transactions on it, as the
DynamoDB adapters keep theirs in TransactionsTable beside the ledger's tables. FakeReversalQueue and
StaticKeyStore stand in for SQS and Secrets Manager.

The contract is the adapters' (tests/integration/test_repository_contract.py runs the same checks on both):
each state change is one step under one lock that checks, in the order the DynamoDB adapter's
conditions and the ledger's reads do, everything before it writes anything, as one TransactWrite
would. So a lost race raises StateChanged (TransactionExists for a new attempt's key), the ledger's
refusals come as the ledger raises them, one attempt at a time reserves an invoice, a payment key posts
once and reverses once. Not modelled: DynamoDB's own failures (throttling, lost replies, cancelled
transactions); the tests of those stay on moto.
"""

import copy
import itertools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tolov.billing.errors import (
    AmountMismatch,
    ApartmentNotFound,
    InvoiceAlreadyPaid,
    InvoiceBusy,
    InvoiceCancelled,
    InvoiceConflict,
    InvoiceLocked,
    InvoiceNotFound,
    PostingNotFound,
    StateChanged,
    TransactionExists,
)
from tolov.billing.invoices import CREDIT_PAYMENT_KEY, NewItem, charge_key, new_invoice_id
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import MAX_CHARGES_PER_POSTING, allocate
from tolov.billing.reservations import reservation_stale
from tolov.click.attempt import (
    Account,
    AccountKind,
    ApartmentAccount,
    ClickTx,
    InvoiceAccount,
    ReversalRequest,
    TxState,
)
from tolov.click.complete_queue import QueuedComplete
from tolov.clock import Clock, now_ms
from tolov.payme.repository import ApartmentView, InvoiceLine, InvoiceView
from tolov.payme.transaction import (
    CANCELLED,
    CANCELLED_AFTER_PERFORM,
    CREATED,
    PERFORMED,
    FiscalType,
    Transaction,
)

if TYPE_CHECKING:
    from tolov.payme.keys import KeyRing

# A write whose conditions have all been checked: applying it cannot fail.
Write = Callable[[], None]


def _nothing() -> None:
    pass


# ---------------------------------------------------------------------- the ledger's tables
@dataclass
class FakeApartment:
    apartment_id: str
    label: str
    resident_id: str
    credit: int = 0


@dataclass
class FakeCharge:
    apartment_id: str
    charge_key: str  # period#service: the order payments are allocated in
    invoice_id: str
    amount: int
    paid_amount: int = 0

    @property
    def unpaid(self) -> int:
        return self.amount - self.paid_amount


@dataclass
class FakeInvoice:
    invoice_id: str
    apartment_id: str
    period: str
    items: list[NewItem]
    amount: int
    paid_amount: int = 0
    status: str = "open"  # open | paid | cancelled
    active_payment: str | None = None  # the payment key reserving it
    active_payment_at: int | None = None
    payments: dict[str, int] = field(default_factory=dict)  # payment key -> tiyin it paid here

    def charge_keys(self) -> list[str]:
        return [charge_key(self.period, item.service) for item in self.items]


@dataclass
class FakeAllocation:
    charge_key: str
    invoice_id: str
    amount: int


@dataclass
class FakePosting:
    payment_key: str
    apartment_id: str
    invoice_id: str | None
    amount: int
    allocations: list[FakeAllocation]
    credit_added: int
    posted_at: int
    reversed_at: int | None = None
    reversal_reason: str | None = None


@dataclass(frozen=True)
class FakeBalance:
    apartment_id: str
    debt: int
    credit: int


class FakeLedger:
    """Apartments, invoices, charges, reservations and postings in memory, with tolov.billing's rules.

    The public methods mirror Billing (put_apartment, create_invoice, cancel_invoice, balance) and Ledger
    (invoice, apartment, posting, lock_invoice, release_invoice) for tests that seed and read; reads
    return copies. The adapters use the two-phase ones (reserve, release, post_*, reverse): they check
    and return the write, so the adapter can check its own conditions before anything is written."""

    def __init__(self, clock: Clock = now_ms) -> None:
        self.clock = clock
        self.lock = threading.RLock()  # the adapters on this ledger take it too: one step at a time
        self._apartments: dict[str, FakeApartment] = {}
        self._invoices: dict[str, FakeInvoice] = {}
        self._charges: dict[tuple[str, str], FakeCharge] = {}
        self._postings: dict[str, FakePosting] = {}

    # ------------------------------------------------------------------ Billing's side
    def put_apartment(self, apartment_id: str, label: str, resident_id: str) -> tuple[FakeApartment, bool]:
        with self.lock:
            existing = self._apartments.get(apartment_id)
            if existing is not None:
                existing.label, existing.resident_id = label, resident_id
                return copy.deepcopy(existing), False
            self._apartments[apartment_id] = FakeApartment(apartment_id, label, resident_id)
            return copy.deepcopy(self._apartments[apartment_id]), True

    def create_invoice(self, apartment_id: str, period: str, items: Sequence[NewItem]) -> FakeInvoice:
        """A new invoice; the apartment's credit pays its charges first, as Billing.put_invoice does.
        A service already billed for the period raises InvoiceConflict (a repeat is not recognised)."""
        with self.lock:
            apartment = self._apartment(apartment_id)
            keys = [charge_key(period, item.service) for item in items]
            taken = {i: items[i].service for i, k in enumerate(keys) if (apartment_id, k) in self._charges}
            if taken:
                holder = self._charges[(apartment_id, keys[min(taken)])].invoice_id
                raise InvoiceConflict(holder, period, taken)
            invoice_id = new_invoice_id()
            while invoice_id in self._invoices:
                invoice_id = new_invoice_id()
            charges = [
                FakeCharge(apartment_id, key, invoice_id, item.total)
                for key, item in zip(keys, items, strict=True)
            ]
            used, _ = allocate([(c.charge_key, c.amount) for c in charges], max(0, apartment.credit))
            for charge in charges:
                charge.paid_amount = dict(used).get(charge.charge_key, 0)
            credit_used = sum(part for _, part in used)
            amount = sum(item.total for item in items)
            invoice = FakeInvoice(
                invoice_id,
                apartment_id,
                period,
                list(items),
                amount,
                paid_amount=credit_used,
                status="paid" if credit_used >= amount else "open",
                payments={CREDIT_PAYMENT_KEY: credit_used} if credit_used else {},
            )
            apartment.credit -= credit_used
            self._invoices[invoice_id] = invoice
            self._charges.update(((apartment_id, c.charge_key), c) for c in charges)
            return copy.deepcopy(invoice)

    def cancel_invoice(self, invoice_id: str) -> FakeInvoice:
        with self.lock:
            invoice = self._invoice(invoice_id)
            if invoice.status == "cancelled":
                return copy.deepcopy(invoice)
            if invoice.status != "open" or invoice.paid_amount != 0 or invoice.active_payment:
                raise InvoiceBusy(invoice_id)
            invoice.status = "cancelled"
            for key in invoice.charge_keys():
                self._charges.pop((invoice.apartment_id, key), None)
            return copy.deepcopy(invoice)

    def balance(self, apartment_id: str) -> FakeBalance:
        with self.lock:
            credit = self._apartment(apartment_id).credit
            unpaid = sum(c.unpaid for (apt, _), c in self._charges.items() if apt == apartment_id)
            return FakeBalance(apartment_id, unpaid + max(0, -credit), max(0, credit))

    # ------------------------------------------------------------------ Ledger's reads
    def invoice(self, invoice_id: str) -> FakeInvoice:
        with self.lock:
            return copy.deepcopy(self._invoice(invoice_id))

    def apartment(self, apartment_id: str) -> FakeApartment:
        with self.lock:
            return copy.deepcopy(self._apartment(apartment_id))

    def posting(self, key: PaymentKey | str) -> FakePosting | None:
        with self.lock:
            return copy.deepcopy(self._postings.get(str(key)))

    def invoice_charges(self, invoice: FakeInvoice) -> list[FakeCharge]:
        with self.lock:
            found = [self._charges.get((invoice.apartment_id, key)) for key in invoice.charge_keys()]
            return [copy.deepcopy(c) for c in found if c is not None and c.invoice_id == invoice.invoice_id]

    # ------------------------------------------------------------------ Ledger's writes, in one step
    def lock_invoice(
        self, key: PaymentKey, invoice_id: str, amount: int, *, supersede: bool = False
    ) -> str | None:
        with self.lock:
            previous = self._invoice(invoice_id).active_payment
            self.reserve(key, invoice_id, amount, supersede=supersede)()
            return previous if previous != str(key) else None

    def release_invoice(self, key: PaymentKey | str, invoice_id: str) -> None:
        with self.lock:
            self.release(key, invoice_id)()

    # ------------------------------------------------------------------ checked, then written
    # The caller holds self.lock from the check to the write.
    def reserve(self, key: PaymentKey, invoice_id: str, amount: int, *, supersede: bool = False) -> Write:
        """Ledger.lock_invoice: another holder refuses (InvoiceLocked) unless it is an attempt of the
        same provider and supersede is set, or another provider's stale one; then status and amount."""
        mine = str(key)
        invoice = self._invoice(invoice_id)
        holder = invoice.active_payment
        if holder == mine:
            raise TransactionExists(mine)  # reserved only with the attempt's creation: a repeat
        if holder is not None and not self._replaceable(invoice, key, supersede):
            raise InvoiceLocked(invoice_id, holder, invoice.active_payment_at)
        self._payable(invoice, holder or mine, amount, require_lock=False)
        since = self.clock()

        def write() -> None:
            invoice.active_payment, invoice.active_payment_at = mine, since

        return write

    def release(self, key: PaymentKey | str, invoice_id: str) -> Write:
        """Ledger.release_invoice: drop the reservation if this payment still holds it."""
        invoice = self._invoice(invoice_id)
        if invoice.active_payment != str(key):
            return _nothing

        def write() -> None:
            invoice.active_payment = invoice.active_payment_at = None

        return write

    def post_to_invoice(
        self, key: PaymentKey, invoice_id: str, amount: int, *, require_lock: bool = False
    ) -> Write | None:
        """Ledger.post_to_invoice: None when this key has posted before (created=False)."""
        mine = str(key)
        if mine in self._postings:
            return None
        invoice = self._invoice(invoice_id)
        self._payable(invoice, mine, amount, require_lock=require_lock)
        charges = [c for c in self._own_charges(invoice) if c.unpaid > 0]

        def write() -> None:
            allocations = [FakeAllocation(c.charge_key, invoice_id, c.unpaid) for c in charges]
            for charge in charges:
                charge.paid_amount = charge.amount
            self._postings[mine] = FakePosting(
                mine, invoice.apartment_id, invoice_id, amount, allocations, 0, self.clock()
            )
            self._pay_invoice(invoice, mine, amount)
            invoice.active_payment = invoice.active_payment_at = None

        return write

    def post_to_apartment(self, key: PaymentKey, apartment_id: str, amount: int) -> Write | None:
        """Ledger.post_to_apartment: open charges oldest first, skipping invoices a one-time attempt
        reserves; the rest becomes credit. None when this key has posted before."""
        if amount <= 0:
            raise ValueError("amount must be positive")
        mine = str(key)
        if mine in self._postings:
            return None
        apartment = self._apartment(apartment_id)
        charges = sorted(
            (
                c
                for (apt, _), c in self._charges.items()
                if apt == apartment_id
                and c.unpaid > 0
                and self._invoices[c.invoice_id].status == "open"
                and self._invoices[c.invoice_id].active_payment is None
            ),
            key=lambda c: c.charge_key,
        )[:MAX_CHARGES_PER_POSTING]
        parts, remainder = allocate([(c.charge_key, c.unpaid) for c in charges], amount)
        by_key = {c.charge_key: c for c in charges}

        def write() -> None:
            allocations = [FakeAllocation(k, by_key[k].invoice_id, part) for k, part in parts]
            per_invoice: dict[str, int] = {}
            for allocation in allocations:
                by_key[allocation.charge_key].paid_amount += allocation.amount
                invoice_id = allocation.invoice_id
                per_invoice[invoice_id] = per_invoice.get(invoice_id, 0) + allocation.amount
            for invoice_id, part in per_invoice.items():
                self._pay_invoice(self._invoices[invoice_id], mine, part)
            apartment.credit += remainder
            self._postings[mine] = FakePosting(
                mine, apartment_id, None, amount, allocations, remainder, self.clock()
            )

        return write

    def reverse(self, key: PaymentKey | str, *, reason: str) -> Write | None:
        """Ledger.reverse: restore what the posting paid and take back its credit; None when it has been
        reversed before. Raises PostingNotFound."""
        posting = self._postings.get(str(key))
        if posting is None:
            raise PostingNotFound(str(key))
        if posting.reversed_at is not None:
            return None

        def write() -> None:
            for allocation in posting.allocations:
                charge = self._charges.get((posting.apartment_id, allocation.charge_key))
                if charge is not None and charge.invoice_id == allocation.invoice_id:
                    charge.paid_amount -= allocation.amount
                invoice = self._invoices[allocation.invoice_id]
                invoice.paid_amount -= allocation.amount
                invoice.payments.pop(posting.payment_key, None)
                invoice.status = "open"
            self._apartments[posting.apartment_id].credit -= posting.credit_added
            posting.reversed_at, posting.reversal_reason = self.clock(), reason

        return write

    # ------------------------------------------------------------------ rules
    def _invoice(self, invoice_id: str) -> FakeInvoice:
        invoice = self._invoices.get(invoice_id)
        if invoice is None:
            raise InvoiceNotFound(invoice_id)
        return invoice

    def _apartment(self, apartment_id: str) -> FakeApartment:
        apartment = self._apartments.get(apartment_id)
        if apartment is None:
            raise ApartmentNotFound(apartment_id)
        return apartment

    def _own_charges(self, invoice: FakeInvoice) -> list[FakeCharge]:
        found = [self._charges.get((invoice.apartment_id, key)) for key in invoice.charge_keys()]
        return [c for c in found if c is not None and c.invoice_id == invoice.invoice_id]

    @staticmethod
    def _payable(invoice: FakeInvoice, key: str, amount: int, *, require_lock: bool) -> None:
        if invoice.status == "paid":
            raise InvoiceAlreadyPaid(invoice.invoice_id)
        if invoice.status == "cancelled":
            raise InvoiceCancelled(invoice.invoice_id)
        holder = invoice.active_payment
        if (holder is not None and holder != key) or (require_lock and holder != key):
            raise InvoiceLocked(invoice.invoice_id, holder, invoice.active_payment_at)
        unpaid = invoice.amount - invoice.paid_amount
        if amount != unpaid:
            raise AmountMismatch(unpaid)

    def _replaceable(self, invoice: FakeInvoice, key: PaymentKey, supersede: bool) -> bool:
        holder = invoice.active_payment or ""
        if PaymentKey.provider_of(holder) == key.provider:
            return supersede
        return reservation_stale(holder, invoice.active_payment_at, self.clock())

    @staticmethod
    def _pay_invoice(invoice: FakeInvoice, key: str, part: int) -> None:
        invoice.paid_amount += part
        invoice.payments[key] = part
        invoice.status = "paid" if invoice.paid_amount >= invoice.amount else "open"


# ---------------------------------------------------------------------- Payme
class FakePaymeRepository:
    """tolov.payme.repository.Repository over a FakeLedger, with tolov.payme.dynamo's contract."""

    PROVIDER = "payme"

    def __init__(self, ledger: FakeLedger) -> None:
        self.ledger = ledger
        self._rows: dict[str, Transaction] = {}

    def _key(self, payme_id: str) -> PaymentKey:
        return PaymentKey(self.PROVIDER, payme_id)

    # ------------------------------------------------------------------ reads
    def get_many(self, payme_ids: list[str]) -> dict[str, Transaction]:
        with self.ledger.lock:
            return {i: self._rows[i] for i in payme_ids if i in self._rows}

    def get(self, payme_id: str) -> Transaction | None:
        with self.ledger.lock:
            return self._rows.get(payme_id)

    def invoice(self, invoice_id: str) -> InvoiceView:
        with self.ledger.lock:
            invoice = self.ledger._invoice(invoice_id)
            prepaid: dict[str, int] = {}
            if invoice.paid_amount and invoice.status == "open":
                prepaid = {c.charge_key: c.paid_amount for c in self.ledger._own_charges(invoice)}
            return InvoiceView(
                invoice_id=invoice.invoice_id,
                status=invoice.status,
                amount=invoice.amount,
                unpaid=invoice.amount - invoice.paid_amount,
                holder=invoice.active_payment,
                holder_since=invoice.active_payment_at,
                lines=[
                    InvoiceLine(
                        title=item.title,
                        unit_price=item.amount,
                        count=item.count,
                        ikpu=item.ikpu,
                        package_code=item.package_code,
                        vat_percent=item.vat_percent,
                        prepaid=prepaid.get(key, 0),
                    )
                    for item, key in zip(invoice.items, invoice.charge_keys(), strict=True)
                ],
            )

    def apartment(self, apartment_id: str, *, with_debt: bool) -> ApartmentView:
        with self.ledger.lock:
            label = self.ledger._apartment(apartment_id).label
            debt = self.ledger.balance(apartment_id).debt if with_debt else None
            return ApartmentView(apartment_id, label, debt)

    def statement(self, start: int, end: int) -> list[Transaction]:
        with self.ledger.lock:
            return sorted((t for t in self._rows.values() if start <= t.time <= end), key=lambda t: t.time)

    # ------------------------------------------------------------------ changes
    def create(self, tx: Transaction) -> None:
        with self.ledger.lock:
            write = _nothing
            if tx.kind == "invoice":
                write = self.ledger.reserve(self._key(tx.id), tx.target, tx.amount)
            if tx.id in self._rows:
                raise TransactionExists(tx.id)
            write()
            self._rows[tx.id] = tx

    def perform(self, tx: Transaction, perform_time: int) -> None:
        with self.ledger.lock:
            key = self._key(tx.id)
            if tx.kind == "invoice":
                write = self.ledger.post_to_invoice(key, tx.target, tx.amount, require_lock=True)
            else:
                write = self.ledger.post_to_apartment(key, tx.target, tx.amount)
            row = self._in_state(tx.id, CREATED)
            if write is None:
                raise StateChanged(tx.id)
            write()
            self._rows[tx.id] = row._replace(state=PERFORMED, perform_time=perform_time)

    def cancel(self, tx: Transaction, cancel_time: int, reason: int) -> None:
        with self.ledger.lock:
            key = self._key(tx.id)
            if tx.state == PERFORMED:
                write = self.ledger.reverse(key, reason=f"payme reason {reason}")
                if write is None:
                    raise StateChanged(tx.id)
                from_state, to_state = PERFORMED, CANCELLED_AFTER_PERFORM
            else:
                write = self.ledger.release(key, tx.target) if tx.kind == "invoice" else _nothing
                from_state, to_state = CREATED, CANCELLED
            row = self._in_state(tx.id, from_state)
            write()
            self._rows[tx.id] = row._replace(state=to_state, cancel_time=cancel_time, reason=reason)

    def set_fiscal(self, payme_id: str, kind: FiscalType, data: dict[str, Any]) -> bool:
        with self.ledger.lock:
            row = self._rows.get(payme_id)
            if row is None:
                return False
            self._rows[payme_id] = row._replace(fiscal={**row.fiscal, kind: copy.deepcopy(data)})
            return True

    def _in_state(self, payme_id: str, state: int) -> Transaction:
        row = self._rows.get(payme_id)
        if row is None or row.state != state:
            raise StateChanged(payme_id)
        return row


# ---------------------------------------------------------------------- Click
@dataclass
class FakeClickRecord:
    """What the DynamoDB adapter stores for one attempt, under the same attribute names
    (tolov.store.click_models.ClickTransaction), so a test can read either."""

    click_trans_id: str
    click_paydoc_id: str
    merchant_trans_id: str
    account: str
    amount: int
    prepare_id: int
    state: str
    sign_time: str
    created_at: int
    reason: str | None = None
    confirm_token: str | None = None
    click_error: int | None = None
    complete_click_trans_id: str | None = None
    confirmed_at: int | None = None
    cancelled_at: int | None = None
    reversed_at: int | None = None

    def attempt(self) -> ClickTx:
        return ClickTx(
            click_trans_id=self.click_trans_id,
            click_paydoc_id=self.click_paydoc_id,
            merchant_trans_id=self.merchant_trans_id,
            account=AccountKind(self.account),
            amount=self.amount,
            prepare_id=self.prepare_id,
            state=TxState(self.state),
            sign_time=self.sign_time,
            created_at=self.created_at,
            reason=self.reason,
            confirm_token=self.confirm_token,
        )


class FakeClickRepository:
    """tolov.click.repository.ClickRepository over a FakeLedger (tolov.click.dynamo's contract)."""

    PROVIDER = "click"

    def __init__(self, ledger: FakeLedger) -> None:
        self.ledger = ledger
        self._rows: dict[str, FakeClickRecord] = {}
        self._aliases: dict[int, str] = {}  # merchant_prepare_id -> click_trans_id
        self._counter = itertools.count(1)

    def record(self, click_trans_id: str) -> FakeClickRecord | None:
        """The stored attempt with everything the adapter records (for tests)."""
        with self.ledger.lock:
            return copy.deepcopy(self._rows.get(click_trans_id))

    # ------------------------------------------------------------------ reads
    def get(self, click_trans_id: str) -> ClickTx | None:
        with self.ledger.lock:
            row = self._rows.get(click_trans_id)
            return None if row is None else row.attempt()

    def find_by_prepare_id(self, prepare_id: int) -> ClickTx | None:
        with self.ledger.lock:
            click_trans_id = self._aliases.get(prepare_id)
            return None if click_trans_id is None else self.get(click_trans_id)

    def find_account(self, merchant_trans_id: str, kind: AccountKind | None = None) -> Account | None:
        with self.ledger.lock:
            if kind in (None, AccountKind.INVOICE):
                invoice = self.ledger._invoices.get(merchant_trans_id)
                if invoice is not None:
                    return InvoiceAccount(
                        invoice_id=invoice.invoice_id,
                        status=invoice.status,
                        unpaid=invoice.amount - invoice.paid_amount,
                        holder=invoice.active_payment,
                        holder_since=invoice.active_payment_at,
                    )
            if kind in (None, AccountKind.APARTMENT) and merchant_trans_id in self.ledger._apartments:
                return ApartmentAccount(apartment_id=merchant_trans_id)
            return None

    def next_prepare_id(self) -> int:
        with self.ledger.lock:
            return next(self._counter)

    # ------------------------------------------------------------------ writes
    def create(self, tx: ClickTx, account: Account, now: int, *, retire: str | None = None) -> None:
        with self.ledger.lock:
            write = _nothing
            if isinstance(account, InvoiceAccount):
                key = PaymentKey(self.PROVIDER, tx.click_trans_id)
                write = self.ledger.reserve(key, account.invoice_id, tx.amount, supersede=retire is not None)
            if tx.click_trans_id in self._rows:
                raise TransactionExists(tx.click_trans_id)
            if tx.prepare_id in self._aliases:
                raise StateChanged(tx.click_trans_id)  # the prepare id is taken: draw another
            retired = None
            if retire is not None:
                retired = self._rows.get(PaymentKey.parse(retire).external_id)
                if retired is None or retired.state != TxState.PREPARED:
                    raise StateChanged(retire)
            write()
            self._rows[tx.click_trans_id] = FakeClickRecord(
                click_trans_id=tx.click_trans_id,
                click_paydoc_id=tx.click_paydoc_id,
                merchant_trans_id=tx.merchant_trans_id,
                account=tx.account.value,
                amount=tx.amount,
                prepare_id=tx.prepare_id,
                state=tx.state.value,
                sign_time=tx.sign_time,
                created_at=tx.created_at,
                reason=tx.reason,
            )
            self._aliases[tx.prepare_id] = tx.click_trans_id
            if retired is not None:
                retired.state, retired.cancelled_at = TxState.CANCELLED.value, now
                retired.reason = f"superseded by {tx.payment_key}"

    def confirm(
        self,
        tx: ClickTx,
        now: int,
        token: str,
        complete_trans_id: str | None = None,
        *,
        account: Account | None = None,  # the fake reads under its lock: nothing to hand back
    ) -> None:
        with self.ledger.lock:
            key = PaymentKey(self.PROVIDER, tx.click_trans_id)
            if tx.account is AccountKind.INVOICE:
                write = self.ledger.post_to_invoice(key, tx.merchant_trans_id, tx.amount, require_lock=True)
            else:
                write = self.ledger.post_to_apartment(key, tx.merchant_trans_id, tx.amount)
            row = self._prepared(tx.click_trans_id)
            if write is None:
                raise StateChanged(tx.click_trans_id)
            write()
            row.state, row.confirmed_at, row.confirm_token = TxState.CONFIRMED.value, now, token
            row.complete_click_trans_id = complete_trans_id or row.complete_click_trans_id

    def cancel(
        self,
        tx: ClickTx,
        reason: str,
        click_error: int | None,
        now: int,
        complete_trans_id: str | None = None,
    ) -> None:
        with self.ledger.lock:
            write = self._leave_invoice(tx)
            row = self._prepared(tx.click_trans_id)
            write()
            row.state, row.reason, row.cancelled_at = TxState.CANCELLED.value, reason, now
            row.complete_click_trans_id = complete_trans_id or row.complete_click_trans_id
            if click_error is not None:
                row.click_error = click_error

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
        with self.ledger.lock:
            write = self._leave_invoice(tx)
            row = self._prepared(tx.click_trans_id, was)
            write()
            row.state, row.reason = TxState.CONFIRMED_UNPOSTED.value, reason
            row.click_paydoc_id, row.confirmed_at, row.confirm_token = click_paydoc_id, now, token
            row.complete_click_trans_id = complete_trans_id or row.complete_click_trans_id

    def mark_reversed(self, click_trans_id: str, now: int) -> None:
        with self.ledger.lock:
            row = self._rows.get(click_trans_id)
            if row is None or row.state != TxState.CONFIRMED_UNPOSTED:
                raise StateChanged(click_trans_id)
            row.state, row.reversed_at = TxState.REVERSED.value, now

    def _prepared(self, click_trans_id: str, was: TxState = TxState.PREPARED) -> FakeClickRecord:
        row = self._rows.get(click_trans_id)
        if row is None or row.state != was:
            raise StateChanged(click_trans_id)
        return row

    def _leave_invoice(self, tx: ClickTx) -> Write:
        """The release of the attempt's reservation, if it holds one; nothing for a missing invoice."""
        if tx.account is not AccountKind.INVOICE:
            return _nothing
        try:
            return self.ledger.release(tx.payment_key, tx.merchant_trans_id)
        except InvoiceNotFound:
            return _nothing


class _Message(Protocol):
    def message(self) -> dict[str, Any]: ...


class FakeQueue[T: _Message]:
    """An SQS queue in memory: what was sent, as SQS would carry it.
    `failure`, when set, is raised by enqueue (the queue is down)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[T] = []
        self.failure: Exception | None = None

    def enqueue(self, request: T) -> None:
        with self._lock:
            if self.failure is not None:
                raise self.failure
            self.sent.append(request)

    def messages(self) -> list[dict[str, Any]]:
        """The message bodies, as a consumer of the SQS queue would read them."""
        with self._lock:
            return [json.loads(json.dumps(r.message())) for r in self.sent]


class FakeReversalQueue(FakeQueue[ReversalRequest]):
    """tolov.click.repository.ReversalQueue in memory."""


class FakeCompleteQueue(FakeQueue[QueuedComplete]):
    """tolov.click.complete_queue.CompleteQueue in memory."""


# ---------------------------------------------------------------------- Payme's key
class StaticKeyStore:
    """An in-memory Payme key store (the product reads the key from Secrets Manager)."""

    def __init__(self, key: str) -> None:
        from tolov.payme.keys import KeyRing

        self._ring = KeyRing(key)

    def ring(self, *, fresh: bool = False) -> "KeyRing":
        return self._ring

    def replace(self, ring: "KeyRing") -> None:
        self._ring = ring
