"""PynamoDB models of the billing tables. Table names come from the environment (template.yaml)."""

import os
from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


def _table(env_name: str, default: str) -> str:
    return os.environ.get(env_name, default)


class _Meta:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # PynamoDB does not read AWS_ENDPOINT_URL itself; the local stack and tests set it.
    host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None


class Apartment(Model):
    class Meta(_Meta):
        table_name = _table("APARTMENTS_TABLE", "ApartmentsTable")

    apartment_id = UnicodeAttribute(hash_key=True)
    label = UnicodeAttribute()
    resident_id = UnicodeAttribute()
    # Overpayment kept for the next invoice. Negative after a reversal of credit already consumed:
    # that is debt not tied to a charge.
    credit = NumberAttribute(default=0)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class InvoiceItem(MapAttribute[str, Any]):
    service = UnicodeAttribute()
    title = UnicodeAttribute()
    amount = NumberAttribute()  # unit price, tiyin
    count = NumberAttribute()
    ikpu = UnicodeAttribute()
    package_code = UnicodeAttribute()
    vat_percent = NumberAttribute()
    charge_key = UnicodeAttribute()


class InvoicesByApartment(GlobalSecondaryIndex["Invoice"]):
    class Meta:
        index_name = "by_apartment"
        projection = AllProjection()

    apartment_id = UnicodeAttribute(hash_key=True)
    period = UnicodeAttribute(range_key=True)


class Invoice(Model):
    class Meta(_Meta):
        table_name = _table("INVOICES_TABLE", "InvoicesTable")

    invoice_id = UnicodeAttribute(hash_key=True)
    apartment_id = UnicodeAttribute()
    period = UnicodeAttribute()
    items = ListAttribute(of=InvoiceItem)
    amount = NumberAttribute()
    paid_amount = NumberAttribute(default=0)
    status = UnicodeAttribute()  # open | paid | cancelled
    # The payment key (provider#id) of the one payment attempt that currently reserves this invoice.
    active_payment = UnicodeAttribute(null=True)
    active_payment_at = NumberAttribute(null=True)  # when that attempt took the reservation, ms
    # payment key -> tiyin posted to this invoice by that payment ("credit" for consumed overpayment).
    payments = MapAttribute[str, Any](default=dict)  # type: ignore[no-untyped-call]
    due_date = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    cancelled_at = NumberAttribute(null=True)

    by_apartment = InvoicesByApartment()


class Charge(Model):
    """One line of an apartment's ledger: what is owed for a service in a period, and what is paid."""

    class Meta(_Meta):
        table_name = _table("CHARGES_TABLE", "ChargesTable")

    apartment_id = UnicodeAttribute(hash_key=True)
    # period#service: one charge per apartment, period and service (a cancelled invoice's are deleted);
    # the sort order is the allocation order (oldest period, then service).
    charge_key = UnicodeAttribute(range_key=True)
    invoice_id = UnicodeAttribute()
    period = UnicodeAttribute()
    service = UnicodeAttribute()
    title = UnicodeAttribute()
    amount = NumberAttribute()
    paid_amount = NumberAttribute(default=0)
    # amount - paid_amount, kept on every write so open charges can be filtered server-side.
    unpaid = NumberAttribute()


class Allocation(MapAttribute[str, Any]):
    charge_key = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    amount = NumberAttribute()


class Posting(Model):
    """A payment posted to the ledger; its key, provider#provider_transaction_id, makes it exactly-once."""

    class Meta(_Meta):
        table_name = _table("POSTINGS_TABLE", "PostingsTable")

    payment_key = UnicodeAttribute(hash_key=True)
    apartment_id = UnicodeAttribute()
    invoice_id = UnicodeAttribute(null=True)  # set for a one-time (invoice) account
    amount = NumberAttribute()
    allocations = ListAttribute(of=Allocation)
    credit_added = NumberAttribute(default=0)
    posted_at = NumberAttribute()
    reversed_at = NumberAttribute(null=True)
    reversal_reason = UnicodeAttribute(null=True)
