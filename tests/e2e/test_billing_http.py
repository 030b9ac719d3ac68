"""The billing API over HTTP on the local stack, as the housing platform uses it."""

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.testing import StackProcess, running_stack

pytestmark = pytest.mark.e2e

ITEM = {
    "service": "gas",
    "title": "Gas",
    "amount": 150000,
    "count": 2,
    "ikpu": "10402001001000000",
    "package_code": "1503617",
    "vat_percent": 12,
}


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack(seed=True) as running:
        yield running


def api(
    stack: StackProcess, method: str, path: str, body: Any = None, key: str | None = "default"
) -> requests.Response:
    headers = (
        {} if key is None else {"x-api-key": stack.config["BILLING_API_KEY"] if key == "default" else key}
    )
    return requests.request(method, stack.url(path), json=body, headers=headers, timeout=10)


def test_the_api_key_is_required(stack: StackProcess) -> None:
    assert api(stack, "GET", "/apartments/apt-sergeli-3-102/balance", key=None).status_code == 403
    assert api(stack, "GET", "/apartments/apt-sergeli-3-102/balance", key="wrong").status_code == 403
    assert api(stack, "GET", "/apartments/apt-sergeli-3-102/balance").status_code == 200


def test_seeded_demo_data_is_there(stack: StackProcess) -> None:
    balance = api(stack, "GET", "/apartments/apt-chilonzor-12-45/balance").json()
    assert balance["debt"] > 0 and {c["period"] for c in balance["charges"]} == {"2026-10", "2026-11"}


def test_apartment_invoice_balance_cancel_round_trip(stack: StackProcess) -> None:
    assert (
        api(stack, "PUT", "/apartments/e2e-1", {"label": "Flat 1", "resident_id": "r-1"}).status_code == 201
    )
    assert (
        api(stack, "PUT", "/apartments/e2e-1", {"label": "Flat 1b", "resident_id": "r-1"}).status_code == 200
    )
    created = api(stack, "POST", "/invoices", {"apartment_id": "e2e-1", "period": "2026-11", "items": [ITEM]})
    assert created.status_code == 201, created.text
    invoice = created.json()
    assert (invoice["amount"], invoice["status"]) == (300000, "open")
    payme = base64.b64decode(invoice["payment_links"]["payme"].rsplit("/", 1)[1]).decode()
    assert payme == f"m={stack.config['PAYME_MERCHANT_ID']};ac.order_id={invoice['invoice_id']};a=300000"
    assert invoice["payment_links"]["payme"].startswith("https://test.paycom.uz/")
    assert "amount=3000.00" in invoice["payment_links"]["click"]
    assert api(stack, "GET", f"/invoices/{invoice['invoice_id']}").json() == invoice
    balance = api(stack, "GET", "/apartments/e2e-1/balance").json()
    assert (balance["debt"], balance["credit"], len(balance["charges"])) == (300000, 0, 1)
    assert api(stack, "POST", f"/invoices/{invoice['invoice_id']}/cancel").json()["status"] == "cancelled"
    assert api(stack, "GET", "/apartments/e2e-1/balance").json()["debt"] == 0


def test_errors_are_json_with_the_field(stack: StackProcess) -> None:
    reply = api(stack, "POST", "/invoices", {"apartment_id": "e2e-1", "period": "11-2026", "items": [ITEM]})
    assert reply.status_code == 422 and "period" in reply.json()["message"]
    assert (
        api(
            stack, "POST", "/invoices", {"apartment_id": "ghost", "period": "2026-11", "items": [ITEM]}
        ).status_code
        == 404
    )
    assert api(stack, "GET", "/nowhere").status_code == 403


def test_a_repeat_is_200_and_an_idempotency_key_replays_the_first_reply(stack: StackProcess) -> None:
    api(stack, "PUT", "/apartments/e2e-2", {"label": "Flat 2", "resident_id": "r-2"})
    body = {"apartment_id": "e2e-2", "period": "2026-11", "items": [ITEM]}
    headers = {"x-api-key": stack.config["BILLING_API_KEY"], "idempotency-key": "e2e-key-1"}
    first = requests.post(stack.url("/invoices"), json=body, headers=headers, timeout=10)
    assert first.status_code == 201, first.text
    replay = requests.post(stack.url("/invoices"), json=body, headers=headers, timeout=10)
    assert (replay.status_code, replay.json()) == (201, first.json())
    repeat = api(stack, "POST", "/invoices", body)
    assert (repeat.status_code, repeat.json()) == (200, first.json())
    other = api(stack, "POST", "/invoices", {**body, "items": [{**ITEM, "count": 3}]})
    assert other.status_code == 409 and other.json()["invoice_id"] == first.json()["invoice_id"]


def test_unreadable_bodies_are_client_errors_in_the_documented_shape(stack: StackProcess) -> None:
    key = {"x-api-key": stack.config["BILLING_API_KEY"]}
    latin = requests.post(
        stack.url("/invoices"),
        data=b"\xff\xfe{",
        headers={**key, "Content-Type": "application/json"},
        timeout=10,
    )
    assert latin.status_code == 400 and set(latin.json()) == {"message", "errors"}, latin.text
    text = requests.post(
        stack.url("/invoices"), data="{}", headers={**key, "Content-Type": "text/plain"}, timeout=10
    )
    assert text.status_code == 415 and [e["field"] for e in text.json()["errors"]] == ["Content-Type"]
