"""The Payme Subscribe simulator of the local stack, with the real client over HTTP: a saved card pays a
receipt for an apartment, and the simulator, as a cashbox with a Merchant API endpoint, posts it to our
ledger through POST /payme (Check, Create with the receipt id, Perform)."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.testing import StackProcess, running_stack
from tolov.payme.subscribe_api import Card, SubscribeClient, SubscribeError

pytestmark = pytest.mark.e2e

ITEM = {
    "service": "heating",
    "title": "Isitish",
    "amount": 250_000,
    "count": 1,
    "ikpu": "10402001001000000",
    "package_code": "1503617",
    "vat_percent": 12,
}


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack() as running:
        yield running


@pytest.fixture(scope="module")
def payme(stack: StackProcess) -> SubscribeClient:
    assert stack.subscribe_url.endswith("/api") and stack.subscribe_url != stack.config["PAYME_SUBSCRIBE_URL"]
    key = stack.config["PAYME_KEY"]
    return SubscribeClient(stack.subscribe_url, stack.config["PAYME_MERCHANT_ID"], lambda: key)


@pytest.fixture(scope="module")
def card(payme: SubscribeClient) -> Card:
    created = payme.cards_create("8600069195406311", "0399")
    payme.cards_get_verify_code(created.token)
    return payme.cards_verify(created.token, "666666")


def billing(stack: StackProcess, method: str, path: str, body: Any = None) -> Any:
    headers = {"x-api-key": stack.config["BILLING_API_KEY"]}
    response = requests.request(method, stack.url(path), json=body, headers=headers, timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


def debt_of(stack: StackProcess, apartment: str, period: str) -> int:
    billing(stack, "PUT", f"/apartments/{apartment}", {"label": apartment, "resident_id": "r-1"})
    billing(stack, "POST", "/invoices", {"apartment_id": apartment, "period": period, "items": [ITEM]})
    return int(billing(stack, "GET", f"/apartments/{apartment}/balance")["debt"])


def merchant_transaction(stack: StackProcess, receipt_id: str) -> dict[str, Any]:
    """CheckTransaction on our Merchant API, as Payme would send it."""
    credential = base64.b64encode(f"Paycom:{stack.config['PAYME_KEY']}".encode()).decode()
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "CheckTransaction",
        "params": {"id": receipt_id},
    }
    reply = requests.post(
        stack.url("/payme"), json=body, headers={"Authorization": f"Basic {credential}"}, timeout=10
    )
    return dict(reply.json())


def test_the_ready_line_and_banner_name_the_simulator(stack: StackProcess) -> None:
    ready = next(line for line in stack.text().splitlines() if line.startswith("READY "))
    # subscribe=, click=, events=, in that order (the simulators, then issue 11's events tap).
    assert f" subscribe={stack.subscribe_url} click={stack.click_url} " in f"{ready} "
    assert stack.click_url.endswith("/v2/merchant") and ready.endswith(f" events={stack.events_url}")
    assert f"Payme Subscribe simulator  {stack.subscribe_url}" in stack.text()
    assert f"merchant callbacks: on → {stack.api_url}/payme" in stack.text()


def test_a_receipt_paid_with_a_saved_card_reaches_the_ledger_through_the_merchant_api(
    stack: StackProcess, payme: SubscribeClient, card: Card
) -> None:
    debt = debt_of(stack, "sim-1", "2026-11")
    assert debt == 250_000
    receipt = payme.receipts_create(debt, {"apartment_id": "sim-1"}, description="Autopay 2026-11")
    paid = payme.receipts_pay(receipt.id, card.token)
    assert paid.paid and payme.receipts_check(receipt.id) == 4
    assert billing(stack, "GET", "/apartments/sim-1/balance")["debt"] == 0
    transaction = merchant_transaction(stack, receipt.id)["result"]
    assert transaction["state"] == 2 and transaction["perform_time"] > 0


def test_with_callbacks_off_our_ledger_hears_nothing(
    stack: StackProcess, payme: SubscribeClient, card: Card
) -> None:
    debt = debt_of(stack, "sim-2", "2026-11")
    switch = requests.post(stack.simulator_url("/_sim/callbacks"), json={"enabled": False}, timeout=10)
    assert switch.json() == {"enabled": False}
    try:
        receipt = payme.receipts_create(debt, {"apartment_id": "sim-2"})
        assert payme.receipts_pay(receipt.id, card.token).paid
    finally:
        requests.post(stack.simulator_url("/_sim/callbacks"), json={"enabled": True}, timeout=10)
    assert billing(stack, "GET", "/apartments/sim-2/balance")["debt"] == debt  # only the charger would post
    assert merchant_transaction(stack, receipt.id)["error"]["code"] == -31003


def test_our_merchant_api_refusing_fails_the_receipt(
    stack: StackProcess, payme: SubscribeClient, card: Card
) -> None:
    receipt = payme.receipts_create(250_000, {"apartment_id": "no-such-apartment"})
    with pytest.raises(SubscribeError) as raised:
        payme.receipts_pay(receipt.id, card.token)
    assert raised.value.code == -31623
    assert raised.value.data["method"] == "CheckPerformTransaction"
    assert payme.receipts_check(receipt.id) == 50


def test_insufficient_funds_cancels_our_transaction(
    stack: StackProcess, payme: SubscribeClient, card: Card
) -> None:
    debt = debt_of(stack, "sim-3", "2026-11")
    balance = requests.post(
        stack.simulator_url("/_sim/balance"), json={"number": "8600069195406311", "balance": 0}, timeout=10
    )
    assert balance.status_code == 200
    try:
        receipt = payme.receipts_create(debt, {"apartment_id": "sim-3"})
        with pytest.raises(SubscribeError) as raised:
            payme.receipts_pay(receipt.id, card.token)
        assert raised.value.code == -31630
    finally:
        requests.post(
            stack.simulator_url("/_sim/balance"),
            json={"number": "8600069195406311", "balance": 1_000_000_000},
            timeout=10,
        )
    transaction = merchant_transaction(stack, receipt.id)["result"]
    assert (transaction["state"], transaction["reason"]) == (-1, 2)
    assert billing(stack, "GET", "/apartments/sim-3/balance")["debt"] == debt
    assert json.dumps(transaction)  # a plain JSON answer
