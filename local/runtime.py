"""The template's functions run in-process: a handler module imported once per container, invoked with a fake
context.

One process stands in for every Lambda container, so the functions share os.environ and sys.modules. Their
environments come from the same Globals, and handler modules get unique names, so neither matters in
practice; sibling modules next to an app.py would (keep shared code in the layer, as Lambda layers intend).
They also share the logging module: see InvocationLogKeys.
"""

import importlib.util
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from local.apigw import Event, FunctionUnavailable
from local.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, ApiRoute, FunctionSettings

Handler = Callable[[Event, Any], Any]


@dataclass
class LambdaContext:
    """What handlers and Powertools read from the Lambda context object."""

    function_name: str
    # The Python runtime fills this from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string there too.
    memory_limit_in_mb: str
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float  # time.monotonic() at which Lambda would stop the invocation
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None

    @classmethod
    def for_invocation(cls, settings: FunctionSettings) -> "LambdaContext":
        name = settings.logical_id
        return cls(
            function_name=name,
            memory_limit_in_mb=str(settings.memory_mb),
            invoked_function_arn=f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{name}",
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"{time.strftime('%Y/%m/%d')}/[$LATEST]local",
            deadline=time.monotonic() + settings.timeout_s,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    context: LambdaContext
    cold_start: bool  # the container's first invocation


_running: ContextVar[Invocation | None] = ContextVar("local_invocation", default=None)


class InvocationLogKeys(logging.Filter):
    """Stamps the running invocation on each log record: function_name, function_request_id and the rest.

    In Lambda a function has its own process, so its Powertools Logger has its own keys. Here every
    handler's Logger of service "tolov" is one logging.Logger with one formatter, and the keys that
    inject_lambda_context appends to it were overwritten by whichever invocation came last, on any thread.
    A record's own attributes win over a Powertools formatter's appended keys, and a request's handler runs
    in the thread that logs, so these come from the invocation that wrote the line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        invocation = _running.get()
        if invocation is not None:
            context = invocation.context
            record.cold_start = invocation.cold_start
            record.function_name = context.function_name
            record.function_memory_size = context.memory_limit_in_mb
            record.function_arn = context.invoked_function_arn
            record.function_request_id = context.aws_request_id
        return True


def stamp_invocations_on_logs() -> None:
    """Put InvocationLogKeys on every log handler there is: call it once the handler modules are imported."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):  # a PlaceHolder in loggerDict has none
            if not any(isinstance(f, InvocationLogKeys) for f in handler.filters):
                handler.addFilter(InvocationLogKeys())


# Lambda starts another container when a request arrives while every container of the function is busy;
# a cap keeps a runaway local load test from importing a handler module hundreds of times.
MAX_CONTAINERS = 16


class Containers[T]:
    """A function's containers: each serves one request at a time, as in Lambda, and a request that finds
    them all busy gets a new one (a cold start). A container is its own import of the handler module, so
    what its top level builds (a resolver, a core) is never shared between threads: Powertools' resolver
    keeps the current request on itself."""

    def __init__(self, first: T, start: Callable[[int], T], limit: int = MAX_CONTAINERS) -> None:
        self._idle = [first]
        self._started = 1
        self._start = start
        self._limit = limit
        self._fresh = {id(first)}
        self._free = threading.Condition()

    @contextmanager
    def container(self) -> Iterator[tuple[T, bool]]:
        """A container for one request, and whether this is its first (cold) one."""
        with self._free:
            while not self._idle and self._started >= self._limit:
                self._free.wait()
            if self._idle:
                taken: T | None = self._idle.pop()
            else:
                taken, self._started = None, self._started + 1
                number = self._started
        if taken is None:
            try:
                container = self._start(number)
            except BaseException:
                with self._free:
                    self._started -= 1
                    self._free.notify()
                raise
        else:
            container = taken
        cold = taken is None or id(container) in self._fresh
        self._fresh.discard(id(container))
        try:
            yield container, cold
        finally:
            with self._free:
                self._idle.append(container)
                self._free.notify()


@dataclass
class LocalFunction:
    settings: FunctionSettings
    handler: Handler | None = None  # the first container's
    problem: str | None = None  # why there is no handler
    module_name: str = field(default="")
    containers: "Containers[Handler] | None" = None

    def invoke(self, event: Event) -> Any:
        if self.containers is None:
            raise FunctionUnavailable(f"{self.settings.logical_id} is not loaded: {self.problem}")
        with self.containers.container() as (handler, cold):
            context = LambdaContext.for_invocation(self.settings)
            running = _running.set(Invocation(context, cold_start=cold))
            try:
                return handler(event, context)
            finally:
                _running.reset(running)


class NotAHandler(Exception):
    """The file imported, but gives no handler."""


def _import_handler(path: Path, module_name: str, attr: str) -> Handler:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise NotAHandler("cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise NotAHandler(f"has no function {attr}")
    return cast(Handler, handler)


def load_function(settings: FunctionSettings, root: Path) -> LocalFunction:
    """Import the handler module by file path under a unique name; a failure is reported, not raised.

    A function whose code does not exist yet (someone is writing it) must not stop the rest of the stack.
    """
    path = root / settings.handler_file
    function = LocalFunction(settings, module_name=f"_tolov_local_fn_{settings.logical_id}")
    if not path.is_file():
        function.problem = f"{settings.handler_file} does not exist"
        return function
    try:
        first = _import_handler(path, function.module_name, settings.handler_attr)
    except NotAHandler as error:
        function.problem = f"{settings.handler_file} {error}"
        return function
    except Exception:
        function.problem = f"importing {settings.handler_file} failed:\n{traceback.format_exc()}"
        return function
    attr, name = settings.handler_attr, function.module_name
    function.handler = first
    function.containers = Containers(first, lambda n: _import_handler(path, f"{name}_{n}", attr))
    return function


class Functions:
    """The loaded functions by logical id; its invoke() is what LocalApi calls."""

    def __init__(self, functions: Mapping[str, LocalFunction]) -> None:
        self.by_id = dict(functions)

    def invoke(self, route: ApiRoute, event: Event) -> Any:
        return self.by_id[route.function].invoke(event)
