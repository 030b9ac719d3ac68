"""Apartments, invoices and balances: what the housing platform sends us and asks of us."""

import secrets
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from tolov.billing.errors import ApartmentNotFound, InvoiceBusy, InvoiceConflict, LedgerContention
from tolov.billing.ledger import Ledger, allocate, attempts
from tolov.clock import Clock, now_ms
from tolov.store.engine import Action, Condition, ConditionFailed, TxOp, commit, conditional, transact
from tolov.store.models import Apartment, Charge, Invoice, InvoiceItem, Posting

CREDIT_PAYMENT_KEY = "credit"
# 1 invoice + its charges + the apartment must fit in one TransactWrite (100 operations).
MAX_ITEMS_PER_INVOICE = 50


class NewItem(NamedTuple):
    service: str
    title: str
    amount: int  # unit price, tiyin
    count: int  # type: ignore[assignment]  # shadows tuple.count: the billing API's field is "count"
    ikpu: str
    package_code: str
    vat_percent: int

    @property
    def total(self) -> int:
        return self.amount * self.count


class Balance(NamedTuple):
    apartment_id: str
    debt: int
    credit: int
    charges: list[Charge]


def charge_key(period: str, service: str) -> str:
    """One charge per apartment, period and service; the sort order is the allocation order."""
    return f"{period}#{service}"


def new_invoice_id() -> str:
    # Payers type the order number into the Payme and Click apps: ten digits, not a UUID.
    return str(10**9 + secrets.randbelow(9 * 10**9))


class Billing:
    def __init__(self, clock: Clock = now_ms, ledger: Ledger | None = None) -> None:
        self.clock = clock
        self.ledger = ledger or Ledger(clock)

    # ------------------------------------------------------------------ apartments
    def put_apartment(self, apartment_id: str, label: str, resident_id: str) -> tuple[Apartment, bool]:
        """Create or update; returns (apartment, created). Credit is never touched here."""
        now = self.clock()
        apartment = Apartment(
            apartment_id, label=label, resident_id=resident_id, credit=0, created_at=now, updated_at=now
        )
        try:
            conditional(lambda: apartment.save(condition=Apartment.apartment_id.does_not_exist()))
            return apartment, True
        except ConditionFailed:
            pass
        existing = Apartment(apartment_id)
        existing.update(
            actions=[
                Apartment.label.set(label),
                Apartment.resident_id.set(resident_id),
                Apartment.updated_at.set(now),
            ]
        )
        return existing, False

    # ------------------------------------------------------------------ invoices
    def put_invoice(
        self, apartment_id: str, period: str, items: Sequence[NewItem], due_date: str | None = None
    ) -> tuple[Invoice, bool]:
        """Bill the items; returns (invoice, created). Apartment credit pays the new charges first.

        A service is billed once per apartment and period: each item's charge is keyed period#service
        and put with the invoice in one TransactWrite, on condition that the key is free. When a key is
        taken, the invoice holding it decides: the same apartment, period and items (a retry) are that
        invoice, returned with created=False, or with created=True when its id is the one drawn here (our
        own write landed and its reply was lost); anything else raises InvoiceConflict. A cancelled
        invoice's charges are gone, so its services can be billed again."""
        if not items or len(items) > MAX_ITEMS_PER_INVOICE:
            raise ValueError(f"an invoice has 1 to {MAX_ITEMS_PER_INVOICE} items")
        invoice_id = new_invoice_id()
        for _ in attempts():
            apartment = self.ledger.apartment(apartment_id)
            invoice, charges = self._new_invoice(invoice_id, apartment, period, items, due_date)
            ops: list[TxOp] = [_save_new(invoice, Invoice.invoice_id.does_not_exist())]
            ops.extend(_save_new(c, Charge.charge_key.does_not_exist()) for c in charges)
            ops.append(self._apartment_op(apartment, int(invoice.paid_amount)))  # credit it consumed
            failed = transact(ops)
            if failed is None:
                return invoice, True
            taken = [i - 1 for i in sorted(failed) if 1 <= i <= len(charges)]
            if taken:
                holder = _billed_by(charges[taken[0]])
                if holder is None:
                    continue  # that invoice was cancelled meanwhile: its charges are gone
                if holder.invoice_id == invoice_id:
                    return holder, True
                if _same_bill(holder, apartment_id, period, items):
                    return holder, False
                raise InvoiceConflict(holder.invoice_id, period, {i: items[i].service for i in taken})
            if 0 in failed:
                invoice_id = new_invoice_id()  # drawn by another invoice already
            # otherwise the apartment's credit moved under us: read it again
        raise LedgerContention(apartment_id)

    def create_invoice(
        self, apartment_id: str, period: str, items: Sequence[NewItem], due_date: str | None = None
    ) -> Invoice:
        """put_invoice for callers that need only the invoice."""
        return self.put_invoice(apartment_id, period, items, due_date)[0]

    def _new_invoice(
        self,
        invoice_id: str,
        apartment: Apartment,
        period: str,
        items: Sequence[NewItem],
        due_date: str | None,
    ) -> tuple[Invoice, list[Charge]]:
        charges = [
            Charge(
                apartment.apartment_id,
                charge_key(period, item.service),
                invoice_id=invoice_id,
                period=period,
                service=item.service,
                title=item.title,
                amount=item.total,
                paid_amount=0,
                unpaid=item.total,
            )
            for item in items
        ]
        credit = max(0, int(apartment.credit))
        used, _ = allocate([(c.charge_key, int(c.amount)) for c in charges], credit)
        for key, part in used:
            charge = next(c for c in charges if c.charge_key == key)
            charge.paid_amount = part
            charge.unpaid = int(charge.amount) - part
        credit_used = sum(part for _, part in used)
        amount = sum(item.total for item in items)
        invoice = Invoice(
            invoice_id,
            apartment_id=apartment.apartment_id,
            period=period,
            items=[
                InvoiceItem(  # type: ignore[no-untyped-call]
                    service=item.service,
                    title=item.title,
                    amount=item.amount,
                    count=item.count,
                    ikpu=item.ikpu,
                    package_code=item.package_code,
                    vat_percent=item.vat_percent,
                    charge_key=charge.charge_key,
                )
                for item, charge in zip(items, charges, strict=True)
            ],
            amount=amount,
            paid_amount=credit_used,
            status="paid" if credit_used >= amount else "open",
            payments={CREDIT_PAYMENT_KEY: credit_used} if credit_used else {},
            due_date=due_date,
            created_at=self.clock(),
        )
        return invoice, charges

    @staticmethod
    def _apartment_op(apartment: Apartment, credit_used: int) -> TxOp:
        if credit_used == 0:
            return lambda t: t.condition_check(
                Apartment, apartment.apartment_id, condition=Apartment.apartment_id.exists()
            )
        observed = int(apartment.credit)
        return lambda t: t.update(
            apartment,
            actions=[Apartment.credit.set(observed - credit_used)],
            condition=Apartment.credit == observed,
        )

    def get_invoice(self, invoice_id: str) -> tuple[Invoice, list[Posting]]:
        """The invoice and the postings (payments) that paid into it."""
        invoice = self.ledger.invoice(invoice_id)
        return invoice, self.postings(invoice)

    def invoice_ids(self, apartment_id: str) -> list[str]:
        """The apartment's invoices (any status), through the by_apartment index; ApartmentNotFound."""
        self.ledger.apartment(apartment_id, attributes=["apartment_id"])
        return [i.invoice_id for i in Invoice.by_apartment.query(apartment_id)]

    @staticmethod
    def postings(invoice: Invoice) -> list[Posting]:
        """The postings (payments) that paid into the invoice, oldest first."""
        paid_by: dict[str, int] = invoice.payments.as_dict() if invoice.payments else {}
        keys = [k for k in paid_by if k != CREDIT_PAYMENT_KEY]
        return sorted(Posting.batch_get(keys), key=lambda p: int(p.posted_at)) if keys else []

    def cancel_invoice(self, invoice_id: str) -> Invoice:
        """Cancel an unpaid invoice with no payment in progress; its charges leave the ledger."""
        for _ in attempts():
            invoice = self.ledger.invoice(invoice_id)
            if invoice.status == "cancelled":
                return invoice
            if invoice.status != "open" or int(invoice.paid_amount) != 0 or invoice.active_payment:
                raise InvoiceBusy(invoice_id)
            now = self.clock()
            ops = [_cancel_op(invoice, now)]
            ops.extend(_delete_unpaid_charge(invoice, item.charge_key) for item in invoice.items)
            if commit(ops, caller_start=len(ops)) is None:
                invoice.status, invoice.cancelled_at = "cancelled", now
                return invoice
        raise LedgerContention(invoice_id)

    # ------------------------------------------------------------------ balance
    def balance(self, apartment_id: str, *, apartment: Apartment | None = None) -> Balance:
        """`apartment`: the apartment as the caller just read it, so it is not read again."""
        if apartment is None:
            try:
                apartment = Apartment.get(apartment_id)
            except Apartment.DoesNotExist:
                raise ApartmentNotFound(apartment_id) from None
        charges = list(Charge.query(apartment_id, filter_condition=Charge.unpaid > 0))
        credit = int(apartment.credit)
        debt = sum(int(c.unpaid) for c in charges) + max(0, -credit)
        return Balance(apartment_id=apartment_id, debt=debt, credit=max(0, credit), charges=charges)


