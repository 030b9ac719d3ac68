"""Fault injection between tolov and DynamoDB: botocore event hooks on every DynamoDB client.

    with inject() as faults:                      # or the `faults` fixture of tests/integration/faults
        faults.throttle("TransactWriteItems")     # every TransactWriteItems is throttled (nothing lands)
        faults.timeout("PutItem", table=Posting, nth=2)  # the 2nd PutItem to PostingsTable times out
        faults.outage(30)                         # every call fails to connect for 30 s of fault clock
        faults.reply_lost("UpdateItem")           # it lands, then its reply is lost (botocore resends)
        ...
        faults.clear()                            # the faults are over: the provider's retry goes through

How each fault meets botocore:
- throttle: DynamoDB's throttling error as botocore reports it once its own retries gave up (a
  `before-call` answer, as a throttle that outlasts the retries reaches the caller). Nothing lands.
- timeout: a ReadTimeoutError on every attempt (`before-send`, ahead of moto's stubber, so nothing is
  sent); botocore retries it, then gives up. `attempts=1` fails the first attempt only (botocore's retry
  then gets through).
- outage(seconds): every DynamoDB call, of any operation, fails with EndpointConnectionError until the
  fault clock passes `seconds` from now. botocore's back-off sleeps are not slept while faults are
  injected: they advance the fault clock instead (faults.clock.advance() moves it by hand).
- reply_lost: the call reaches the store and takes effect, then its reply is lost to a read timeout.
  retried=True (the default): on the wire, inside botocore's send loop, so botocore resends the call and
  the resend meets the first copy's write; retried=False: after botocore's last attempt, so the caller
  sees the error although its write landed. Works against in-process moto (mock_aws, where moto answers
  in its own before-send handler and ours runs after it) and against a moto server (ours then sends the
  request itself before dropping the reply).

Targeting: `operation` (None: any), `table` (a table name or a PynamoDB model; a TransactWriteItems
matches when any of its items names that table), `nth` (only the n-th matching call, counted from 1 over
API calls, not attempts; None: every matching call). Every fault returns a Fault whose `hits` counts the
attempts it failed. `faults.calls` lists every DynamoDB call made while injecting (operation, tables).

Why hooks registered per client from a patched BaseClient._make_api_call: PynamoDB makes a botocore
session per connection and thread (and tolov may share one session); whichever session made the client,
its first call under inject() registers the hooks on that client's event emitter, and inject() removes
them when it ends.
"""

import functools
import json
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client
import botocore.endpoint
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

__all__ = ["Call", "Fault", "FaultClock", "Faults", "inject"]

THROTTLING_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")


def _table_name(table: Any) -> str | None:
    if table is None or isinstance(table, str):
        return table
    name = table.Meta.table_name  # a PynamoDB model
    assert isinstance(name, str)
    return name


def _tables_of(request_dict: dict[str, Any]) -> frozenset[str]:
    """Every table a DynamoDB request (botocore's request dict, its body JSON) names."""
    body = request_dict.get("body") or b"{}"
    params = json.loads(body)
    names = set()
    if "TableName" in params:
        names.add(params["TableName"])
    for item in params.get("TransactItems", ()):
        for request in item.values():
            names.add(request["TableName"])
    names.update(params.get("RequestItems", {}))
    return frozenset(names)


@dataclass(frozen=True)
class Call:
    operation: str
    tables: frozenset[str]


@dataclass
class FaultClock:
    """Seconds: the monotonic clock plus the back-off botocore would have slept and any advance()."""

    skipped: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() + self.skipped

    def advance(self, seconds: float) -> None:
        self.skipped += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


@dataclass
class Fault:
    kind: str  # throttle | timeout | outage | reply_lost
    operation: str | None = None
    table: Any = None  # a table name or a PynamoDB model (its name read at each call: bind() moves it)
    nth: int | None = None
    attempts: int | None = None  # attempts of a matched call to fail; None: all
    code: str = THROTTLING_CODES[0]
    retried: bool = True
    until: float | None = None  # outage: fault clock time it ends
    on_drop: Callable[[], None] | None = None
    times: int | None = None  # attempts to fail in all; None: no limit
    client: Any = None  # only this botocore client's calls; None: every client's
    matched: int = 0  # matching calls seen
    hits: int = 0  # attempts failed
    active: bool = True

    def matches(self, call: Call, client: Any) -> bool:
        if not self.active or (self.client is not None and client is not self.client):
            return False
        if self.operation is not None and call.operation != self.operation:
            return False
        return self.table is None or _table_name(self.table) in call.tables

    def clear(self) -> None:
        self.active = False


