"""The container's one botocore session, the clients made from it, and the time every AWS call may take.

A new botocore session costs a cold container about 43 ms (its loaders read the service models again); a
client made from a session that already made one costs about 2 ms. PynamoDB makes a session per model and
per thread of its own accord, and boto3.client() goes through boto3's default session: so every client of
tolov (every PynamoDB model, Secrets Manager, SQS, KMS, EventBridge, Scheduler, S3) is made here, from one
session, once per service, region and endpoint. botocore clients are thread-safe once made; making them is
not, hence the lock.

Every call ends inside the function's budget (see ATTEMPTS below): a stalled AWS service must turn into
the protocol's own retryable answer (Payme -32400, Click -7, the billing API's 503), not API Gateway's 5xx
after the Lambda timed out. No tolov domain package is imported here.
"""

import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from threading import Lock
from typing import Any, Protocol

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError

# ---------------------------------------------------------------------- the time-out budget
# WHY these numbers: the Payme and Click functions time out at 10 s (template Globals), the others later.
# DynamoDB answers in single-digit milliseconds and a TCP connect inside the region takes about 1 ms, so
# a connect that has not happened in 1 s or a reply not started in 2 s is a stalled service, not a slow
# one. Two attempts (one retry, standard mode: throttles and transient errors) with botocore's standard
# backoff (up to 1 s before the second attempt) make one call's worst case
#     ATTEMPTS * (CONNECT + READ) + 1 s = 2 * 3 + 1 = 7 s,
# which leaves 3 s of a 10 s function to answer (tests/template checks every function's Timeout against
# CALL_WORST_CASE_SECONDS + ANSWER_ROOM_SECONDS). A request makes several calls in sequence (a Click round
# after a failed one, the audit write after the reply is decided), so within an invocation the deadline
# guard below refuses to start an attempt that could not end with ANSWER_ROOM_SECONDS to spare: whatever
# the number of calls, the handler answers before Lambda stops it. Payme and Click resend a request that
# got their protocol's retry answer, so one retry of ours is enough.
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
ATTEMPTS = 2
BACKOFF_CAP_SECONDS = 1.0  # standard mode: random(0, 1) * 2 ** (attempt - 1) s before each retry
CALL_WORST_CASE_SECONDS = ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + BACKOFF_CAP_SECONDS
# What a handler needs after its last AWS call gave up: build the reply, log, flush the metrics.
ANSWER_ROOM_SECONDS = 1.0
# One attempt started with less than this left of the invocation could outlast it.
ATTEMPT_MARGIN_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS + ANSWER_ROOM_SECONDS

# The last resort of a request, Click's queued Complete after a debit (tolov.click.complete_queue): a
# client of its own, shorter time-outs, and time the other clients' calls leave for it. A handler that may
# need it (ClickShopFunction) runs under keeping_fallback_time: there, no other attempt starts unless one
# fallback attempt and the answer still fit after it, so a stalled DynamoDB cannot eat the time in which
# the Complete is recorded elsewhere.
FALLBACK_TIMEOUT_SECONDS = 1.0  # connect and read: SQS answers a SendMessage in milliseconds
FALLBACK_ATTEMPT_SECONDS = 2 * FALLBACK_TIMEOUT_SECONDS
FALLBACK_RESERVE_SECONDS = FALLBACK_ATTEMPT_SECONDS + ANSWER_ROOM_SECONDS

# S3 carries whole reconciliation reports (ReconciliationFunction, Timeout 29): a longer read, same rest.
S3_READ_TIMEOUT_SECONDS = 10.0

# Enough pooled connections for GetStatement's parallel day queries (payme) on the one DynamoDB client.
MAX_POOL_CONNECTIONS = 16


def config_for(service: str, *, fallback: bool = False) -> Config:
    read = S3_READ_TIMEOUT_SECONDS if service == "s3" else READ_TIMEOUT_SECONDS
    return Config(
        connect_timeout=FALLBACK_TIMEOUT_SECONDS if fallback else CONNECT_TIMEOUT_SECONDS,
        read_timeout=FALLBACK_TIMEOUT_SECONDS if fallback else read,
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        max_pool_connections=MAX_POOL_CONNECTIONS,
        # What PynamoDB sets on its own clients: the requests it builds are valid, and checking costs CPU.
        parameter_validation=service != "dynamodb",
    )


