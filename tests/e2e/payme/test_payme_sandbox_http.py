"""Payme's sandbox scenarios over HTTP against the local stack (python -m local.stack in a subprocess)."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.testing import StackProcess, running_stack
from tests.payme_sandbox import GOOD_AUTH, Sandbox, scenario_1, scenario_2

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


def http(stack: StackProcess) -> Any:
    def send(body: str, authorization: str) -> tuple[int, dict[str, Any]]:
        reply = requests.post(
            stack.url("/payme"),
            data=body.encode(),
            headers={"Authorization": authorization, "Content-Type": "text/json; charset=UTF-8"},
            timeout=10,
        )
        assert reply.headers["Content-Type"].startswith("application/json")
        return reply.status_code, reply.json()

    return send


def test_scenario_1_over_http(stack: StackProcess) -> None:
    order_id, amount = new_invoice(stack, "e2e-payme-1")
    scenario_1(Sandbox(http(stack), order_id, amount), "6e730e8e0b852a417aa49c01", "6e730e8e0b852a417aa49c02")
    assert billing(stack, "GET", f"/invoices/{order_id}", None)["status"] == "open"


def test_scenario_2_over_http(stack: StackProcess) -> None:
    order_id, amount = new_invoice(stack, "e2e-payme-2")
    sandbox = Sandbox(http(stack), order_id, amount)
    sandbox.check_perform()
    sandbox.create("6e730e8e0b852a417aa49c03", "6e730e8e0b852a417aa49c04")
    sandbox.perform("6e730e8e0b852a417aa49c03")
    assert billing(stack, "GET", f"/invoices/{order_id}", None)["status"] == "paid"
    sandbox.cancel("6e730e8e0b852a417aa49c03", reason=5, state=-2)
    assert billing(stack, "GET", f"/invoices/{order_id}", None)["status"] == "open"


def test_scenario_1_then_2_on_one_order_over_http(stack: StackProcess) -> None:
    order_id, amount = new_invoice(stack, "e2e-payme-3")
    scenario_1(Sandbox(http(stack), order_id, amount), "6e730e8e0b852a417aa49c05", "6e730e8e0b852a417aa49c06")
    scenario_2(Sandbox(http(stack), order_id, amount), "6e730e8e0b852a417aa49c07", "6e730e8e0b852a417aa49c08")


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"\xff", b"[]", json.dumps({"id": 9, "method": "Nope", "params": {}}).encode()],
)
def test_garbage_is_always_http_200_json_rpc(stack: StackProcess, body: bytes) -> None:
    reply = requests.post(stack.url("/payme"), data=body, headers={"Authorization": GOOD_AUTH}, timeout=10)
    assert reply.status_code == 200
    data = reply.json()
    assert "error" in data and "id" in data


def test_without_credentials_over_http(stack: StackProcess) -> None:
    body = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": "x" * 24}})
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"Paycom:nope").decode()}):
        reply = requests.post(stack.url("/payme"), data=body, headers=headers, timeout=10)
        assert reply.status_code == 200 and reply.json()["error"]["code"] == -32504


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_a_request_that_is_not_a_post_is_http_200_json_rpc_32300(stack: StackProcess, method: str) -> None:
    reply = requests.request(method, stack.url("/payme"), headers={"Authorization": GOOD_AUTH}, timeout=10)
    assert reply.status_code == 200
    assert reply.json()["error"]["code"] == -32300
