"""What Lambda's pollers of the local event sources share: threads that run a batch after another until
stopped, one line per batch, and how a response with ``ReportBatchItemFailures`` is read.

``local.sqs`` (queues) and ``local.streams`` (DynamoDB streams) each say how a batch is received, shaped
into the function's event and settled; this runs them.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.console import say, warn

Invoke = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class BatchOutcome:
    received: int
    failed: int
    elapsed_ms: float
    error: str | None = None  # why the whole batch failed


class Poller:
    """``poll_once()`` runs a batch (None when there was nothing), ``start()`` polls until ``stop()``."""

    name = "poller"
    idle_seconds = 0.0  # how long a poller waits when a poll found nothing (an SQS long poll waits itself)

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def concurrency(self) -> int:
        return 1

    def poll_once(self) -> BatchOutcome | None:
        raise NotImplementedError

    def describe(self, outcome: BatchOutcome) -> str:
        raise NotImplementedError

    def start(self) -> None:
        for number in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"{self.name}-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float) -> None:
        """No new batch starts; a batch being handled finishes (within timeout seconds)."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                outcome = self.poll_once()
                failing = False
            except Exception as error:  # moto not there (yet, or any more): say so once, keep trying
                if not failing and not self._stopping.is_set():
                    warn(f"{self.name}: {type(error).__name__}: {error}; retrying")
                failing = True
                self._stopping.wait(1.0)
                continue
            if outcome is not None:
                say(self.describe(outcome))
            elif self.idle_seconds:
                self._stopping.wait(self.idle_seconds)


def reported_failures(response: Any, everything: set[str]) -> tuple[set[str], str | None]:
    """ReportBatchItemFailures as Lambda reads the response: failures must name records of the batch."""
    if response is None or (isinstance(response, dict) and not response.get("batchItemFailures")):
        return set(), None
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not isinstance(failures, list):
        return everything, "malformed batchItemFailures"
    named = {item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures}
    if not named <= everything:
        return everything, "batchItemFailures names a record that is not in the batch"
    return {str(identifier) for identifier in named}, None
