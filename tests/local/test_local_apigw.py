"""The API Gateway emulation in local/apigw.py, without sockets: routing, API keys, events, responses."""

import base64
from typing import Any

import pytest

from local.apigw import (
    FunctionUnavailable,
    LocalApi,
    MalformedProxyResponse,
    Request,
    Router,
    build_event,
    proxy_response,
)
from local.template import ApiRoute


def route(method: str, path: str, *, key: bool = False) -> ApiRoute:
    return ApiRoute(method, path, "Fn", key, "functions/fn/app.py", "lambda_handler", "Ev", "Api")


ROUTES = [
    route("GET", "/items/{item_id}"),
    route("GET", "/items/special"),
    route("POST", "/items/{item_id}/pay", key=True),
    route("ANY", "/files/{path+}"),
    route("GET", "/"),
]


class Recorder:
    """An invoker that records events and answers with a fixed result (or raises it)."""

    def __init__(self, result: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.result = result if result is not None else {"statusCode": 200, "body": "ok"}

    def __call__(self, _route: ApiRoute, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def api(recorder: Recorder, key: str | None = "k") -> LocalApi:
    return LocalApi(ROUTES, recorder, key, {"Api": "dev"})


def request(
    method: str, target: str, headers: list[tuple[str, str]] | None = None, body: bytes = b""
) -> Request:
    return Request(
        method, target, headers or [("Host", "127.0.0.1:3000")], body, "10.1.2.3", "127.0.0.1:3000"
    )


# ---------------------------------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("method", "path", "expected", "params"),
    [
        ("GET", "/items/special", "/items/special", {}),  # a literal segment beats a parameter
        ("GET", "/items/a%2Fb", "/items/{item_id}", {"item_id": "a/b"}),  # parameters are decoded
        ("POST", "/items/7/pay", "/items/{item_id}/pay", {"item_id": "7"}),
        ("DELETE", "/files/a/b/c.txt", "/files/{path+}", {"path": "a/b/c.txt"}),
        ("GET", "/", "/", {}),
    ],
)
def test_router_matches(method: str, path: str, expected: str, params: dict[str, str]) -> None:
    found = Router(ROUTES).match(method, path)
    assert found is not None
    assert (found[0].path, found[1]) == (expected, params)


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/items/1"), ("GET", "/nope"), ("GET", "/items"), ("GET", "/files/")]
)
def test_router_misses(method: str, path: str) -> None:
    assert Router(ROUTES).match(method, path) is None


# ---------------------------------------------------------------------------------------- gateway checks


def test_unknown_route_or_method_is_missing_authentication_token() -> None:
    recorder = Recorder()
    for response in (
        api(recorder).handle(request("GET", "/nope")),
        api(recorder).handle(request("PUT", "/")),
    ):
        assert response.status == 403
        assert response.json() == {"message": "Missing Authentication Token"}
    assert recorder.events == []


@pytest.mark.parametrize("headers", [[], [("x-api-key", "wrong")], [("x-api-key", "")]])
def test_api_key_route_without_the_right_key_is_forbidden(headers: list[tuple[str, str]]) -> None:
    recorder = Recorder()
    response = api(recorder).handle(request("POST", "/items/1/pay", headers))
    assert (response.status, response.json()) == (403, {"message": "Forbidden"})
    assert recorder.events == []


def test_api_key_header_name_is_case_insensitive_and_lands_in_identity() -> None:
    recorder = Recorder()
    response = api(recorder).handle(request("POST", "/items/1/pay", [("X-Api-Key", "k")]))
    assert response.status == 200
    assert recorder.events[0]["requestContext"]["identity"]["apiKey"] == "k"


def test_without_a_configured_key_no_key_is_accepted() -> None:
    response = api(Recorder(), key=None).handle(request("POST", "/items/1/pay", [("x-api-key", "")]))
    assert response.status == 403


def test_a_handler_exception_is_a_502() -> None:
    response = api(Recorder(RuntimeError("boom"))).handle(request("GET", "/items/1"))
    assert (response.status, response.json()) == (502, {"message": "Internal server error"})


