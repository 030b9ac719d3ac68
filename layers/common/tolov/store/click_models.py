"""The Click SHOP-API's rows in TransactionsTable (its attempts and their prepare-id aliases), defined apart
from the other parts' models so that only the functions that use them pay for defining them."""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from tolov.store.models import _Meta, _Model, register


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


register({ClickTransaction: "transactions", ClickPrepareAlias: "transactions"})
