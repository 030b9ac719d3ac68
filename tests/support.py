"""Helpers shared by tests: load a function's handler, a Lambda context, API Gateway events from events/,
threads released together, replies lost on the wire."""

import copy
import importlib.util
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.faults import inject

ROOT = Path(__file__).resolve().parent.parent
_loaded: dict[str, ModuleType] = {}


def handler_path(function_dir: str) -> Path:
    return ROOT / "functions" / function_dir / "app.py"


def load_handler(function_dir: str, *, fresh: bool = False) -> ModuleType:
    """functions/<dir>/app.py, imported under a name of its own (every handler module is called app).

    Imported once per test process, as a warm container keeps it. fresh=True executes it again, as a new
    container would: its wiring is then built from the environment as it is now (a test that changed
    the settings asks for that). Later calls return the newest."""
    if fresh or function_dir not in _loaded:
        spec = importlib.util.spec_from_file_location(f"handler_{function_dir}", handler_path(function_dir))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[function_dir] = module
    return _loaded[function_dir]


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
    reply = load_handler(function_dir).lambda_handler(event, FakeContext())
    body = reply.get("body")
    return reply["statusCode"], json.loads(body) if body else None


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released at the same moment by a barrier; results in call order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


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
