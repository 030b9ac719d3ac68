"""Helpers shared by tests: load a function's handler, a Lambda context, API Gateway events from events/,
threads released together, replies lost on the wire."""

import copy
import dataclasses
import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from local.runtime import Containers
from tests.faults import inject

ROOT = Path(__file__).resolve().parent.parent
_loaded: dict[str, ModuleType] = {}
# invoke()'s containers per function, for the newest load_handler() module (a fresh load starts anew).
_containers: dict[str, tuple[ModuleType, Containers[ModuleType]]] = {}
_containers_lock = threading.Lock()


def handler_path(function_dir: str) -> Path:
    return ROOT / "functions" / function_dir / "app.py"


def modules_at_load(function_dir: str) -> list[str]:
    """The tolov modules a handler has imported once Lambda has loaded it (its init), in a fresh interpreter
    with no AWS to reach."""
    probe = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('tolov'))))"
    )
    env = {"PYTHONPATH": str(ROOT / "layers/common"), "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(handler_path(function_dir))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def load_handler(function_dir: str, *, fresh: bool = False) -> ModuleType:
    """functions/<dir>/app.py, imported under a name of its own (every handler module is called app).

    Imported once per test process, as a warm container keeps it. fresh=True executes it again, as a new
    container would: its wiring is then built from the environment as it is now (a test that changed
    the settings asks for that). Later calls return the newest."""
    if fresh or function_dir not in _loaded:
        _loaded[function_dir] = _import_handler(function_dir, f"handler_{function_dir}")
    return _loaded[function_dir]


def _import_handler(function_dir: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, handler_path(function_dir))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((ROOT / "events" / name).read_text()))


@dataclass(frozen=True)
class FakeContext:
    """The attributes of a Lambda context that Powertools reads."""

    function_name: str = "test"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    remaining_ms: int = 10_000  # what get_remaining_time_in_millis answers, whenever it is asked

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def rest_event(
    method: str,
    resource: str,
    path_params: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event shaped like the samples in events/billing/."""
    event = sample_event("billing/get_invoice.json")
    path = resource
    for key, value in (path_params or {}).items():
        path = path.replace("{" + key + "}", value)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    event.update(
        resource=resource,
        path=path,
        httpMethod=method,
        pathParameters=path_params,
        headers=all_headers,
        multiValueHeaders={k: [v] for k, v in all_headers.items()},
        body=raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
    )
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path="/dev" + path)
    return event


def sqs_event(messages: list[dict[str, Any]], queue: str = "AutopayChargeQueue") -> dict[str, Any]:
    """The event Lambda's SQS event source hands a function for messages received with ReceiveMessage."""
    arn = f"arn:aws:sqs:us-east-1:123456789012:{queue}"
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]
    return {"Records": records}


def invoke(function_dir: str, event: dict[str, Any]) -> tuple[int, Any]:
    """The handler's reply, from load_handler()'s module; a call made while that one is busy in another
    thread gets a container of its own, as Lambda would start one (see local.runtime.Containers)."""
    with _containers_lock:
        first = load_handler(function_dir)
        known = _containers.get(function_dir)
        if known is None or known[0] is not first:
            start = lambda n: _import_handler(function_dir, f"handler_{function_dir}_{n}")  # noqa: E731
            known = _containers[function_dir] = (first, Containers(first, start))
    with known[1].container() as (module, _):
        reply = module.lambda_handler(event, FakeContext())
    body = reply.get("body")
    return reply["statusCode"], json.loads(body) if body else None


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released at the same moment by a barrier; results in call order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(run, calls))
    finally:
        # The containers started for these calls were built from this test's settings; the next test
        # starts from load_handler()'s module alone.
        with _containers_lock:
            _containers.clear()


@contextmanager
def replies_lost(
    client: Any,
    operation: str,
    times: int = 1,
    *,
    retried: bool = True,
    on_drop: Callable[[], None] | None = None,
) -> Iterator[list[int]]:
    """The next `times` calls of a DynamoDB `operation` on the botocore `client` reach the service and take
    effect; then their replies are lost to a read timeout, as when the network fails after the write.
    retried: the loss happens on the wire, so botocore retries the call as it retries any timeout;
    otherwise it happens after botocore's last attempt and the caller sees the error.
    on_drop runs at each loss (to look at what had landed). Yields [replies lost so far].
    The fault layer's reply_lost (tests/faults.py), scoped to one client."""
    dropped = [0]

    def drop() -> None:
        dropped[0] += 1
        if on_drop is not None:
            on_drop()

    with inject() as faults:
        faults.reply_lost(operation, attempts=None, times=times, retried=retried, on_drop=drop, client=client)
        yield dropped


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, serving in a daemon thread for the with block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class BotocoreMade:
    """botocore sessions and clients made while counting (see `botocore_made`)."""

    sessions: int = 0
    clients: dict[str, int] = dataclasses.field(default_factory=dict)


@contextmanager
def botocore_made() -> Iterator[BotocoreMade]:
    """Count every botocore Session made and every client made (botocore's create_client, which boto3's
    clients go through too), whoever makes them, until the block ends."""
    import botocore.session

    made = BotocoreMade()
    init = botocore.session.Session.__init__
    create = botocore.session.Session.create_client

    def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        made.sessions += 1
        init(self, *args, **kwargs)

    def counted_create(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made.clients[service_name] = made.clients.get(service_name, 0) + 1
        return create(self, service_name, *args, **kwargs)

    botocore.session.Session.__init__ = counted_init  # type: ignore[method-assign]
    botocore.session.Session.create_client = counted_create  # type: ignore[method-assign]
    try:
        yield made
    finally:
        botocore.session.Session.__init__ = init  # type: ignore[method-assign]
        botocore.session.Session.create_client = create  # type: ignore[method-assign]


@contextmanager
def stalled_endpoint() -> Iterator[str]:
    """http://127.0.0.1:<port> of a TCP server that accepts every connection and never answers: a stalled
    AWS endpoint (the connect succeeds, the reply never comes)."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)  # kept open, never read from, never written to

    thread = threading.Thread(target=accept, name="stalled-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for connection in held:
            connection.close()