def _billed_by(charge: Charge) -> Invoice | None:
    """The live invoice holding this charge's key, or None when the charge is gone (its invoice was
    cancelled after our transaction met it)."""
    try:
        held = Charge.get(charge.apartment_id, charge.charge_key, consistent_read=True)
    except Charge.DoesNotExist:
        return None
    try:
        invoice = Invoice.get(held.invoice_id, consistent_read=True)
    except Invoice.DoesNotExist:
        return None
    return None if invoice.status == "cancelled" else invoice


def _same_bill(invoice: Invoice, apartment_id: str, period: str, items: Sequence[NewItem]) -> bool:
    """Same apartment, period and items, every field of every item; the order of the items aside."""

    def lines(entries: Iterable[Any]) -> list[tuple[Any, ...]]:
        return sorted(
            (e.service, e.title, int(e.amount), int(e.count), e.ikpu, e.package_code, int(e.vat_percent))
            for e in entries
        )

    return (
        invoice.apartment_id == apartment_id
        and invoice.period == period
        and lines(invoice.items) == lines(items)
    )


def _save_new(item: Invoice | Charge, condition: Condition) -> TxOp:
    return lambda t: t.save(item, condition=condition)


def _cancel_op(invoice: Invoice, now: int) -> TxOp:
    actions: list[Action] = [Invoice.status.set("cancelled"), Invoice.cancelled_at.set(now)]
    unpaid_and_free = (
        (Invoice.status == "open") & (Invoice.paid_amount == 0) & Invoice.active_payment.does_not_exist()
    )
    return lambda t: t.update(invoice, actions=actions, condition=unpaid_and_free)


def _delete_unpaid_charge(invoice: Invoice, key: str) -> TxOp:
    charge = Charge(invoice.apartment_id, key)
    # The key is the period and service: once this invoice is cancelled, a new invoice may hold it.
    mine = (Charge.invoice_id == invoice.invoice_id) & (Charge.paid_amount == 0)
    return lambda t: t.delete(charge, condition=mine)
