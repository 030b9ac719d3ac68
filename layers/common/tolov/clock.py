"""Time as integer milliseconds UTC, injectable so tests can move it."""

import time
from collections.abc import Callable

Clock = Callable[[], int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
