"""What reconciliation reads, through indexes and keys only (never a scan):

- Payme transactions and Click attempts by TransactionsTable's by_day index (one Query per day: Payme's
  days are UTC days of Payme's creation time, Click's Tashkent days of the Prepare), a window of days;
- postings by key (BatchGet of the payment keys the providers' rows name), and the day's postings by
  PostingsTable's by_day index (Tashkent day), for the ones no provider row of the day names;
- autopay periods with a receipt in flight: the autopays still due (AutopayTable's sharded by_due index,
  as the scheduler reads it) and the period each is due for, by key.
"""

from collections.abc import Iterable, Iterator
from datetime import UTC, date, timedelta
from typing import NamedTuple

from tolov.autopay.dynamo import DynamoAutopayStore
from tolov.autopay.schedule import shard_names
from tolov.click.attempt import ClickTx
from tolov.click.attempt import payment_key as click_payment_key
from tolov.click.dynamo import day_key as click_day
from tolov.click.dynamo import to_attempt
from tolov.clock import tashkent_date
from tolov.payme.dynamo import DynamoRepository
from tolov.payme.transaction import Transaction
from tolov.store.click_models import ClickTransaction
from tolov.store.models import Posting


class ClickRow(NamedTuple):
    tx: ClickTx
    confirmed_at: int | None


class Posted(NamedTuple):
    amount: int
    reversed: bool
    posted_at: int = 0


class InFlight(NamedTuple):
    autopay_id: str
    period: str
    receipt_id: str
    amount: int | None


def _tashkent_days(start: int, end: int) -> Iterator[date]:
    day, last = tashkent_date(start), tashkent_date(end)
    while day <= last:
        yield day
        day += timedelta(days=1)


class DynamoSources:
    def __init__(
        self, payme: DynamoRepository | None = None, autopay: DynamoAutopayStore | None = None
    ) -> None:
        self.payme_repository = payme or DynamoRepository()
        self.autopay = autopay or DynamoAutopayStore()

    def payme_created(self, start: int, end: int) -> list[Transaction]:
        """Payme transactions Payme created from `start` to `end` (ms, inclusive), any state."""
        return self.payme_repository.statement(start, end)

    def click_prepared(self, start: int, end: int) -> list[ClickRow]:
        found: list[ClickRow] = []
        for day in _tashkent_days(start, end):
            key = click_day(int(_midday(day)))
            for row in ClickTransaction.by_day.query(key, ClickTransaction.time.between(start, end)):
                confirmed = None if row.confirmed_at is None else int(row.confirmed_at)
                found.append(ClickRow(to_attempt(row), confirmed))
        return found

    def postings(self, keys: Iterable[str]) -> dict[str, Posted]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        return {p.payment_key: _posted(p) for p in Posting.batch_get(wanted)}

    def posted_on(self, day: date) -> dict[str, Posted]:
        """The ledger's postings of one Tashkent day (PostingsTable's by_day index)."""
        return {p.payment_key: _posted(p) for p in Posting.by_day.query(day.isoformat())}

    def payme(self, payme_id: str) -> Transaction | None:
        return self.payme_repository.get(payme_id)

    def click(self, click_trans_id: str) -> ClickRow | None:
        try:
            row = ClickTransaction.get(click_payment_key(click_trans_id), consistent_read=True)
        except ClickTransaction.DoesNotExist:
            return None
        return ClickRow(to_attempt(row), None if row.confirmed_at is None else int(row.confirmed_at))

    def autopay_in_flight(self, run_date: date, shards: int) -> list[InFlight]:
        found: list[InFlight] = []
        for shard in shard_names(shards):
            for autopay_id, period in self.autopay.due(shard, run_date.isoformat()):
                charge = self.autopay.period(autopay_id, period)
                if charge is None or charge.status != "open" or not charge.receipt_id:
                    continue
                if charge.phase not in (None, "pending"):
                    continue
                found.append(InFlight(autopay_id, period, charge.receipt_id, charge.amount))
        return found


def _posted(posting: Posting) -> Posted:
    return Posted(int(posting.amount), posting.reversed_at is not None, int(posting.posted_at))


def _midday(day: date) -> int:
    """A time inside the Tashkent day (12:00 +05 = 07:00 UTC), to name its by_day key."""
    from datetime import datetime

    return int(datetime(day.year, day.month, day.day, 7, tzinfo=UTC).timestamp() * 1000)
