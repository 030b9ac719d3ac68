"""Helpers shared by tests: load a function's handler, build API Gateway events from events/."""

import copy
import importlib.util
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_loaded: dict[str, ModuleType] = {}


def load_handler(function_dir: str) -> ModuleType:
    """Import functions/<dir>/app.py once under a unique name (every handler module is called app)."""
    if function_dir not in _loaded:
        path = ROOT / "functions" / function_dir / "app.py"
        spec = importlib.util.spec_from_file_location(f"handler_{function_dir}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[function_dir] = module
    return _loaded[function_dir]


def sample_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((ROOT / "events" / name).read_text()))


class FakeContext:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


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