def test_a_function_that_is_not_loaded_is_a_502() -> None:
    response = api(Recorder(FunctionUnavailable("missing"))).handle(request("GET", "/items/1"))
    assert response.status == 502


# ---------------------------------------------------------------------------------------------- event


def test_event_shape_for_a_plain_get() -> None:
    recorder = Recorder()
    api(recorder).handle(request("GET", "/items/a%20b"))
    (event,) = recorder.events
    assert event["resource"] == "/items/{item_id}"
    assert event["path"] == "/items/a%20b"  # REST APIs keep the path encoded
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"item_id": "a b"}
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/items/{item_id}"
    assert context["path"] == "/dev/items/a%20b"
    assert context["stage"] == "dev"
    assert context["identity"]["sourceIp"] == "10.1.2.3"
    assert "apiKey" not in context["identity"]
    assert isinstance(context["requestTimeEpoch"], int)
    assert {"requestId", "accountId", "apiId", "httpMethod"} <= set(context)


def test_path_parameters_are_null_for_a_route_without_parameters() -> None:
    recorder = Recorder()
    api(recorder).handle(request("GET", "/items/special"))
    assert recorder.events[0]["pathParameters"] is None


def test_repeated_headers_and_query_parameters() -> None:
    recorder = Recorder()
    headers = [("Host", "h"), ("X-Dup", "1"), ("X-Dup", "2")]
    api(recorder).handle(request("GET", "/items/1?a=1&a=2&b=&c=%C3%BC", headers))
    (event,) = recorder.events
    assert event["headers"]["X-Dup"] == "2"
    assert event["multiValueHeaders"]["X-Dup"] == ["1", "2"]
    assert event["headers"]["X-Forwarded-For"] == "10.1.2.3"
    assert event["queryStringParameters"] == {"a": "2", "b": "", "c": "ü"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""], "c": ["ü"]}


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        ("application/json", b'{"a": 1}', True),
        ("application/x-www-form-urlencoded", b"a=1&b=2", True),
        ("text/plain; charset=utf-8", "salom, dunyo ✓".encode(), True),
        ("application/octet-stream", b"\x00\x01\xff", False),
        ("application/json", b"\xff\xfe not utf-8", False),
        ("image/png", b"PNG", False),
    ],
)
def test_body_text_or_base64(content_type: str, body: bytes, text: bool) -> None:
    event = build_event(ROUTES[0], request("POST", "/x", [("Content-Type", content_type)], body), {}, "dev")
    assert event["isBase64Encoded"] is not text
    assert (event["body"].encode() if text else base64.b64decode(event["body"])) == body


# ---------------------------------------------------------------------------------------------- response


def test_proxy_response_merges_headers_and_defaults_the_content_type() -> None:
    response = proxy_response(
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "Set-Cookie": "a=1", "X-Flag": True},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "created",
        },
        "rid",
    )
    assert response.status == 201
    assert response.body == b"created"
    assert response.headers.count(("Set-Cookie", "a=1")) == 1
    assert ("Set-Cookie", "b=2") in response.headers
    assert ("X-One", "1") in response.headers
    assert ("X-Flag", "true") in response.headers
    assert ("Content-Type", "application/json") in response.headers
    assert ("x-amzn-RequestId", "rid") in response.headers


def test_proxy_response_decodes_base64() -> None:
    raw = bytes(range(256))
    response = proxy_response(
        {"statusCode": 200, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}, "rid"
    )
    assert response.body == raw


@pytest.mark.parametrize(
    "result",
    [
        "text",
        None,
        {"body": "no status"},
        {"statusCode": "abc"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "cookies": ["a=1"]},  # an HTTP API (v2) field: REST APIs reject it
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_malformed_proxy_responses(result: Any) -> None:
    with pytest.raises(MalformedProxyResponse):
        proxy_response(result, "rid")


def test_a_malformed_response_through_the_api_is_a_502() -> None:
    response = api(Recorder({"statusCode": 200, "body": 42})).handle(request("GET", "/items/1"))
    assert response.status == 502
