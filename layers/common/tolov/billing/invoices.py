"""Apartments, invoices and balances: what the housing platform sends us and asks of us."""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from tolov.billing.errors import ApartmentNotFound, InvoiceBusy, LedgerContention
from tolov.billing.ledger import Ledger, TxOp, allocate, attempts, commit, error_code
from tolov.clock import Clock, now_ms
from tolov.store.models import Apartment, Charge, Invoice, InvoiceItem, Posting

CREDIT_PAYMENT_KEY = "credit"
# 1 invoice + its charges + the apartment must fit in one TransactWrite (100 operations).
MAX_ITEMS_PER_INVOICE = 50


@dataclass(frozen=True)
class NewItem:
    service: str
    title: str
    amount: int  # unit price, tiyin
    count: int
    ikpu: str
    package_code: str
    vat_percent: int

    @property
    def total(self) -> int:
        return self.amount * self.count


@dataclass(frozen=True)
class Balance:
    apartment_id: str
    debt: int
    credit: int
    charges: list[Charge]


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
            apartment.save(condition=Apartment.apartment_id.does_not_exist())
            return apartment, True
        except PutError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
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
    def create_invoice(
        self, apartment_id: str, period: str, items: Sequence[NewItem], due_date: str | None = None
    ) -> Invoice:
        """Store the invoice and one ledger charge per item; apartment credit pays the new charges first."""
        if not items or len(items) > MAX_ITEMS_PER_INVOICE:
            raise ValueError(f"an invoice has 1 to {MAX_ITEMS_PER_INVOICE} items")
        for _ in attempts():
            apartment = self.ledger.apartment(apartment_id)
            invoice_id = new_invoice_id()
            now = self.clock()
            charges = [
                Charge(
                    apartment_id,
                    f"{period}#{item.service}#{invoice_id}",
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
            for charge_key, part in used:
                charge = next(c for c in charges if c.charge_key == charge_key)
                charge.paid_amount = part
                charge.unpaid = int(charge.amount) - part
            credit_used = sum(part for _, part in used)
            amount = sum(item.total for item in items)
            invoice = Invoice(
                invoice_id,
                apartment_id=apartment_id,
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
                created_at=now,
            )
            ops: list[TxOp] = [_save_new(invoice, Invoice.invoice_id.does_not_exist())]
            ops.extend(_save_new(c, Charge.charge_key.does_not_exist()) for c in charges)
            ops.append(self._apartment_op(apartment, credit_used))
            if commit(ops, caller_start=len(ops)) is None:
                return invoice
        raise LedgerContention(apartment_id)

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
        paid_by: dict[str, int] = invoice.payments.as_dict() if invoice.payments else {}
        keys = [k for k in paid_by if k != CREDIT_PAYMENT_KEY]
        postings = sorted(Posting.batch_get(keys), key=lambda p: int(p.posted_at)) if keys else []
        return invoice, postings

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
            ops.extend(_delete_unpaid_charge(invoice.apartment_id, item.charge_key) for item in invoice.items)
            if commit(ops, caller_start=len(ops)) is None:
                invoice.status, invoice.cancelled_at = "cancelled", now
                return invoice
        raise LedgerContention(invoice_id)

    # ------------------------------------------------------------------ balance
    def balance(self, apartment_id: str) -> Balance:
        try:
            apartment = Apartment.get(apartment_id)
        except Apartment.DoesNotExist:
            raise ApartmentNotFound(apartment_id) from None
        charges = list(Charge.query(apartment_id, filter_condition=Charge.unpaid > 0))
        credit = int(apartment.credit)
        debt = sum(int(c.unpaid) for c in charges) + max(0, -credit)
        return Balance(apartment_id=apartment_id, debt=debt, credit=max(0, credit), charges=charges)


def _save_new(item: Invoice | Charge, condition: Condition) -> TxOp:
    return lambda t: t.save(item, condition=condition)


def _cancel_op(invoice: Invoice, now: int) -> TxOp:
    actions: list[Action] = [Invoice.status.set("cancelled"), Invoice.cancelled_at.set(now)]
    unpaid_and_free = (
        (Invoice.status == "open") & (Invoice.paid_amount == 0) & Invoice.active_payment.does_not_exist()
    )
    return lambda t: t.update(invoice, actions=actions, condition=unpaid_and_free)


def _delete_unpaid_charge(apartment_id: str, charge_key: str) -> TxOp:
    charge = Charge(apartment_id, charge_key)
    return lambda t: t.delete(charge, condition=Charge.paid_amount == 0)
