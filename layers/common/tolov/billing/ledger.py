"""The ledger: payments posted to invoices and apartments exactly once, reversed at most once.

Every change is one DynamoDB TransactWrite whose conditions carry the rules:
- the Posting item, keyed by provider#provider_transaction_id, is put with attribute_not_exists,
  so a payment key can move the ledger once, however many deliveries race;
- every charge, invoice and apartment we computed from is conditioned on the value we read
  (optimistic concurrency): if anything moved in between, the transaction is cancelled and we
  read again and recompute. Nothing is written from a stale read.
Callers (the provider protocols) add their own operations, such as a transaction's state change, to
the same TransactWrite so that the provider state and the ledger move together or not at all.
"""

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from tolov.billing.errors import (
    AmountMismatch,
    ApartmentNotFound,
    BillingError,
    InvoiceAlreadyPaid,
    InvoiceCancelled,
    InvoiceLocked,
    InvoiceNotFound,
    LedgerContention,
    PostingNotFound,
    TransactionExists,
)
from tolov.billing.keys import PaymentKey
from tolov.billing.reservations import reservation_stale
from tolov.clock import Clock, now_ms, tashkent_date
from tolov.store.engine import Action, CallerConditionFailed, Condition, TxOp, commit, transact
from tolov.store.models import Allocation, Apartment, Charge, Invoice, Posting

# A TransactWrite holds at most 100 operations; keep room for the posting, invoices and caller ops.
MAX_CHARGES_PER_POSTING = 40
ATTEMPTS = 8
BACKOFF_BASE_S = 0.002
BACKOFF_CAP_S = 0.05


def attempts() -> Iterator[int]:
    """Numbers for optimistic retries, with full-jitter backoff between them so that writers that
    collided on the same items do not collide again in lockstep."""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))
        yield attempt


class Payable(NamedTuple):
    """What a payment into an apartment would pay if posted now: the open charges it may take, oldest
    first (those of an invoice reserved by a one-time payment attempt are left to that attempt), their
    invoices, and the apartment's credit (negative: debt not tied to a charge)."""

    charges: list[Charge]
    invoices: dict[str, Invoice]
    credit: int

    @property
    def debt(self) -> int:
        return sum(int(c.unpaid) for c in self.charges) + max(0, -self.credit)


class PostingResult(NamedTuple):
    posting: Posting
    created: bool  # False: this payment key had already been posted (or reversed) before


def allocate(open_charges: Sequence[tuple[str, int]], amount: int) -> tuple[list[tuple[str, int]], int]:
    """Spread `amount` over (charge_key, unpaid) pairs in the given order: (allocations, remainder)."""
    allocations: list[tuple[str, int]] = []
    left = amount
    for charge_key, unpaid in open_charges:
        if left == 0:
            break
        part = min(unpaid, left)
        if part > 0:
            allocations.append((charge_key, part))
            left -= part
    return allocations, left


def _locked(invoice: Invoice) -> InvoiceLocked:
    since = invoice.active_payment_at
    return InvoiceLocked(invoice.invoice_id, invoice.active_payment, None if since is None else int(since))


def _reserved_or_closed(invoice: Invoice | None) -> bool:
    """An invoice an apartment payment leaves alone: gone, not open, or reserved by a one-time attempt."""
    return invoice is None or invoice.status != "open" or invoice.active_payment is not None


def _put(item: Posting | Invoice | Charge, condition: Condition) -> TxOp:
    return lambda t: t.save(item, condition=condition)


def _update(item: Invoice, actions: list[Action], condition: Condition) -> TxOp:
    return lambda t: t.update(item, actions=actions, condition=condition)


