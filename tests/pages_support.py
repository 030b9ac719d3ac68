"""Helpers of the resident pages' tests: their handler and the billing API's, called with API Gateway
events, and a world of moto's tables with the in-memory Subscribe API behind enrolment."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.autopay_fakes import FakeSubscribe
from tests.payme_harness import water
from tests.support import FakeContext, load_handler, rest_event
from tolov.settings import get_settings

API_KEY = {"x-api-key": "local-billing-key"}


def page_event(
    resource: str,
    params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = rest_event("GET", resource, params, headers={"Accept": "text/html", **(headers or {})})
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    return event


def pages(event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    reply = load_handler("resident_pages").lambda_handler(event, FakeContext())
    headers = {**(reply.get("headers") or {})}
    headers.update({k: v[-1] for k, v in (reply.get("multiValueHeaders") or {}).items()})
    return reply["statusCode"], headers, reply.get("body") or ""


def billing(
    method: str, resource: str, params: dict[str, str] | None = None, body: Any = None
) -> tuple[int, Any]:
    reply = load_handler("billing_api").lambda_handler(
        rest_event(method, resource, params, body, API_KEY), FakeContext()
    )
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else None


def enrol_post(body: Any) -> tuple[int, Any]:
    reply = load_handler("resident_pages").lambda_handler(
        rest_event("POST", "/autopay/enrol", None, body), FakeContext()
    )
    return reply["statusCode"], json.loads(reply["body"])


def fresh_handlers() -> None:
    get_settings.cache_clear()
    load_handler("billing_api").api.reset()
    load_handler("resident_pages").pages.reset()


def new_invoice(period: str = "2026-11") -> dict[str, Any]:
    item = water(25_000_00, 2)
    body = {
        "apartment_id": "apt-1",
        "period": period,
        "items": [
            {
                "service": item.service,
                "title": item.title,
                "amount": item.amount,
                "count": item.count,
                "ikpu": item.ikpu,
                "package_code": item.package_code,
                "vat_percent": item.vat_percent,
            }
        ],
    }
    status, invoice = billing("POST", "/invoices", None, body)
    assert status == 201
    return invoice


@contextmanager
def pages_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSubscribe]:
    """Inside moto (the aws fixture): apartment apt-1, handlers built afresh, Subscribe the fake."""
    from tolov.billing_api import autopay_enrolment

    subscribe = FakeSubscribe()
    monkeypatch.setattr(autopay_enrolment, "build_subscribe_client", lambda settings: subscribe)
    fresh_handlers()
    apartment = {"label": "Chilonzor 9-12-34", "resident_id": "r1"}
    assert billing("PUT", "/apartments/{apartment_id}", {"apartment_id": "apt-1"}, apartment)[0] == 201
    try:
        yield subscribe
    finally:
        fresh_handlers()


def new_link(apartment: str = "apt-1", **changes: Any) -> tuple[int, Any]:
    body = {"day_of_month": 5, "max_amount": 50_000_00, **changes}
    return billing("POST", "/apartments/{apartment_id}/autopay-links", {"apartment_id": apartment}, body)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]
