"""An in-process emulation of API Gateway REST API (v1) with Lambda proxy integrations.

Transport-free: ``LocalApi.handle`` takes a ``Request`` and returns a ``Response``, so the HTTP server and
the seeding code share one path. What it reproduces, because handlers and tests depend on it:

- routing by resource template (``/invoices/{invoice_id}``, ``{proxy+}``), literal segments winning;
  no route or method → 403 ``Missing Authentication Token``;
- the API-key check of ``ApiKeyRequired`` routes → 403 ``Forbidden`` without invoking the handler;
- the proxy event: single and multi-value headers and query parameters, ``null`` (not ``{}``) when absent,
  ``path`` still percent-encoded while path and query parameters are decoded;
- the proxy response contract: a malformed response or a handler exception → 502
  ``Internal server error``.
"""

import base64
import binascii
import hmac
import json
import re
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.template import LOCAL_ACCOUNT_ID, ApiRoute

LOCAL_API_ID = "tolovlocal"  # API Gateway ids are 10 lower-case characters
API_GATEWAY_TIMEOUT_S = 29

Event = dict[str, Any]
# invoke(route, event) → the handler's return value; raising means the Lambda invocation failed.
Invoker = Callable[[ApiRoute, Event], Any]

_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_TEXT_MEDIA_TYPES = {
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/javascript",
    "application/graphql",
}


@dataclass
class Request:
    method: str
    target: str  # path and query exactly as sent, e.g. /invoices/abc?x=1
    headers: list[tuple[str, str]]  # in order, names as sent
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    host: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        """The last value of a header, case-insensitively (API Gateway keeps the last one too)."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    function: str | None = None  # which function answered, for the access log

    def json(self) -> Any:
        return json.loads(self.body)


# ---------------------------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class _CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    rank: tuple[int, int, int]  # sorts the most specific route first


def _compile(route: ApiRoute) -> _CompiledRoute:
    parts, params, literals, greedy = [], [], 0, 0
    for segment in route.path.strip("/").split("/") if route.path.strip("/") else []:
        if segment.startswith("{") and segment.endswith("+}"):
            params.append(segment[1:-2])
            parts.append("(.+)")
            greedy = 1
        elif segment.startswith("{") and segment.endswith("}"):
            params.append(segment[1:-1])
            parts.append("([^/]+)")
        else:
            parts.append(re.escape(segment))
            literals += 1
    pattern = re.compile("/" + "/".join(parts))
    any_method = 1 if route.method == "ANY" else 0
    return _CompiledRoute(route, pattern, tuple(params), (greedy, -literals, any_method))


class Router:
    def __init__(self, routes: Iterable[ApiRoute]) -> None:
        self._routes = sorted((_compile(r) for r in routes), key=lambda c: c.rank)

    def match(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        """The route for a percent-encoded path, and its decoded path parameters."""
        for compiled in self._routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.fullmatch(path)
            if found:
                return compiled.route, {
                    n: unquote(v) for n, v in zip(compiled.params, found.groups(), strict=True)
                }
        return None


# ---------------------------------------------------------------------------------------------- event


def build_event(
    route: ApiRoute, request: Request, path_params: Mapping[str, str], stage: str, now: datetime | None = None
) -> Event:
    now = now or datetime.now(UTC)
    path, _, query = request.target.partition("?")
    headers, multi_headers = _event_headers(request)
    query_single, query_multi = _event_query(query)
    body, is_base64 = _event_body(request.body, request.header("content-type"))
    api_key = request.header("x-api-key")
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query_single,
        "multiValueQueryStringParameters": query_multi,
        "pathParameters": dict(path_params) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": request.method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": LOCAL_ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": request.host.split(":")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": _identity(request, api_key),
            "domainName": request.host,
            "apiId": LOCAL_API_ID,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _event_headers(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    multi: dict[str, list[str]] = {}
    for name, value in request.headers:
        multi.setdefault(name, []).append(value)
    # API Gateway adds the X-Forwarded-* headers itself; handlers read the client address from them.
    present = {name.lower() for name in multi}
    forwarded = {
        "X-Forwarded-For": request.source_ip,
        "X-Forwarded-Port": request.host.rpartition(":")[2] if ":" in request.host else "80",
        "X-Forwarded-Proto": "http",
    }
    for name, value in forwarded.items():
        if name.lower() not in present:
            multi[name] = [value]
    return {name: values[-1] for name, values in multi.items()}, multi


def _event_query(query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not query:
        return None, None
    multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        multi.setdefault(name, []).append(value)
    if not multi:
        return None, None
    return {name: values[-1] for name, values in multi.items()}, multi


def _event_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """Text bodies as str; anything else base64 with isBase64Encoded, so binary survives the trip."""
    if not body:
        return None, False
    media_type = (content_type or "").split(";")[0].strip().lower()
    textual = (
        not media_type
        or media_type.startswith("text/")
        or media_type in _TEXT_MEDIA_TYPES
        or media_type.endswith(("+json", "+xml"))
    )
    if textual:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _identity(request: Request, api_key: str | None) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": request.source_ip,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": request.header("user-agent"),
        "user": None,
    }
    if api_key is not None:
        identity["apiKey"] = api_key
        identity["apiKeyId"] = "local-api-key"
    return identity


# ---------------------------------------------------------------------------------------------- responses


class MalformedProxyResponse(ValueError):
    pass


class FunctionUnavailable(RuntimeError):
    """The route's function could not be loaded (its code is missing or failed to import)."""


