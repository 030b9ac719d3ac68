"""tolov's PynamoDB models: their base, their binding to the stage's tables, and billing's.

Billing's tables (Apartments, Invoices, Charges, Postings) are defined here; the other parts' rows are in
payme_models, click_models (TransactionsTable), autopay_models (AutopayTable) and audit_models
(AuditTable). The packages above map them to their own domain types. Table names, region and endpoint come
from tolov.settings, bound once per container by bind() (first use binds the container's settings if
nobody did).

Every model and connection() go through tolov.aws: one botocore session and one DynamoDB client per
container (PynamoDB would make a session per model and per thread, and a client per model), with
time-outs that end inside the function's budget.
"""

from functools import cache
from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from tolov import aws
from tolov.settings import Settings, get_settings


class _SharedConnection(Connection):
    """A PynamoDB connection on the container's session and DynamoDB client (thread-safe once made)."""

    @property
    def session(self) -> Any:
        return aws.session()

    @property
    def client(self) -> Any:
        return aws.client("dynamodb", region=self.region, endpoint_url=self.host)


class _Meta:
    region = "us-east-1"
    host: str | None = None


class _Model(Model):
    """Binds the container's settings before the first call reaches DynamoDB."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        if _bound is None:
            bind(get_settings())
        made = super()._get_connection()
        if not isinstance(made.connection, _SharedConnection):  # just made by PynamoDB, for this model
            shared = _SharedConnection(region=made.connection.region, host=made.connection.host)
            shared.add_meta_table(made.get_meta_table())
            made.connection = shared
        return made


class Apartment(_Model):
    class Meta(_Meta):
        table_name = "ApartmentsTable"

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


class Invoice(_Model):
    class Meta(_Meta):
        table_name = "InvoicesTable"

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


class Charge(_Model):
    """One line of an apartment's ledger: what is owed for a service in a period, and what is paid."""

    class Meta(_Meta):
        table_name = "ChargesTable"

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


class PostingsByDay(GlobalSecondaryIndex["Posting"]):
    """The postings of one Tashkent day, for reconciliation (sparse: rows from before it have no day)."""

    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    posted_day = UnicodeAttribute(hash_key=True)
    payment_key = UnicodeAttribute(range_key=True)


class Posting(_Model):
    """A payment posted to the ledger; its key, provider#provider_transaction_id, makes it exactly-once."""

    class Meta(_Meta):
        table_name = "PostingsTable"

    payment_key = UnicodeAttribute(hash_key=True)
    apartment_id = UnicodeAttribute()
    invoice_id = UnicodeAttribute(null=True)  # set for a one-time (invoice) account
    amount = NumberAttribute()
    allocations = ListAttribute(of=Allocation)
    credit_added = NumberAttribute(default=0)
    posted_at = NumberAttribute()
    posted_day = UnicodeAttribute(null=True)  # YYYY-MM-DD, Tashkent, of posted_at
    reversed_at = NumberAttribute(null=True)
    reversal_reason = UnicodeAttribute(null=True)

    by_day = PostingsByDay()


# ---------------------------------------------------------------------- binding
# Each model's table, by its name in settings.tables. Billing's models are defined here, since every
# function that reaches DynamoDB uses them; each other part's are in a module of their own (payme_models,
# click_models, autopay_models, audit_models), registered when it is first imported: a function defines
# the models it uses, not all fourteen (PynamoDB's class set-up costs a cold start ~2 M instructions,
# about 0.35 ms CPU, a model).
_TABLES: dict[type[_Model], str] = {}
_bound: Settings | None = None  # what bind() last pointed the models at


def _point(tables: dict[type[_Model], str], settings: Settings) -> None:
    for model, table in tables.items():
        model.Meta.table_name = getattr(settings.tables, table)
        model.Meta.region = settings.region
        model.Meta.host = settings.dynamodb_endpoint
        model._connection = None


def register(tables: dict[type[_Model], str]) -> None:
    """Add a part's models, pointed at once if the container's settings are already bound."""
    _TABLES.update(tables)
    if _bound is not None:
        _point(tables, _bound)


def bind(settings: Settings) -> None:
    """Point every model at the stage's tables, region and endpoint (again, after a settings change)."""
    global _bound
    _point(_TABLES, settings)
    connection.cache_clear()
    _bound = settings


register({Apartment: "apartments", Invoice: "invoices", Charge: "charges", Posting: "postings"})


# Every DynamoDB operation tolov sends (PynamoDB's models, the engine's transactions, the fan-out reads).
STORE_OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
)


@cache
def connection() -> Connection:
    """The connection transactions across tables go through."""
    if _bound is None:
        bind(get_settings())
    return _SharedConnection(region=Posting.Meta.region, host=Posting.Meta.host)


def connect() -> None:
    """Make the DynamoDB client now: called by the handlers' Wiring builds, in Lambda's init phase, so that
    the first request does not pay for the client (nor, in a fresh container, for the session), nor for
    botocore's model of each operation the store sends (built from the service JSON on first use, then kept
    by the client's service model)."""
    service = connection().client.meta.service_model
    for operation in STORE_OPERATIONS:
        service.operation_model(operation)
