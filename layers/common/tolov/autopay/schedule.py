"""The autopay calendar and the daily fan-out: which autopays a run charges, one queue message each.

An autopay charges its apartment's debt once per period (a month) on its day_of_month (1-28, so every
month has it). A run on date D charges every active autopay due on or before D: those whose day is D,
and those carried from earlier runs (insufficient funds retried, a debt below the minimum, a run missed
in an outage). The period a message carries is the one the autopay is due for: a retry stays in the
period of its first attempt, also when it falls in the next month.
"""

import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any, NamedTuple, Protocol

from tolov.autopay.repository import Due
from tolov.clock import tashkent_date

BATCH = 10  # SendMessageBatch takes at most 10 entries


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def charge_date(period: str, day_of_month: int) -> date:
    return date(int(period[:4]), int(period[5:7]), day_of_month)


def first_due(today: date, day_of_month: int) -> Due:
    """The first charge of a new autopay: its day this month, or next month's once this month's has passed."""
    this_month = period_of(today)
    period = this_month if charge_date(this_month, day_of_month) >= today else next_period(this_month)
    return Due(charge_date(period, day_of_month).isoformat(), period)


def next_cycle(period: str, day_of_month: int) -> Due:
    following = next_period(period)
    return Due(charge_date(following, day_of_month).isoformat(), following)


def next_run(run_date: date, period: str, day_of_month: int) -> Due:
    """The next daily run, in the same period; the next cycle once that run would reach it."""
    cycle = next_cycle(period, day_of_month)
    tomorrow = (run_date + timedelta(days=1)).isoformat()
    return Due(tomorrow, period) if tomorrow < cycle.date else cycle


def run_date(value: date | str | None, now: int) -> date:
    """The day a run charges for: today in Tashkent when not given; never a day that has not come yet
    (that would charge autopays before their day)."""
    today = tashkent_date(now)
    day = today if value is None else value if isinstance(value, date) else date.fromisoformat(value)
    if day > today:
        raise ValueError(f"{day} has not come yet in Tashkent (today is {today})")
    return day


def shard_of(autopay_id: str, shards: int) -> str:
    """Stable for an id: a due date moves within its shard."""
    return f"{zlib.crc32(autopay_id.encode()) % shards:03d}"


def shard_names(shards: int) -> list[str]:
    return [f"{n:03d}" for n in range(shards)]


class ChargeRequest(NamedTuple):
    """One queue message: charge this autopay for this period, as of this run."""

    autopay_id: str
    period: str
    run_date: date

    def message(self) -> dict[str, str]:
        return {"autopay_id": self.autopay_id, "period": self.period, "run_date": self.run_date.isoformat()}

    @classmethod
    def from_message(cls, message: Any) -> "ChargeRequest":
        if not isinstance(message, dict):
            raise ValueError("a charge message is a JSON object")
        autopay_id, period = message.get("autopay_id"), message.get("period")
        if not isinstance(autopay_id, str) or not autopay_id or not isinstance(period, str):
            raise ValueError("a charge message needs autopay_id and period")
        charge_date(period, 1)  # a real YYYY-MM, or ValueError
        return cls(autopay_id, period, date.fromisoformat(str(message.get("run_date"))))


class DueIndex(Protocol):
    def due(self, shard: str, run_date: str) -> Iterator[tuple[str, str]]: ...


class ChargeQueue(Protocol):
    def send(self, messages: Sequence[dict[str, str]]) -> int:
        """Send up to 10 messages; returns how many were accepted."""
        ...


class Scheduler:
    """A run reads every shard of the due index, each with its own Query, in parallel, and sends one
    message per autopay and period in batches of 10. Safe to repeat: the charger charges a period at
    most once, however many messages name it."""

    def __init__(self, index: DueIndex, queue: ChargeQueue, shards: int, workers: int = 8) -> None:
        self.index = index
        self.queue = queue
        self.shards = shard_names(shards)
        self.workers = max(1, min(workers, shards))

    def run(self, run_date: date) -> int:
        """How many messages this run sent."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="autopay-shard") as pool:
            return sum(pool.map(lambda shard: self._run_shard(shard, run_date), self.shards))

    def _run_shard(self, shard: str, run_date: date) -> int:
        sent = 0
        batch: list[dict[str, str]] = []
        for autopay_id, period in self.index.due(shard, run_date.isoformat()):
            batch.append(ChargeRequest(autopay_id, period, run_date).message())
            if len(batch) == BATCH:
                sent += self.queue.send(batch)
                batch = []
        if batch:
            sent += self.queue.send(batch)
        return sent
