"""The Payme Merchant API's rows in TransactionsTable (payme#<Payme id>), defined apart from the other parts'
models so that only the functions that use them pay for defining them (tolov.store.models says why)."""

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from tolov.store.models import _Meta, _Model, register


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


register({PaymeTransactionRecord: "transactions"})
