"""Every PynamoDB model of tolov, and their binding to the stage's tables.

Billing's tables (Apartments, Invoices, Charges, Postings) and the providers' rows in TransactionsTable
(Payme transactions, Click attempts and their prepare-id aliases) are all defined here; the packages
above map them to their own domain types. Table names, region and endpoint come from tolov.settings,
bound once per container by bind() (first use binds the container's settings if nobody did).

Every model and connection() go through tolov.aws: one botocore session and one DynamoDB client per
container (PynamoDB would make a session per model and per thread, and a client per model), with
time-outs that end inside the function's budget.
"""

from functools import cache
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
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
        if not _bound:
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


class PaymeByDay(GlobalSecondaryIndex["PaymeTransactionRecord"]):
    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    day_key = UnicodeAttribute(hash_key=True)
    time = NumberAttribute(range_key=True)


class PaymeTransactionRecord(_Model):
    """A Payme Merchant API transaction (TransactionsTable, payme#<Payme id>)."""

    class Meta(_Meta):
        table_name = "TransactionsTable"

    tx_key = UnicodeAttribute(hash_key=True)  # payme#<Payme id>
    day_key = UnicodeAttribute()  # payme#YYYY-MM-DD of `time`, UTC
    time = NumberAttribute()  # Payme's creation time
    payme_id = UnicodeAttribute()
    amount = NumberAttribute()
    account = JSONAttribute()  # exactly as Payme sent it, for GetStatement
    account_kind = UnicodeAttribute()  # invoice | apartment
    account_ref = UnicodeAttribute()  # invoice id or apartment id
    create_time = NumberAttribute()
    perform_time = NumberAttribute(default=0)
    cancel_time = NumberAttribute(default=0)
    transaction = UnicodeAttribute()
    state = NumberAttribute()
    reason = NumberAttribute(null=True)
    fiscal_perform = JSONAttribute(null=True)
    fiscal_cancel = JSONAttribute(null=True)

    by_day = PaymeByDay()


class ClickByDay(GlobalSecondaryIndex["ClickTransaction"]):
    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    day_key = UnicodeAttribute(hash_key=True)
    time = NumberAttribute(range_key=True)


class ClickTransaction(_Model):
    """A Click SHOP-API payment attempt (TransactionsTable, click#<click_trans_id>)."""

    class Meta(_Meta):
        table_name = "TransactionsTable"

    tx_key = UnicodeAttribute(hash_key=True)  # click#<click_trans_id>
    click_trans_id = UnicodeAttribute()
    click_paydoc_id = UnicodeAttribute()
    merchant_trans_id = UnicodeAttribute()
    account = UnicodeAttribute()  # invoice | apartment
    amount = NumberAttribute()  # tiyin
    prepare_id = NumberAttribute()  # merchant_prepare_id, also returned as merchant_confirm_id
    state = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)  # why cancelled, or why the ledger refused the payment
    click_error = NumberAttribute(null=True)  # Click's negative error on a cancelling Complete
    sign_time = UnicodeAttribute()
    created_at = NumberAttribute()
    confirmed_at = NumberAttribute(null=True)
    cancelled_at = NumberAttribute(null=True)
    reversed_at = NumberAttribute(null=True)
    confirm_token = UnicodeAttribute(null=True)  # the Complete request that confirmed it
    # The click_trans_id of the Complete that confirmed or cancelled it, when not the Prepare's own.
    complete_click_trans_id = UnicodeAttribute(null=True)
    # The by_day index: click#YYYY-MM-DD (Tashkent) and the Prepare time, for reconciliation.
    day_key = UnicodeAttribute()
    time = NumberAttribute()

    by_day = ClickByDay()


class ClickPrepareAlias(_Model):
    """merchant_prepare_id -> the attempt its Prepare created (TransactionsTable, click#prepare#<id>)."""

    class Meta(_Meta):
        table_name = "TransactionsTable"

    tx_key = UnicodeAttribute(hash_key=True)
    click_trans_id = UnicodeAttribute()


