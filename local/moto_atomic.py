"""Make moto's DynamoDB answer one request at a time.

DynamoDB applies a conditional write or a TransactWriteItems atomically. moto 5 does not: its
transact_write_items checks conditions, writes, and on failure restores a deep copy of whole tables,
with no lock, so two threads can both pass a condition, or one can erase the other's committed write.
Serialising each DynamoDB request restores the atomicity our exactly-once rules rely on; our own code
still runs concurrently between requests, so read-then-write races in it stay visible to tests.
"""

import functools
import threading
from typing import Any

_lock = threading.RLock()
_patched = False


def make_dynamodb_atomic() -> None:
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patched = True