@dataclass
class _CallState:
    """The faults chosen for the API call in progress on this thread, and its attempts so far."""

    call: Call
    faults: list[Fault]
    attempts: dict[int, int] = field(default_factory=dict)  # id(fault) -> attempts it failed

    def take(self, kind: str, *, retried: bool | None = None) -> Fault | None:
        """The first fault of this kind still due to fail the current attempt (and count it)."""
        for fault in self.faults:
            if fault.kind != kind or not fault.active or retried not in (None, fault.retried):
                continue
            if fault.times is not None and fault.hits >= fault.times:
                continue
            done = self.attempts.get(id(fault), 0)
            if fault.attempts is None or done < fault.attempts:
                self.attempts[id(fault)] = done + 1
                fault.hits += 1
                return fault
        return None


class Faults:
    """The faults injected now; see the module docstring."""

    def __init__(self) -> None:
        self.clock = FaultClock()
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    # ------------------------------------------------------------------ the faults
    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def throttle(
        self,
        operation: str | None = None,
        *,
        table: Any = None,
        nth: int | None = None,
        code: str = THROTTLING_CODES[0],
    ) -> Fault:
        assert code in THROTTLING_CODES, code
        return self._add(Fault("throttle", operation, table, nth, code=code))

    def timeout(
        self,
        operation: str | None = None,
        *,
        table: Any = None,
        nth: int | None = None,
        attempts: int | None = None,
    ) -> Fault:
        return self._add(Fault("timeout", operation, table, nth, attempts))

    def outage(self, seconds: float) -> Fault:
        return self._add(Fault("outage", until=self.clock.now() + seconds))

    def reply_lost(
        self,
        operation: str | None = None,
        *,
        table: Any = None,
        nth: int | None = None,
        attempts: int | None = 1,
        retried: bool = True,
        on_drop: Callable[[], None] | None = None,
        times: int | None = None,
        client: Any = None,
    ) -> Fault:
        """attempts: of each matched call (the first only, by default: botocore's resend then goes
        through); times: in all; client: only that botocore client's calls."""
        fault = Fault("reply_lost", operation, table, nth, attempts, retried=retried, times=times)
        fault.on_drop, fault.client = on_drop, client
        return self._add(fault)

    def add(self, kind: str, operation: str | None = None, **options: Any) -> Fault:
        """A fault by name (for parametrised tests): throttle, timeout, outage (options: seconds) or
        reply_lost."""
        if kind == "outage":
            return self.outage(options.get("seconds", 60))
        maker: Callable[..., Fault] = getattr(self, kind)
        return maker(operation, **options)

    def clear(self) -> None:
        """Every fault is over."""
        with self._lock:
            for fault in self.faults:
                fault.clear()

    # ------------------------------------------------------------------ the hooks
    def _state(self) -> _CallState | None:
        state: _CallState | None = getattr(self._local, "state", None)
        return state

    def _outage(self) -> Fault | None:
        now = self.clock.now()
        for fault in self.faults:
            if fault.kind == "outage" and fault.active and fault.until is not None and now < fault.until:
                return fault
        return None

    def before_call(self, client: Any, model: Any, params: dict[str, Any], **_: Any) -> Any:
        call = Call(model.name, _tables_of(params))
        chosen = []
        with self._lock:
            self.calls.append(call)
            for fault in self.faults:
                if fault.kind == "outage" or not fault.matches(call, client):
                    continue
                fault.matched += 1
                if fault.nth is None or fault.matched == fault.nth:
                    chosen.append(fault)
        state = _CallState(call, chosen)
        self._local.state = state
        throttled = state.take("throttle")
        if throttled is not None:
            message = "Rate of requests exceeds the allowed throughput."
            error = {"Error": {"Code": throttled.code, "Message": message}}
            response = AWSResponse("https://dynamodb", 400, {}, None)  # type: ignore[arg-type]
            return response, error
        return None

    def before_send_first(self, request: Any, **_: Any) -> None:
        """Ahead of moto's stubber: nothing is sent."""
        outage = self._outage()
        if outage is not None:
            outage.hits += 1
            raise EndpointConnectionError(endpoint_url=request.url)
        state = self._state()
        if state is not None and state.take("timeout") is not None:
            raise ReadTimeoutError(endpoint_url=request.url)

    def before_send_last(self, request: Any, **_: Any) -> None:
        """After moto's stubber applied the request: the reply is lost on the wire."""
        state = self._state()
        fault = None if state is None else state.take("reply_lost", retried=True)
        if fault is None:
            return
        if not _moto_in_process():
            URLLib3Session().send(request)  # a moto server: deliver it ourselves, then lose the reply
        if fault.on_drop is not None:
            fault.on_drop()
        raise ReadTimeoutError(endpoint_url=request.url)

    def after_call(self, **_: Any) -> None:
        """After botocore's last attempt: the write landed, the caller sees a time-out."""
        state = self._state()
        fault = None if state is None else state.take("reply_lost", retried=False)
        if fault is None:
            return
        if fault.on_drop is not None:
            fault.on_drop()
        raise ReadTimeoutError(endpoint_url="https://dynamodb")