def worst_case_seconds(service: str) -> float:
    """One call's longest time, retries and backoff included."""
    read = S3_READ_TIMEOUT_SECONDS if service == "s3" else READ_TIMEOUT_SECONDS
    return ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + read) + BACKOFF_CAP_SECONDS


# ---------------------------------------------------------------------- the invocation's deadline
class BudgetSpent(BotoCoreError):
    """An AWS call not attempted: it could not end inside what is left of the invocation."""

    fmt = "not attempted: {remaining_ms} ms left of the invocation"


class _Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


# A context variable rather than a global: Lambda runs one invocation at a time, the local stack several
# in threads of one process; the threads an invocation starts take it along (tolov.store.fanout).
_deadline: ContextVar[float | None] = ContextVar("tolov_aws_deadline", default=None)
_reserve: ContextVar[float] = ContextVar("tolov_aws_fallback_reserve", default=0.0)


def within_budget[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """A Lambda handler whose AWS calls stop being attempted once they could outlast the invocation."""

    @wraps(handler)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        context = args[1] if len(args) > 1 else kwargs.get("context")
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        token = _deadline.set(time.monotonic() + remaining() / 1000 if callable(remaining) else None)
        try:
            return handler(*args, **kwargs)
        finally:
            _deadline.reset(token)

    return run


def keeping_fallback_time[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Inside within_budget: the handler's ordinary clients leave FALLBACK_RESERVE_SECONDS of the
    invocation to its fallback client."""

    @wraps(handler)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _reserve.set(FALLBACK_RESERVE_SECONDS)
        try:
            return handler(*args, **kwargs)
        finally:
            _reserve.reset(token)

    return run


def _guard(*, fallback: bool = False, **_: Any) -> None:
    """before-send, once per attempt: refuse an attempt that could not end in time (no retry follows:
    botocore retries only what the HTTP layer raised)."""
    deadline = _deadline.get()
    if deadline is None:
        return
    left = deadline - time.monotonic()
    needed = FALLBACK_RESERVE_SECONDS if fallback else ATTEMPT_MARGIN_SECONDS + _reserve.get()
    if left < needed:
        raise BudgetSpent(remaining_ms=int(left * 1000))


def _fallback_guard(**kwargs: Any) -> None:
    _guard(fallback=True, **kwargs)


# ---------------------------------------------------------------------- the session and its clients
_lock = Lock()
_session: botocore.session.Session | None = None
_clients: dict[tuple[str, str | None, str | None, bool], Any] = {}


def session() -> botocore.session.Session:
    """The container's one botocore session."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                _session = botocore.session.get_session()
    return _session


def client(
    service: str, *, region: str | None = None, endpoint_url: str | None = None, fallback: bool = False
) -> Any:
    """The container's client of `service` (one per region and endpoint), made on first use with the
    time-outs above. Region and endpoint default to the environment's (AWS_REGION, AWS_ENDPOINT_URL_*).
    fallback: the last-resort client (FALLBACK_* above), a client of its own."""
    key = (service, region, endpoint_url, fallback)
    made = _clients.get(key)
    if made is None or not _has_credentials(made):
        with _lock:
            made = _clients.get(key)
            if made is None or not _has_credentials(made):
                made = _make(service, region, endpoint_url, fallback)
                _clients[key] = made
    return made


def _make(service: str, region: str | None, endpoint_url: str | None, fallback: bool) -> Any:
    # The lock is held: session() must not take it again.
    global _session
    if _session is None:
        _session = botocore.session.get_session()
    made = _session.create_client(
        service, region_name=region, endpoint_url=endpoint_url, config=config_for(service, fallback=fallback)
    )
    guard = _fallback_guard if fallback else _guard
    made.meta.events.register_first("before-send", guard, unique_id="tolov-aws-deadline")
    return made


def _has_credentials(made: Any) -> bool:
    """botocore keeps a client whose credentials could not be found (the metadata service flaked at init)
    without any for good: such a client is made again (PynamoDB's own rule)."""
    signer = getattr(made, "_request_signer", None)
    return signer is None or bool(getattr(signer, "_credentials", None))


def reset() -> None:
    """Forget the session and clients: for a process whose environment changed (tests, the local stack)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
