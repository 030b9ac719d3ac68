"""Events out over the local stack: a Payme payment and a Click payment, made over HTTP as the providers
make them, reach GET /_local/events through the tables' streams, EventPublisherFunction and the bus:
newest first, each valid against its schema, with the ids, the provider, the amount in tiyin and the time."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.testing import StackProcess, running_stack
from tests.click_support import complete_form, prepare_form
from tests.event_schemas import validate_delivered
from tolov_conformance.payme_sandbox import basic_auth

pytestmark = pytest.mark.e2e

ITEM = {
    "service": "water",
    "title": "Sovuq suv",
    "amount": 1_234_500,
    "count": 1,
    "ikpu": "10301001001000000",
    "package_code": "1503826",
    "vat_percent": 12,
}


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack() as running:
        yield running


def billing(stack: StackProcess, method: str, path: str, body: Any = None) -> dict[str, Any]:
    key = {"x-api-key": stack.config["BILLING_API_KEY"]}
    reply = requests.request(method, stack.url(path), json=body, headers=key, timeout=10)
    assert reply.status_code in (200, 201), reply.text
    return reply.json()  # type: ignore[no-any-return]


def new_invoice(stack: StackProcess, apartment_id: str) -> tuple[str, int]:
    billing(stack, "PUT", f"/apartments/{apartment_id}", {"label": "Flat", "resident_id": "r-1"})
    body = {"apartment_id": apartment_id, "period": "2026-11", "items": [ITEM]}
    invoice = billing(stack, "POST", "/invoices", body)
    return invoice["invoice_id"], invoice["amount"]


def payme(stack: StackProcess, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    headers = {"Authorization": basic_auth(stack.config["PAYME_KEY"]), "Content-Type": "application/json"}
    reply = requests.post(stack.url("/payme"), data=body, headers=headers, timeout=10).json()
    assert "result" in reply, reply
    return reply["result"]  # type: ignore[no-any-return]


def click(stack: StackProcess, path: str, form: dict[str, str]) -> dict[str, Any]:
    reply = requests.post(stack.url(path), data=form, timeout=10).json()
    assert reply["error"] == 0, reply
    return reply  # type: ignore[no-any-return]


def events_until(stack: StackProcess, wanted: set[str], timeout: float = 30.0) -> list[dict[str, Any]]:
    """GET /_local/events until every wanted event id is there (the stream pollers run in the stack)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = requests.get(stack.events_url, timeout=10)
        assert reply.status_code == 200
        events: list[dict[str, Any]] = reply.json()["events"]
        if wanted <= {e["detail"]["event_id"] for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_a_payme_and_a_click_payment_produce_their_events(stack: StackProcess) -> None:
    assert stack.events_url == stack.url("/_local/events")
    payme_invoice, amount = new_invoice(stack, "e2e-events-payme")
    payme_id = "6e730e8e0b852a417aa4e001"
    account = {"order_id": payme_invoice}
    payme(
        stack,
        "CreateTransaction",
        {"id": payme_id, "time": int(time.time() * 1000), "amount": amount, "account": account},
    )
    payme(stack, "PerformTransaction", {"id": payme_id})

    click_invoice, click_amount = new_invoice(stack, "e2e-events-click")
    trans_id = "9200000001"
    sum_text = f"{click_amount // 100}.{click_amount % 100:02d}"
    prepared = click(stack, "/click/prepare", prepare_form(trans_id, click_invoice, sum_text))
    click(
        stack,
        "/click/complete",
        complete_form(trans_id, click_invoice, sum_text, prepared["merchant_prepare_id"]),
    )

    wanted = {
        f"payment.completed:payme:{payme_id}",
        f"payment.completed:click:{trans_id}",
        f"invoice.paid:{payme_invoice}:payme#{payme_id}",
        f"invoice.paid:{click_invoice}:click#{trans_id}",
    }
    events = events_until(stack, wanted)
    print("\nGET /_local/events after one Payme and one Click payment:")
    for event in events:
        print(
            json.dumps({"detail-type": event["detail-type"], "detail": event["detail"]}, ensure_ascii=False)
        )
    ids = [e["detail"]["event_id"] for e in events]
    assert wanted <= set(ids), ids
    for event in events:
        validate_delivered(event)
    # Newest first: Click's payment came after Payme's.
    assert ids.index(f"payment.completed:click:{trans_id}") < ids.index(f"payment.completed:payme:{payme_id}")
    by_id = {e["detail"]["event_id"]: e["detail"] for e in events}
    completed = by_id[f"payment.completed:payme:{payme_id}"]
    assert (completed["provider"], completed["amount"], completed["account"]) == (
        "payme",
        amount,
        {"kind": "invoice", "id": payme_invoice},
    )
    assert by_id[f"payment.completed:click:{trans_id}"]["amount"] == click_amount
    # The stack's own route: nothing but GET.
    assert requests.post(stack.events_url, timeout=10).status_code == 405
