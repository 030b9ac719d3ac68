"""The write engine: one DynamoDB TransactWrite of many conditional operations, and what its failures mean.

Everything above the store speaks in these terms and never in PynamoDB's: an operation (TxOp) adds one
conditional item to a transaction; a transaction commits or names the operations whose condition failed;
a single-item write that loses its condition raises ConditionFailed; a failure that tells us nothing (a
throttle, a time-out, a dropped connection) raises StoreUnavailable, since the write may or may not have
landed and only a fresh read can tell.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from tolov.store.models import connection

__all__ = [
    "Action",
    "CallerConditionFailed",
    "Condition",
    "ConditionFailed",
    "StoreFailure",
    "StoreUnavailable",
    "TransactWrite",
    "TxOp",
    "commit",
    "conditional",
    "error_code",
    "is_conditional_failure",
    "transact",
    "unavailable_on_failure",
]

TxOp = Callable[[TransactWrite], None]


class StoreUnavailable(Exception):
    """The store did not answer (throttling, time-out, network): nothing is known about the write."""


# Any failure of a PynamoDB call that nothing above translated: for edges that map "the store failed" to
# one reply (the billing API's 503) without importing PynamoDB.
StoreFailure = PynamoDBException


class ConditionFailed(Exception):
    """A single-item conditional write found the item not as the condition required."""


class CallerConditionFailed(Exception):
    """An operation a caller added to a transaction (index among the caller's ops) failed its condition."""

    def __init__(self, index: int) -> None:
        super().__init__(f"caller operation {index} failed its condition")
        self.index = index


def error_code(error: PynamoDBException) -> str | None:
    """DynamoDB's error code, or None for a failure without one (a timeout, a dropped connection).
    PynamoDB's own cause_response_code raises AttributeError for those."""
    return error.cause_response_code if isinstance(error.cause, ClientError) else None


def is_conditional_failure(error: BaseException) -> bool:
    """The one test for "the condition of this write failed" (every other failure is unknown outcome)."""
    return isinstance(error, PynamoDBException) and error_code(error) == "ConditionalCheckFailedException"


@contextmanager
def unavailable_on_failure() -> Iterator[None]:
    """Turn PynamoDB's and botocore's failures inside the block into StoreUnavailable."""
    try:
        yield
    except (PynamoDBException, BotoCoreError) as error:
        code = error_code(error) if isinstance(error, PynamoDBException) else None
        raise StoreUnavailable(code or type(error).__name__) from error


def conditional[T](write: Callable[[], T]) -> T:
    """Run a single-item conditional write: its lost condition raises ConditionFailed, anything else that
    failed StoreUnavailable."""
    try:
        return write()
    except PynamoDBException as error:
        if is_conditional_failure(error):
            raise ConditionFailed(str(error)) from None
        raise StoreUnavailable(error_code(error) or type(error).__name__) from error


class _TrackedTransactWrite(TransactWrite):
    """Remembers which of our ops added each item: PynamoDB sends items grouped by kind
    (condition checks, deletes, puts, updates), and DynamoDB's cancellation reasons follow that order."""

    KINDS = ("condition_check", "delete", "save", "update")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.current_op = 0
        self.calls: list[tuple[str, int]] = []

    def condition_check(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("condition_check", self.current_op))
        super().condition_check(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("delete", self.current_op))
        super().delete(*args, **kwargs)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("save", self.current_op))
        super().save(*args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("update", self.current_op))
        super().update(*args, **kwargs)

    def owners(self) -> list[int]:
        """owners()[i] is the index of the op that added the i-th item sent to DynamoDB."""
        return [op for kind in self.KINDS for k, op in self.calls if k == kind]


def transact(ops: Sequence[TxOp]) -> frozenset[int] | None:
    """Run ops in one TransactWrite. None when it committed; otherwise the indices of the ops whose
    condition failed (empty when DynamoDB cancelled it for another reason, such as a conflicting
    transaction). Any other failure, a lost reply among them, raises StoreUnavailable: the write may
    have landed, and only a fresh read can tell."""
    transaction = _TrackedTransactWrite(connection=connection())
    try:
        with transaction:
            for index, op in enumerate(ops):
                transaction.current_op = index
                op(transaction)
    except TransactWriteError as error:
        code = error_code(error)
        if code != "TransactionCanceledException":
            raise StoreUnavailable(code or type(error.cause or error).__name__) from error
        owners = transaction.owners()
        return frozenset(
            owners[i]
            for i, reason in enumerate(error.cancellation_reasons)
            if reason is not None and reason.code == "ConditionalCheckFailed"
        )
    return None


def commit(ops: Sequence[TxOp], *, caller_start: int) -> str | None:
    """Run ops in one TransactWrite, ops[caller_start:] being a caller's. Returns None on success,
    "first" when op 0 (not a caller's) failed its condition, "retry" for any other conflict of ours;
    raises CallerConditionFailed for a caller op (with caller_start=0 every op is the caller's)."""
    failed = transact(ops)
    if failed is None:
        return None
    if 0 in failed and caller_start > 0:
        return "first"
    caller_failed = sorted(i for i in failed if i >= caller_start)
    if caller_failed:
        raise CallerConditionFailed(caller_failed[0] - caller_start)
    return "retry"