def gateway_error(status: int, message: str, error_type: str, request_id: str | None = None) -> Response:
    """API Gateway's own error replies: JSON ``{"message": ...}`` and an x-amzn-ErrorType header."""
    return Response(
        status=status,
        headers=[
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id or str(uuid.uuid4())),
            ("x-amzn-ErrorType", error_type),
        ],
        body=json.dumps({"message": message}, separators=(",", ":")).encode(),
    )


def proxy_response(result: Any, request_id: str) -> Response:
    """Map a Lambda proxy response to HTTP, with API Gateway's strictness about its shape."""
    if not isinstance(result, Mapping):
        raise MalformedProxyResponse(f"the handler returned {type(result).__name__}, not a dict")
    unexpected = set(result) - _PROXY_RESPONSE_KEYS
    if unexpected:
        raise MalformedProxyResponse(f"unexpected keys {sorted(unexpected)}")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode {status!r} is not an HTTP status")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponse(f"body is {type(body).__name__}, API Gateway needs a string")
    raw = _response_body(body or "", bool(result.get("isBase64Encoded")))
    headers = _response_headers(result.get("headers") or {}, result.get("multiValueHeaders") or {})
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))  # API Gateway's default
    headers.append(("x-amzn-RequestId", request_id))
    return Response(status=status, headers=headers, body=raw)


def _response_body(body: str, is_base64: bool) -> bytes:
    if not is_base64:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise MalformedProxyResponse(f"isBase64Encoded but the body is not base64: {error}") from error


def _response_headers(single: Mapping[str, Any], multi: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Merge as API Gateway does: multiValueHeaders first, a headers value added unless already there."""
    merged: dict[str, list[str]] = {
        name: [_header_value(v) for v in values] for name, values in multi.items()
    }
    for name, value in single.items():
        values = merged.setdefault(name, [])
        if _header_value(value) not in values:
            values.append(_header_value(value))
    hop_by_hop = {"content-length", "transfer-encoding", "connection"}
    return [
        (name, value) for name, values in merged.items() if name.lower() not in hop_by_hop for value in values
    ]


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------- the API


class LocalApi:
    """Routes, checks the API key, builds the event, invokes, maps the response."""

    def __init__(
        self,
        routes: Iterable[ApiRoute],
        invoke: Invoker,
        api_key: str | None,
        stages: Mapping[str | None, str],
    ):
        self.router = Router(routes)
        self._invoke = invoke
        self._api_key = api_key
        self._stages = stages  # rest api logical id → stage name

    def handle(self, request: Request) -> Response:
        path = request.target.partition("?")[0]
        found = self.router.match(request.method, path)
        if found is None:
            return gateway_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        route, path_params = found
        if route.api_key_required and not self._api_key_accepted(request.header("x-api-key")):
            return gateway_error(403, "Forbidden", "ForbiddenException")
        event = build_event(route, request, path_params, self._stages.get(route.rest_api, "Prod"))
        request_id = event["requestContext"]["requestId"]
        response = self._call(route, event, request_id)
        response.function = route.function
        return response

    def _api_key_accepted(self, sent: str | None) -> bool:
        if not sent or not self._api_key:
            return False
        return hmac.compare_digest(sent.encode(), self._api_key.encode())

    def _call(self, route: ApiRoute, event: Event, request_id: str) -> Response:
        started = time.monotonic()
        try:
            result = self._invoke(route, event)
        except FunctionUnavailable as error:
            print(f"!! {route.method} {route.path}: {error}", flush=True)
            return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id)
        except Exception:
            # API Gateway only says 502; the developer gets the traceback on the console.
            print(f"!! {route.function} raised while handling {route.method} {route.path}:", flush=True)
            traceback.print_exc()
            return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id)
        finally:
            _warn_if_slow(route, time.monotonic() - started)
        try:
            return proxy_response(result, request_id)
        except MalformedProxyResponse as error:
            print(f"!! {route.function}: malformed Lambda proxy response: {error}", flush=True)
            return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id)


def _warn_if_slow(route: ApiRoute, seconds: float) -> None:
    # Nothing is cut off locally, but API Gateway gives up after 29 s.
    if seconds > API_GATEWAY_TIMEOUT_S:
        print(f"!! {route.function} took {seconds:.1f}s; API Gateway would have answered 504", flush=True)