# ---------------------------------------------------------------------- autopay (AutopayTable)
# One table, keyed pk + sk: an autopay (pk = autopay id, sk "autopay"), its periods ("period#YYYY-MM"), its
# attempts ("attempt#<ms>#<tag>", sorted by time), and the one-active-autopay key of an apartment and
# provider (pk "active#<apartment>#<provider>", sk "active").
AUTOPAY_SK = "autopay"
ACTIVE_SK = "active"


class AutopayDue(GlobalSecondaryIndex["AutopayRecord"]):
    """Sparse: only active autopays carry due_shard. The shard spreads one day's 100 000 autopays over
    several partitions, each read by its own Query of due_key <= "<run date>#~"."""

    class Meta:
        index_name = "by_due"
        projection = IncludeProjection(["due_period"])

    due_shard = UnicodeAttribute(hash_key=True)
    due_key = UnicodeAttribute(range_key=True)  # YYYY-MM-DD#<autopay id>


class AutopaysByApartment(GlobalSecondaryIndex["AutopayRecord"]):
    class Meta:
        index_name = "by_apartment"
        projection = AllProjection()

    apartment_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class AutopayRecord(_Model):
    class Meta(_Meta):
        table_name = "AutopayTable"

    autopay_id = UnicodeAttribute(hash_key=True, attr_name="pk")
    sk = UnicodeAttribute(range_key=True, default=AUTOPAY_SK)
    apartment_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    card_number = UnicodeAttribute()  # masked, as Payme shows it
    card_expire = UnicodeAttribute()
    card_token = BinaryAttribute(legacy_encoding=False)  # KMS ciphertext, bound to the autopay id
    day_of_month = NumberAttribute()
    max_amount = NumberAttribute()
    status = UnicodeAttribute()  # active | inactive
    inactive_reason = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    card_removed_at = NumberAttribute(null=True)
    # autopay.failed's facts, written with the deactivation: AutopayTable's stream carries them to
    # EventPublisherFunction (tolov.events), at least once, with the same event id on every retry.
    pending_event = JSONAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)
    due_key = UnicodeAttribute(null=True)
    due_period = UnicodeAttribute(null=True)  # the period the due date charges

    by_due = AutopayDue()
    by_apartment = AutopaysByApartment()


class AutopayPeriodRecord(_Model):
    """The charge of one autopay for one period: its state machine and the receipt it holds."""

    class Meta(_Meta):
        table_name = "AutopayTable"

    autopay_id = UnicodeAttribute(hash_key=True, attr_name="pk")
    sk = UnicodeAttribute(range_key=True)  # period#YYYY-MM
    period = UnicodeAttribute()
    status = UnicodeAttribute()  # open | paid | closed
    receipt_id = UnicodeAttribute(null=True)  # stored before receipts.pay
    receipt_at = NumberAttribute(null=True)  # when that receipt was created: its attempt's sort key
    amount = NumberAttribute(null=True)
    phase = UnicodeAttribute(null=True)  # pending (pay not known to have failed) | declined (cancel it)
    declines = NumberAttribute(default=0)  # runs declined for insufficient funds
    decided_run = UnicodeAttribute(null=True)  # the run date whose outcome is already recorded
    # Where the autopay's due date goes once this period's outcome is recorded (applied idempotently).
    next_due = UnicodeAttribute(null=True)
    next_period = UnicodeAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    updated_at = NumberAttribute()


class AutopayAttemptRecord(_Model):
    class Meta(_Meta):
        table_name = "AutopayTable"

    autopay_id = UnicodeAttribute(hash_key=True, attr_name="pk")
    sk = UnicodeAttribute(range_key=True)  # attempt#<13-digit ms>#<receipt id or a random tag>
    period = UnicodeAttribute()
    receipt_id = UnicodeAttribute(null=True)
    amount = NumberAttribute()
    outcome = UnicodeAttribute()  # paid | declined | failed | in_flight | skipped
    error_code = NumberAttribute(null=True)
    at = NumberAttribute()


class AutopayActiveKey(_Model):
    """Held by the one active autopay of an apartment and provider: put on condition that it is absent."""

    class Meta(_Meta):
        table_name = "AutopayTable"

    key = UnicodeAttribute(hash_key=True, attr_name="pk")  # active#<apartment id>#<provider>
    sk = UnicodeAttribute(range_key=True, default=ACTIVE_SK)
    autopay_id = UnicodeAttribute()


