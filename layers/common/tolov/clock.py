"""Time as integer milliseconds UTC, injectable so tests can move it; the Tashkent business day."""

import datetime
import time
from collections.abc import Callable

Clock = Callable[[], int]

# Statements, reconciliation and the autopay schedule go by the Tashkent day (UTC+5, no DST since 1991):
# a fixed offset, so nothing depends on the runtime's time zone database.
TASHKENT = datetime.timezone(datetime.timedelta(hours=5))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def tashkent_date(time_ms: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(time_ms / 1000, TASHKENT).date()