class Ledger:
    def __init__(self, clock: Clock = now_ms) -> None:
        self.clock = clock

    # ------------------------------------------------------------------ reads
    @staticmethod
    def posting(key: PaymentKey | str) -> Posting | None:
        try:
            return Posting.get(str(key), consistent_read=True)
        except Posting.DoesNotExist:
            return None

    @staticmethod
    def invoice(invoice_id: str) -> Invoice:
        try:
            return Invoice.get(invoice_id, consistent_read=True)
        except Invoice.DoesNotExist:
            raise InvoiceNotFound(invoice_id) from None

    @staticmethod
    def apartment(apartment_id: str, *, attributes: list[str] | None = None) -> Apartment:
        try:
            return Apartment.get(apartment_id, consistent_read=True, attributes_to_get=attributes)
        except Apartment.DoesNotExist:
            raise ApartmentNotFound(apartment_id) from None

    @staticmethod
    def open_charges(apartment_id: str) -> list[Charge]:
        """Unpaid charges, oldest period first, then by service (the range key's order)."""
        return list(Charge.query(apartment_id, filter_condition=Charge.unpaid > 0, consistent_read=True))

    def payable(self, apartment_id: str) -> Payable:
        """Raises ApartmentNotFound."""
        apartment = self.apartment(apartment_id)
        charges = self.open_charges(apartment_id)
        invoices = self._invoices_of(charges)
        payable = [c for c in charges if not _reserved_or_closed(invoices.get(c.invoice_id))][
            :MAX_CHARGES_PER_POSTING
        ]
        return Payable(payable, invoices, int(apartment.credit))

    @staticmethod
    def _payable_invoice(invoice: Invoice, key: str, amount: int, *, require_lock: bool) -> int:
        """Check an invoice can take this one-time payment; return its unpaid amount."""
        if invoice.status == "paid":
            raise InvoiceAlreadyPaid(invoice.invoice_id)
        if invoice.status == "cancelled":
            raise InvoiceCancelled(invoice.invoice_id)
        holder = invoice.active_payment
        if (holder is not None and holder != key) or (require_lock and holder != key):
            raise _locked(invoice)
        unpaid = int(invoice.amount) - int(invoice.paid_amount)
        if amount != unpaid:
            raise AmountMismatch(unpaid)
        return unpaid

    # ------------------------------------------------------------------ posting
    # The posting is written first, on condition that its key is free: the put itself is the test for
    # "posted already", so the posting is read only when that condition failed (a repeat, a concurrent
    # delivery, or our own earlier write whose reply was lost), never before every posting.
    def post_to_invoice(
        self,
        key: PaymentKey,
        invoice_id: str,
        amount: int,
        *,
        require_lock: bool = False,
        caller_ops: Sequence[TxOp] = (),
        invoice: Invoice | None = None,
    ) -> PostingResult:
        """One-time account: pay exactly the invoice's unpaid amount, once.

        With require_lock the payment must hold the invoice's reservation (set by lock_invoice).
        `invoice`: the invoice as the caller just read it (strongly consistent), so it is not read again;
        a retry reads it afresh."""
        payment_key = str(key)
        for attempt in attempts():
            if attempt or invoice is None:
                invoice = self.invoice(invoice_id)
            try:
                self._payable_invoice(invoice, payment_key, amount, require_lock=require_lock)
            except BillingError:
                # A concurrent delivery of this same payment may have paid the invoice since we looked.
                if (posted := self.posting(payment_key)) is not None:
                    return PostingResult(posted, created=False)
                raise
            charges = self._unpaid_charges(invoice, trust_items=attempt == 0)
            now = self.clock()
            posting = Posting(
                payment_key,
                apartment_id=invoice.apartment_id,
                invoice_id=invoice.invoice_id,
                amount=amount,
                allocations=[
                    Allocation(charge_key=c.charge_key, invoice_id=invoice.invoice_id, amount=int(c.unpaid))  # type: ignore[no-untyped-call]
                    for c in charges
                ],
                credit_added=0,
                posted_at=now,
                posted_day=tashkent_date(now).isoformat(),
            )
            ops: list[TxOp] = [_put(posting, Posting.payment_key.does_not_exist())]
            ops.append(
                self._invoice_paid_op(
                    invoice, payment_key, amount, lock=payment_key, require_lock=require_lock
                )
            )
            ops.extend(self._charge_paid_op(c, int(c.unpaid)) for c in charges)
            outcome = commit([*ops, *caller_ops], caller_start=len(ops))
            if outcome is None:
                return PostingResult(posting, created=True)
            if outcome == "first" and (posted := self.posting(payment_key)) is not None:
                return PostingResult(posted, created=False)
        raise LedgerContention(payment_key)

    def _unpaid_charges(self, invoice: Invoice, *, trust_items: bool) -> list[Charge]:
        """The invoice's charges with something left to pay, and what is left on each.

        An invoice nothing has been paid into yet owes each item's whole total on its charge (the
        invoice's paid amount is the sum of its charges' paid amounts, and none is negative), so its
        items tell the charges without reading them; the charge updates still require paid_amount == 0
        and this invoice, so a charge that says otherwise cancels the write, and the retry reads the
        charges. Any other invoice's charges are read."""
        if trust_items and int(invoice.paid_amount) == 0:
            charges = [
                Charge(
                    invoice.apartment_id,
                    item.charge_key,
                    invoice_id=invoice.invoice_id,
                    paid_amount=0,
                    unpaid=int(item.amount) * int(item.count),
                )
                for item in invoice.items
            ]
        else:
            charges = self.invoice_charges(invoice)
        return [c for c in charges if int(c.unpaid) > 0]

    def post_to_apartment(
        self,
        key: PaymentKey,
        apartment_id: str,
        amount: int,
        *,
        caller_ops: Sequence[TxOp] = (),
    ) -> PostingResult:
        """Accumulative account: any positive amount, allocated to open charges oldest first; the
        remainder becomes credit. Charges of an invoice reserved by a one-time payment attempt are
        left to that attempt.

        The apartment is not read: its credit is added to, on condition that it exists. The invoices
        of the charges are read only when this payment would pay one off (its status turns on its paid
        amount, the only witness that no charge of it we did not see reopened meanwhile) or when a
        write found one reserved; an invoice it leaves open is updated by adding, on condition that it
        is open and unreserved, its charges' conditions carrying the rest."""
        if amount <= 0:
            raise ValueError("amount must be positive")
        payment_key = str(key)
        read_invoices = False
        for _ in attempts():
            open_charges = self.open_charges(apartment_id)
            if read_invoices:
                invoices = self._invoices_of(open_charges)
                candidates = [c for c in open_charges if not _reserved_or_closed(invoices.get(c.invoice_id))]
            else:
                invoices, candidates = {}, open_charges
            payable = candidates[:MAX_CHARGES_PER_POSTING]
            allocations, remainder = allocate([(c.charge_key, int(c.unpaid)) for c in payable], amount)
            by_key = {c.charge_key: c for c in payable}
            per_invoice: dict[str, int] = {}
            for charge_key, part in allocations:
                invoice_id = by_key[charge_key].invoice_id
                per_invoice[invoice_id] = per_invoice.get(invoice_id, 0) + part
            owed: dict[str, int] = {}
            for c in open_charges:
                owed[c.invoice_id] = owed.get(c.invoice_id, 0) + int(c.unpaid)
            closing = sorted(i for i, part in per_invoice.items() if part >= owed[i] and i not in invoices)
            if closing:
                invoices.update((i.invoice_id, i) for i in Invoice.batch_get(closing, consistent_read=True))
                if any(_reserved_or_closed(invoices.get(i)) for i in closing):
                    read_invoices = True  # leave that invoice's charges: allocate again without them
                    continue
            now = self.clock()
            posting = Posting(
                payment_key,
                apartment_id=apartment_id,
                invoice_id=None,
                amount=amount,
                allocations=[
                    Allocation(charge_key=k, invoice_id=by_key[k].invoice_id, amount=part)  # type: ignore[no-untyped-call]
                    for k, part in allocations
                ],
                credit_added=remainder,
                posted_at=now,
                posted_day=tashkent_date(now).isoformat(),
            )
            ops: list[TxOp] = [_put(posting, Posting.payment_key.does_not_exist())]
            ops.extend(self._charge_paid_op(by_key[k], part) for k, part in allocations)
            invoice_ops_from = len(ops)
            for inv_id, part in per_invoice.items():
                if inv_id in invoices:
                    ops.append(
                        self._invoice_paid_op(
                            invoices[inv_id], payment_key, part, lock=None, require_lock=False
                        )
                    )
                else:
                    ops.append(self._invoice_part_paid_op(inv_id, payment_key, part))
            ops.append(self._apartment_credit_op(apartment_id, remainder))
            failed = transact([*ops, *caller_ops])
            if failed is None:
                return PostingResult(posting, created=True)
            if 0 in failed and (posted := self.posting(payment_key)) is not None:
                return PostingResult(posted, created=False)
            caller_failed = sorted(i - len(ops) for i in failed if i >= len(ops))
            if caller_failed:
                raise CallerConditionFailed(caller_failed[0])
            if len(ops) - 1 in failed:
                raise ApartmentNotFound(apartment_id)
            if any(invoice_ops_from <= i < len(ops) - 1 for i in failed):
                read_invoices = True  # an invoice is reserved (or no longer open): leave its charges
        raise LedgerContention(payment_key)

    # ------------------------------------------------------------------ reversal
    def reverse(
        self, key: PaymentKey | str, *, reason: str, caller_ops: Sequence[TxOp] = ()
    ) -> PostingResult:
        """Undo a posting (refund, cancel after payment): restore the debts it paid, take back its credit."""
        payment_key = str(key)
        for _ in attempts():
            posting = self.posting(payment_key)
            if posting is None:
                raise PostingNotFound(payment_key)
            if posting.reversed_at is not None:
                return PostingResult(posting, created=False)
            now = self.clock()
            ops: list[TxOp] = [
                self._mark_reversed_op(posting, now, reason),
            ]
            per_invoice: dict[str, int] = {}
            for allocation in posting.allocations:
                part = int(allocation.amount)
                per_invoice[allocation.invoice_id] = per_invoice.get(allocation.invoice_id, 0) + part
                ops.append(self._charge_unpaid_op(posting.apartment_id, allocation))
            ops.extend(self._invoice_unpaid_op(inv, payment_key, part) for inv, part in per_invoice.items())
            if int(posting.credit_added):
                ops.append(self._apartment_credit_op(posting.apartment_id, -int(posting.credit_added)))
            outcome = commit([*ops, *caller_ops], caller_start=len(ops))
            if outcome is None:
                posting.reversed_at = now
                posting.reversal_reason = reason
                return PostingResult(posting, created=True)
        raise LedgerContention(payment_key)

    # ------------------------------------------------------------------ reservation
    def lock_invoice(
        self,
        key: PaymentKey,
        invoice_id: str,
        amount: int,
        *,
        supersede: bool = False,
        caller_ops: Sequence[TxOp] = (),
        invoice: Invoice | None = None,
    ) -> str | None:
        """Reserve an open invoice for one payment attempt of exactly its unpaid amount.

        Another holder raises InvoiceLocked unless supersede is set and it is an attempt of the same
        provider (Click: the newest attempt wins). Another provider's live attempt is never taken over:
        it may already have debited its payer (Payme performs after the debit); one older than that
        provider's RESERVATION_TTL_MS is stale and is.
        Returns the previous holder, if any, so the caller can retire that attempt. This payment holding
        the invoice already raises TransactionExists.
        `invoice`: the invoice as the caller just read it (strongly consistent), used for the first
        round instead of reading it again; every condition below is on the values it holds."""
        payment_key = str(key)
        for attempt in attempts():
            if attempt or invoice is None:
                invoice = self.invoice(invoice_id)
            holder = invoice.active_payment
            if holder == payment_key:
                # A reservation is only ever taken with the attempt's own creation: this attempt exists
                # (an earlier or concurrent delivery of it), and the caller answers it as a repeat.
                raise TransactionExists(payment_key)
            if holder is not None and not self._replaceable(invoice, key, supersede):
                raise _locked(invoice)
            # Check status and amount with the holder allowed (we may be replacing it).
            self._payable_invoice(invoice, holder or payment_key, amount, require_lock=False)
            held = (
                Invoice.active_payment.does_not_exist()
                if holder is None
                else Invoice.active_payment == holder
            )
            condition = (Invoice.status == "open") & (Invoice.paid_amount == invoice.paid_amount) & held
            actions: list[Action] = [
                Invoice.active_payment.set(payment_key),
                Invoice.active_payment_at.set(self.clock()),
            ]
            ops = [_update(invoice, actions, condition)]
            if commit([*ops, *caller_ops], caller_start=len(ops)) is None:
                return holder
        raise LedgerContention(payment_key)

    def _replaceable(self, invoice: Invoice, key: PaymentKey, supersede: bool) -> bool:
        holder = invoice.active_payment or ""
        if PaymentKey.provider_of(holder) == key.provider:
            return supersede
        return reservation_stale(holder, invoice.active_payment_at, self.clock())

    def release_invoice(
        self, key: PaymentKey | str, invoice_id: str, *, caller_ops: Sequence[TxOp] = ()
    ) -> None:
        """Drop this payment's reservation, if it still holds one, together with the caller's ops.

        Written without reading the invoice: the removal is conditioned on the reservation being ours,
        and when that condition fails (taken over, paid, or no such invoice) the caller's ops go alone."""
        payment_key = str(key)
        mine = Invoice.active_payment == payment_key
        release = _update(
            Invoice(invoice_id), [Invoice.active_payment.remove(), Invoice.active_payment_at.remove()], mine
        )
        holding = True
        for _ in attempts():
            ops: list[TxOp] = [release] if holding else []
            if not ops and not caller_ops:
                return
            outcome = commit([*ops, *caller_ops], caller_start=len(ops))
            if outcome is None:
                return
            if outcome == "first":
                holding = False  # not ours (any more): nothing to release
        raise LedgerContention(payment_key)

    # ------------------------------------------------------------------ operations
    @staticmethod
    def invoice_charges(invoice: Invoice) -> list[Charge]:
        keys = [(invoice.apartment_id, item.charge_key) for item in invoice.items]
        found = {
            c.charge_key: c
            for c in Charge.batch_get(keys, consistent_read=True)
            if c.invoice_id == invoice.invoice_id
        }
        return [found[k] for _, k in keys if k in found]

    @staticmethod
    def _invoices_of(charges: Iterable[Charge]) -> dict[str, Invoice]:
        ids = sorted({c.invoice_id for c in charges})
        return {inv.invoice_id: inv for inv in Invoice.batch_get(ids, consistent_read=True)}

    @staticmethod
    def _charge_paid_op(charge: Charge, part: int) -> TxOp:
        paid = int(charge.paid_amount)
        actions: list[Action] = [
            Charge.paid_amount.set(paid + part),
            Charge.unpaid.set(int(charge.unpaid) - part),
        ]
        return lambda t: t.update(charge, actions=actions, condition=Charge.paid_amount == paid)

    @staticmethod
    def _charge_unpaid_op(apartment_id: str, allocation: Allocation) -> TxOp:
        charge = Charge(apartment_id, allocation.charge_key)
        part = int(allocation.amount)
        actions: list[Action] = [Charge.paid_amount.add(-part), Charge.unpaid.add(part)]
        # A charge key is a period and service, not an invoice: restore only the charge this paid.
        paid_here = Charge.invoice_id == allocation.invoice_id
        return lambda t: t.update(charge, actions=actions, condition=paid_here)

    @staticmethod
    def _invoice_paid_op(
        invoice: Invoice, payment_key: str, part: int, *, lock: str | None, require_lock: bool
    ) -> TxOp:
        paid = int(invoice.paid_amount)
        now_paid = paid + part
        actions: list[Action] = [
            Invoice.paid_amount.set(now_paid),
            Invoice.payments[payment_key].set(part),
            Invoice.status.set("paid" if now_paid >= int(invoice.amount) else "open"),
        ]
        held: Condition = Invoice.active_payment.does_not_exist()
        if lock is not None:
            # Paying releases the reservation; a required one must still be ours at commit time.
            mine = Invoice.active_payment == lock
            held = mine if require_lock else held | mine
            actions += [Invoice.active_payment.remove(), Invoice.active_payment_at.remove()]
        condition = (Invoice.status == "open") & (Invoice.paid_amount == paid) & held
        return lambda t: t.update(invoice, actions=actions, condition=condition)

    @staticmethod
    def _invoice_part_paid_op(invoice_id: str, payment_key: str, part: int) -> TxOp:
        """Part of an invoice paid that stays open: added, so it needs no read of the invoice. Its charges'
        conditions keep the part exact; this one keeps it off an invoice reserved or no longer open."""
        invoice = Invoice(invoice_id)
        actions: list[Action] = [Invoice.paid_amount.add(part), Invoice.payments[payment_key].set(part)]
        condition = (Invoice.status == "open") & Invoice.active_payment.does_not_exist()
        return lambda t: t.update(invoice, actions=actions, condition=condition)

    @staticmethod
    def _invoice_unpaid_op(invoice_id: str, payment_key: str, part: int) -> TxOp:
        invoice = Invoice(invoice_id)
        actions: list[Action] = [
            Invoice.paid_amount.add(-part),
            Invoice.payments[payment_key].remove(),
            Invoice.status.set("open"),
        ]
        return lambda t: t.update(invoice, actions=actions, condition=Invoice.invoice_id.exists())

    @staticmethod
    def _apartment_credit_op(apartment_id: str, delta: int) -> TxOp:
        apartment = Apartment(apartment_id)
        exists = Apartment.apartment_id.exists()
        if delta == 0:
            return lambda t: t.condition_check(Apartment, apartment_id, condition=exists)
        return lambda t: t.update(apartment, actions=[Apartment.credit.add(delta)], condition=exists)

    @staticmethod
    def _mark_reversed_op(posting: Posting, now: int, reason: str) -> TxOp:
        actions: list[Action] = [Posting.reversed_at.set(now), Posting.reversal_reason.set(reason)]
        return lambda t: t.update(posting, actions=actions, condition=Posting.reversed_at.does_not_exist())