ENROL_LINK_SK = "enrol_link"


class EnrolLinkClaim(_Model):
    """A used autopay-enrolment link (tolov.autopay.links): taken on condition that it is free or taken by
    the same card, so a link enrols once and its own retry is recognised."""

    class Meta(_Meta):
        table_name = "AutopayTable"

    key = UnicodeAttribute(hash_key=True, attr_name="pk")  # enrol_link#<nonce>
    sk = UnicodeAttribute(range_key=True, default=ENROL_LINK_SK)
    card = UnicodeAttribute()  # a keyed hash of the card token, never the token
    autopay_id = UnicodeAttribute(null=True)  # set once the enrolment it made is recorded
    expires_at = NumberAttribute()
    claimed_at = NumberAttribute()


# ---------------------------------------------------------------------- audit (AuditTable)
class _AuditIndex(GlobalSecondaryIndex["AuditRecord"]):
    class Meta:
        projection = AllProjection()


class AuditByInvoice(_AuditIndex):
    class Meta(_AuditIndex.Meta):
        index_name = "by_invoice"

    invoice_id = UnicodeAttribute(hash_key=True)
    audit_id = UnicodeAttribute(range_key=True)


class AuditByApartment(_AuditIndex):
    class Meta(_AuditIndex.Meta):
        index_name = "by_apartment"

    apartment_id = UnicodeAttribute(hash_key=True)
    audit_id = UnicodeAttribute(range_key=True)


class AuditByTransaction(_AuditIndex):
    class Meta(_AuditIndex.Meta):
        index_name = "by_transaction"

    tx_key = UnicodeAttribute(hash_key=True)
    audit_id = UnicodeAttribute(range_key=True)


class AuditRecord(_Model):
    """One provider request and our reply, masked. The id starts with the 13-digit time, so every index
    (sparse: a row carries only the keys its request named) reads oldest first."""

    class Meta(_Meta):
        table_name = "AuditTable"
        # An audit write must never hold up a provider's reply: short timeouts, no retries.
        connect_timeout_seconds = 1
        read_timeout_seconds = 1
        max_retry_attempts = 0

    audit_id = UnicodeAttribute(hash_key=True)  # <13-digit ms>#<random>
    provider = UnicodeAttribute()
    operation = UnicodeAttribute()  # Payme method or Click action
    at = NumberAttribute()
    request = JSONAttribute()
    reply = JSONAttribute()
    error_code = NumberAttribute(null=True)  # Payme's error code, Click's `error`
    source_ip = UnicodeAttribute(null=True)
    tx_key = UnicodeAttribute(null=True)  # <provider>#<provider transaction id>
    invoice_id = UnicodeAttribute(null=True)
    apartment_id = UnicodeAttribute(null=True)
    account_ref = UnicodeAttribute(null=True)  # the account as the provider named it
    expires_at = NumberAttribute()  # epoch seconds: DynamoDB's TTL removes the row after it

    by_invoice = AuditByInvoice()
    by_apartment = AuditByApartment()
    by_transaction = AuditByTransaction()


# ---------------------------------------------------------------------- binding
_bound = False

_TABLES: dict[type[_Model], str] = {
    Apartment: "apartments",
    Invoice: "invoices",
    Charge: "charges",
    Posting: "postings",
    PaymeTransactionRecord: "transactions",
    ClickTransaction: "transactions",
    ClickPrepareAlias: "transactions",
    AutopayRecord: "autopay",
    AutopayPeriodRecord: "autopay",
    AutopayAttemptRecord: "autopay",
    AutopayActiveKey: "autopay",
    EnrolLinkClaim: "autopay",
    AuditRecord: "audit",
}


def bind(settings: Settings) -> None:
    """Point every model at the stage's tables, region and endpoint (again, after a settings change)."""
    global _bound
    for model, table in _TABLES.items():
        model.Meta.table_name = getattr(settings.tables, table)
        model.Meta.region = settings.region
        model.Meta.host = settings.dynamodb_endpoint
        model._connection = None
    connection.cache_clear()
    _bound = True


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
    if not _bound:
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
