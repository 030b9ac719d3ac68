"""Autopay's rows in AutopayTable (autopays, their periods and attempts, the active keys, the enrolment
links' claims), defined apart from the other parts' models so that only the functions that use them pay
for defining them."""

from pynamodb.attributes import BinaryAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from tolov.store.models import _Meta, _Model, register

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


register(
    {
        AutopayRecord: "autopay",
        AutopayPeriodRecord: "autopay",
        AutopayAttemptRecord: "autopay",
        AutopayActiveKey: "autopay",
        EnrolLinkClaim: "autopay",
    }
)
