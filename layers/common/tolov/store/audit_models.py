"""The audit trail's rows in AuditTable, defined apart from the other parts' models so that only the
functions that use them pay for defining them."""

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from tolov.store.models import _Meta, _Model, register


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


register({AuditRecord: "audit"})
