"""Every bad request to the billing API answers 4xx in the documented {"message", "errors"} shape."""

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_billing_api import ITEMS
from tests.support import FakeContext, load_handler, rest_event

INVOICE = {"apartment_id": "apt-12", "period": "2026-11", "items": ITEMS}
# (method, resource, path parameters, a body the route accepts)
ROUTES: list[tuple[str, str, dict[str, str] | None, Any]] = [
    ("PUT", "/apartments/{apartment_id}", {"apartment_id": "apt-12"}, {"label": "L", "resident_id": "r"}),
    ("GET", "/apartments/{apartment_id}/balance", {"apartment_id": "apt-12"}, None),
    ("POST", "/invoices", None, INVOICE),
    ("GET", "/invoices/{invoice_id}", {"invoice_id": "1234567890"}, None),
    ("POST", "/invoices/{invoice_id}/cancel", {"invoice_id": "1234567890"}, None),
    ("GET", "/openapi.json", None, None),
]
BODY_ROUTES = [r for r in ROUTES if r[3] is not None]


def send(event: dict[str, Any]) -> tuple[int, Any]:
    reply = load_handler("billing_api").lambda_handler(event, FakeContext())
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else None


def raw_event(
    method: str, resource: str, params: dict[str, str] | None, body: bytes | str, **headers: str
) -> dict[str, Any]:
    event = rest_event(method, resource, params, headers=headers)
    if isinstance(body, bytes):
        event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    else:
        event.update(body=body, isBase64Encoded=False)
    return event


def assert_documented(status: int, reply: Any, *expected: int) -> None:
    assert status in expected, (status, reply)
    assert isinstance(reply, dict) and isinstance(reply["message"], str), reply
    assert isinstance(reply["errors"], list), reply
    assert all(set(e) == {"field", "error"} for e in reply["errors"]), reply


@pytest.mark.parametrize(("method", "resource", "params", "good"), BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe{",  # not UTF-8
        json.dumps(INVOICE).encode("utf-16"),  # JSON, but not in UTF-8
        "{not json",
        "[" * 100_000,  # deeper than any parser recurses
        "",
    ],
    ids=["latin", "utf16", "syntax", "deep", "empty"],
)
def test_a_malformed_body_is_400_or_422(
    aws: None, method: str, resource: str, params: dict[str, str] | None, good: Any, body: bytes | str
) -> None:
    status, reply = send(raw_event(method, resource, params, body))
    assert_documented(status, reply, 400, 422)


def test_a_body_that_is_not_base64_although_flagged_so_is_400(aws: None) -> None:
    event = raw_event("POST", "/invoices", None, json.dumps(INVOICE))
    event["isBase64Encoded"] = True
    status, reply = send(event)
    assert_documented(status, reply, 400)
    assert reply["errors"] == [{"field": "body", "error": reply["errors"][0]["error"]}]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"],
)
def test_a_wrong_content_type_is_415_in_the_documented_shape(aws: None, content_type: str) -> None:
    event = raw_event("POST", "/invoices", None, json.dumps(INVOICE), **{"Content-Type": content_type})
    status, reply = send(event)
    assert_documented(status, reply, 415)
    assert [e["field"] for e in reply["errors"]] == ["Content-Type"]
    assert "statusCode" not in reply and "detail" not in reply


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8", ""])
def test_json_content_types_are_read(aws: None, content_type: str) -> None:
    event = raw_event("POST", "/invoices", None, json.dumps(INVOICE), **{"Content-Type": content_type})
    status, reply = send(event)
    assert status == 404 and reply["errors"] == [{"field": "apartment_id", "error": "not found"}]


def test_an_unknown_route_answers_in_the_documented_shape(aws: None) -> None:
    status, reply = send(rest_event("DELETE", "/invoices/{invoice_id}", {"invoice_id": "1"}))
    assert_documented(status, reply, 404)


bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=20,
    ).map(lambda value: json.dumps(value)),
    st.builds(
        lambda route, drop, extra: json.dumps(
            {**{k: v for k, v in (route[3] or {}).items() if k != drop}, **extra}
        ),
        st.sampled_from(BODY_ROUTES),
        st.sampled_from(["", "apartment_id", "items", "label", "period"]),
        st.dictionaries(st.sampled_from(["items", "period", "label", "x"]), st.integers(), max_size=2),
    ),
)
header_names = st.sampled_from(["Content-Type", "content-type", "Idempotency-Key", "X-Other", "Accept"])
header_values = st.one_of(
    st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x", ""]),
    st.text(max_size=40),
)


@settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES + BODY_ROUTES * 2),  # the routes that read a body, more often
    body=bodies,
    base64_flag=st.booleans(),
    headers=st.dictionaries(header_names, header_values, max_size=3),
)
def test_garbage_bodies_and_headers_never_answer_5xx(
    aws: None,
    route: tuple[str, str, dict[str, str] | None, Any],
    body: bytes | str,
    base64_flag: bool,
    headers: dict[str, str],
) -> None:
    method, resource, params, _ = route
    event = raw_event(method, resource, params, body, **headers)
    if base64_flag and isinstance(body, str):
        event["isBase64Encoded"] = True  # a text body flagged as base64: maybe decodable, maybe not
    status, reply = send(event)
    assert status < 500, (status, reply)
    if status >= 400:
        assert_documented(status, reply, status)
