"""The template's functions run in-process: each handler module imported once, invoked with a fake context.

One process stands in for every Lambda container, so the functions share os.environ and sys.modules. Their
environments come from the same Globals, and handler modules get unique names, so neither matters in
practice; sibling modules next to an app.py would (keep shared code in the layer, as Lambda layers intend).
They also share the logging module: see InvocationLogKeys.
"""

import importlib.util
import logging
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    cold_start: bool  # the function's first invocation: one container per function here


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


@dataclass
class LocalFunction:
    settings: FunctionSettings
    handler: Handler | None = None
    problem: str | None = None  # why there is no handler
    module_name: str = field(default="")
    warm: bool = False  # invoked before

    def invoke(self, event: Event) -> Any:
        if self.handler is None:
            raise FunctionUnavailable(f"{self.settings.logical_id} is not loaded: {self.problem}")
        context = LambdaContext.for_invocation(self.settings)
        running = _running.set(Invocation(context, cold_start=not self.warm))
        self.warm = True
        try:
            return self.handler(event, context)
        finally:
            _running.reset(running)


def load_function(settings: FunctionSettings, root: Path) -> LocalFunction:
    """Import the handler module by file path under a unique name; a failure is reported, not raised.

    A function whose code does not exist yet (someone is writing it) must not stop the rest of the stack.
    """
    function = LocalFunction(settings, module_name=f"_tolov_local_fn_{settings.logical_id}")
    path = root / settings.handler_file
    if not path.is_file():
        function.problem = f"{settings.handler_file} does not exist"
        return function
    spec = importlib.util.spec_from_file_location(function.module_name, path)
    if spec is None or spec.loader is None:
        function.problem = f"{settings.handler_file} cannot be imported"
        return function
    module = importlib.util.module_from_spec(spec)
    sys.modules[function.module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[function.module_name]
        function.problem = f"importing {settings.handler_file} failed:\n{traceback.format_exc()}"
        return function
    handler = getattr(module, settings.handler_attr, None)
    if not callable(handler):
        function.problem = f"{settings.handler_file} has no function {settings.handler_attr}"
        return function
    function.handler = handler
    return function


class Functions:
    """The loaded functions by logical id; its invoke() is what LocalApi calls."""

    def __init__(self, functions: Mapping[str, LocalFunction]) -> None:
        self.by_id = dict(functions)

    def invoke(self, route: ApiRoute, event: Event) -> Any:
        return self.by_id[route.function].invoke(event)
