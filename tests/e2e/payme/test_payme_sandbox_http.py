"""Payme's sandbox scenarios over HTTP against the local stack (python -m local.stack in a subprocess)."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.testing import StackProcess, running_stack
from tolov_conformance import http
from tolov_conformance.payme_sandbox import Sandbox, basic_auth, scenario_1, scenario_2

pytestmark = pytest.mark.e2e

ITEMS = [
    {
        "service": "water",
        "title": "Sovuq suv",
        "amount": 2_500_000,
        "count": 1,
        "ikpu": "10301001001000000",
        "package_code": "1503826",
        "vat_percent": 12,
    },
    {
        "service": "gas",
        "title": "Gaz",
        "amount": 750_000,
        "count": 2,
        "ikpu": "10302001001000000",
        "package_code": "1503827",
        "vat_percent": 12,
    },
]


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack() as running:
        yield running


def billing(stack: StackProcess, method: str, path: str, body: Any) -> dict[str, Any]:
    reply = requests.request(
        method, stack.url(path), json=body, headers={"x-api-key": stack.config["BILLING_API_KEY"]}, timeout=10
    )
    assert reply.status_code in (200, 201), reply.text
    return reply.json()  # type: ignore[no-any-return]


def new_invoice(stack: StackProcess, apartment_id: str) -> tuple[str, int]:
    billing(stack, "PUT", f"/apartments/{apartment_id}", {"label": "Sandbox flat", "resident_id": "r-1"})
    invoice = billing(
        stack, "POST", "/invoices", {"apartment_id": apartment_id, "period": "2026-11", "items": ITEMS}
    )
    return invoice["invoice_id"], invoice["amount"]


def sandbox(stack: StackProcess, order_id: str, amount: int) -> Sandbox:
    """Over HTTP as the conformance runner sends (its transport, python's urllib)."""
    return Sandbox(http.payme(stack.api_url), order_id, amount, key=stack.config["PAYME_KEY"])


def good_auth(stack: StackProcess) -> str:
    return basic_auth(stack.config["PAYME_KEY"])


def test_scenario_1_over_http(stack: StackProcess) -> None:
    order_id, amount = new_invoice(stack, "e2e-payme-1")
    scenario_1(sandbox(stack, order_id, amount), "6e730e8e0b852a417aa49c01", "6e730e8e0b852a417aa49c02")
    assert billing(stack, "GET", f"/invoices/{order_id}", None)["status"] == "open"


def test_scenario_2_over_http(stack: StackProcess) -> None:
    order_id, amount = new_invoice(stack, "e2e-payme-2")
    payme = sandbox(stack, order_id, amount)
    payme.check_perform()
    payme.create("6e730e8e0b852a417aa49c03", "6e730e8e0b852a417aa49c04")
    payme.perform("6e730e8e0b852a417aa49c03")
    assert billing(stack, "GET", f"/invoices/{order_id}", None)["status"] == "paid"
    payme.cancel("6e730e8e0b852a417aa49c03", reason=5, state=-2)
    assert billing(stack, "GET", f"/invoices/{order_id}", None)["status"] == "open"


def test_scenario_1_then_2_on_one_order_over_http(stack: StackProcess) -> None:
    order_id, amount = new_invoice(stack, "e2e-payme-3")
    payme = sandbox(stack, order_id, amount)
    scenario_1(payme, "6e730e8e0b852a417aa49c05", "6e730e8e0b852a417aa49c06")
    scenario_2(payme, "6e730e8e0b852a417aa49c07", "6e730e8e0b852a417aa49c08")


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"\xff", b"[]", json.dumps({"id": 9, "method": "Nope", "params": {}}).encode()],
)
def test_garbage_is_always_http_200_json_rpc(stack: StackProcess, body: bytes) -> None:
    headers = {"Authorization": good_auth(stack)}
    reply = requests.post(stack.url("/payme"), data=body, headers=headers, timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    data = reply.json()
    assert "error" in data and "id" in data


def test_without_credentials_over_http(stack: StackProcess) -> None:
    body = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": "x" * 24}})
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"Paycom:nope").decode()}):
        reply = requests.post(stack.url("/payme"), data=body, headers=headers, timeout=10)
        assert reply.status_code == 200 and reply.json()["error"]["code"] == -32504


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_a_request_that_is_not_a_post_is_http_200_json_rpc_32300(stack: StackProcess, method: str) -> None:
    headers = {"Authorization": good_auth(stack)}
    reply = requests.request(method, stack.url("/payme"), headers=headers, timeout=10)
    assert reply.status_code == 200
    assert reply.json()["error"]["code"] == -32300