def _moto_in_process() -> bool:
    import sys

    models = sys.modules.get("moto.core.models")
    return bool(models is not None and models.botocore_stubber.enabled)


_active: Faults | None = None
_hooked: "weakref.WeakSet[Any]" = weakref.WeakSet()
_HOOK_ID = "tolov-tests-faults"


def _before_call(client: Any, **kwargs: Any) -> Any:
    return _active.before_call(client, **kwargs) if _active is not None else None


def _before_send_first(**kwargs: Any) -> None:
    if _active is not None:
        _active.before_send_first(**kwargs)


def _before_send_last(**kwargs: Any) -> None:
    if _active is not None:
        _active.before_send_last(**kwargs)


def _after_call(**kwargs: Any) -> None:
    if _active is not None:
        _active.after_call(**kwargs)


# botocore calls the handlers of a more specific event name first: "before-send.dynamodb" runs ahead of
# moto's stubber (registered for every "before-send"), our "before-send" in the last section after it.
_HOOKS = (
    ("before-call.dynamodb", _before_call, "register_first"),
    ("before-send.dynamodb", _before_send_first, "register_first"),
    ("before-send", _before_send_last, "register_last"),
    ("after-call.dynamodb", _after_call, "register_first"),
)


def _hook(client: Any) -> None:
    if client in _hooked or client.meta.service_model.service_name != "dynamodb":
        return
    for event, handler, how in _HOOKS:
        hook = functools.partial(handler, client) if handler is _before_call else handler
        getattr(client.meta.events, how)(event, hook, unique_id=f"{_HOOK_ID}-{event}")
    _hooked.add(client)


def _unhook_all() -> None:
    for client in list(_hooked):
        for event, _, _how in _HOOKS:
            client.meta.events.unregister(event, unique_id=f"{_HOOK_ID}-{event}")
    _hooked.clear()


@contextmanager
def inject() -> Iterator[Faults]:
    """Faults for the with block, on every DynamoDB client that makes a call in it (any session)."""
    global _active
    if _active is not None:  # nested: the same faults; those added inside end with the inner block
        outer, before = _active, len(_active.faults)
        try:
            yield outer
        finally:
            for fault in outer.faults[before:]:
                fault.clear()
        return
    faults = Faults()
    original = botocore.client.BaseClient._make_api_call
    original_time = botocore.endpoint.time

    def make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        _hook(self)
        return original(self, operation_name, api_params)

    # botocore's back-off between retries advances the fault clock instead of sleeping.
    no_sleep = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
    no_sleep.sleep = faults.clock.sleep
    _active = faults
    botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    botocore.endpoint.time = no_sleep  # type: ignore[assignment]
    try:
        yield faults
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
        botocore.endpoint.time = original_time
        _unhook_all()
        _active = None
