"""Autopay over HTTP on the local stack: a simulator card enrolled, a date run, the ledger moved.

Everything goes through the stack's own ports: the billing API (POST /autopay, POST /autopay/runs, GET
/autopay/{id}, the apartment and the invoice), the Payme Subscribe simulator on the port its READY line
names (cards.create with expire "0399", cards.get_verify_code, cards.verify with 666666, and the /_sim
controls), and the template's SQS event source, which the stack polls in-process: the run's messages are
charged by AutopayChargerFunction as Lambda would invoke it. With callbacks on (the simulator's default),
the simulator calls our /payme before it debits the card, so the Merchant API posts first and the charger
finds the receipt posted; with them off only the charger posts. The stack's stream event sources run
EventPublisherFunction: autopay.charged and autopay.failed are read at /_local/events and validated
against their schemas (docs/events).

A run date may not be in the future, so an autopay is made due on a chosen date through moto's DynamoDB
(its due index keys); everything else is what a client of the stack does.
"""

import base64
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import boto3
import pytest
import requests

from local.template import LOCAL_REGION
from local.testing import StackProcess, running_stack
from tests.event_schemas import validate_delivered
from tolov.clock import now_ms, tashkent_date
from tolov.payme.subscribe_api import SubscribeClient

pytestmark = pytest.mark.e2e

CARD = "8600495473316478"
OTHER_CARD = "8600069195406311"
SIM_BALANCE = 10_000_000 * 100  # the simulator's default balance of a test card, in tiyin
ITEM = {
    "service": "water",
    "title": "Sovuq suv",
    "amount": 250_000,
    "count": 1,
    "ikpu": "10301001001000000",
    "package_code": "1503826",
    "vat_percent": 12,
}
WAIT_S = 30


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack() as running:
        yield running


@pytest.fixture(scope="module")
def payme(stack: StackProcess) -> SubscribeClient:
    """Payme's Subscribe API as the resident's front end and this test see it: the simulator."""
    key = stack.config["PAYME_KEY"]
    return SubscribeClient(stack.subscribe_url, stack.config["PAYME_MERCHANT_ID"], lambda: key)


def saved_card(payme: SubscribeClient, number: str) -> str:
    """A verified, recurrent token, as the pay page's cards.create, get_verify_code and verify make it."""
    created = payme.cards_create(number, "0399")
    assert created.expire == "03/99" and not created.verify
    payme.cards_get_verify_code(created.token)
    verified = payme.cards_verify(created.token, "666666")
    assert verified.verify and verified.recurrent
    return verified.token


def api(stack: StackProcess, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"x-api-key": stack.config["BILLING_API_KEY"]}
    return requests.request(method, stack.url(path), json=body, headers=headers, timeout=20)


def sim(stack: StackProcess, control: str, body: dict[str, Any]) -> None:
    reply = requests.post(stack.simulator_url(f"/_sim/{control}"), json=body, timeout=10)
    assert reply.status_code == 200, reply.text


def moto(stack: StackProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=stack.moto_url,
        region_name=LOCAL_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def apartment_with_debt(stack: StackProcess, apartment: str) -> str:
    """The apartment and one open invoice of 2 500 sum; the invoice's id."""
    put = api(stack, "PUT", f"/apartments/{apartment}", {"label": "Flat", "resident_id": "r1"})
    assert put.status_code in (200, 201), put.text
    body = {"apartment_id": apartment, "period": "2026-11", "items": [ITEM]}
    invoice = api(stack, "POST", "/invoices", body)
    assert invoice.status_code == 201, invoice.text
    return str(invoice.json()["invoice_id"])


def enrol(stack: StackProcess, apartment: str, token: str) -> dict[str, Any]:
    body = {
        "apartment_id": apartment,
        "provider": "payme",
        "card_token": token,
        "day_of_month": 5,
        "max_amount": 1_000_000,
    }
    created = api(stack, "POST", "/autopay", body)
    assert created.status_code == 201, created.text
    assert token not in created.text
    autopay: dict[str, Any] = created.json()
    return autopay


def make_due(stack: StackProcess, autopay_id: str, day: date) -> None:
    """The autopay due on `day`: what its day of month makes it some month (the due index's keys)."""
    moto(stack, "dynamodb").update_item(
        TableName="AutopayTable",
        Key={"pk": {"S": autopay_id}, "sk": {"S": "autopay"}},
        UpdateExpression="SET due_key = :key, due_period = :period",
        ExpressionAttributeValues={
            ":key": {"S": f"{day.isoformat()}#{autopay_id}"},
            ":period": {"S": day.isoformat()[:7]},
        },
    )


def run(stack: StackProcess, day: date) -> int:
    reply = api(stack, "POST", "/autopay/runs", {"date": day.isoformat()})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["date"] == day.isoformat() and set(body) == {"date", "queued"}
    return int(body["queued"])


def autopay_of(stack: StackProcess, autopay_id: str) -> dict[str, Any]:
    reply = api(stack, "GET", f"/autopay/{autopay_id}")
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


def until(what: Callable[[], Any], seconds: float = WAIT_S) -> Any:
    """Polls while the stack's SQS poller charges; the last value when time runs out."""
    deadline = time.monotonic() + seconds
    while not (value := what()) and time.monotonic() < deadline:
        time.sleep(0.3)
    return value


def next_charge_on(stack: StackProcess, autopay_id: str, day: date) -> dict[str, Any] | None:
    """The autopay once its next charge date is `day`."""
    autopay: dict[str, Any] = autopay_of(stack, autopay_id)
    return autopay if autopay["next_charge_date"] == day.isoformat() else None


def moved_past(stack: StackProcess, autopay_id: str, day: date) -> dict[str, Any] | None:
    """The autopay once its next charge date is after `day`."""
    autopay: dict[str, Any] = autopay_of(stack, autopay_id)
    return autopay if autopay["next_charge_date"] > day.isoformat() else None


def attempts_of(stack: StackProcess, autopay_id: str, n: int) -> list[dict[str, Any]] | None:
    """The autopay's attempts, newest first, once there are n and none is in flight."""
    attempts: list[dict[str, Any]] = autopay_of(stack, autopay_id)["attempts"]
    decided = len(attempts) >= n and all(a["outcome"] != "in_flight" for a in attempts)
    return attempts if decided else None


def balance(stack: StackProcess, apartment: str) -> tuple[int, int]:
    found = api(stack, "GET", f"/apartments/{apartment}/balance").json()
    return int(found["debt"]), int(found["credit"])


def paid_receipts(payme: SubscribeClient, apartment: str) -> list[str]:
    """The simulator's paid receipts for the apartment (receipts.get_all over the last hour)."""
    to_ms = now_ms() + 60_000
    found = payme.receipts_get_all(50, to_ms - 3_600_000, to_ms)
    return [
        r.id
        for r in found
        if r.paid and any(isinstance(a, dict) and a.get("value") == apartment for a in r.account)
    ]


def merchant_transaction(stack: StackProcess, receipt_id: str) -> dict[str, Any]:
    """CheckTransaction on our Merchant API, as Payme would send it."""
    credential = base64.b64encode(f"Paycom:{stack.config['PAYME_KEY']}".encode()).decode()
    body = {"jsonrpc": "2.0", "id": 1, "method": "CheckTransaction", "params": {"id": receipt_id}}
    reply = requests.post(
        stack.url("/payme"), json=body, headers={"Authorization": f"Basic {credential}"}, timeout=10
    )
    return dict(reply.json())


def events_until(stack: StackProcess, found: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """The stack's published events (GET /_local/events, newest first) once `found` holds of them."""
    deadline = time.monotonic() + WAIT_S
    while True:
        events: list[dict[str, Any]] = requests.get(stack.events_url, timeout=10).json()["events"]
        if found(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def events_named(events: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [e for e in events if e["detail"]["event_id"].startswith(prefix)]


def test_enrol_a_simulator_card_run_a_date_see_the_ledger(
    stack: StackProcess, payme: SubscribeClient
) -> None:
    invoice_id = apartment_with_debt(stack, "e2e-ap-1")
    token = saved_card(payme, CARD)
    autopay = enrol(stack, "e2e-ap-1", token)
    assert autopay["status"] == "active" and autopay["attempts"] == []
    assert autopay["card"] == {"number": "860049******6478", "expire": "03/99"}
    again = api(stack, "POST", "/autopay", {**_enrolment("e2e-ap-1", token), "max_amount": 2_000_000})
    assert (again.status_code, again.json()["autopay_id"]) == (409, autopay["autopay_id"])

    today = tashkent_date(now_ms())
    make_due(stack, autopay["autopay_id"], today)
    assert run(stack, today - timedelta(days=1)) == 0  # not due yet on the day before
    assert run(stack, today) == 1

    [attempt] = until(lambda: attempts_of(stack, autopay["autopay_id"], 1))
    assert (attempt["outcome"], attempt["amount"]) == ("paid", 250_000), stack.log_text()[-3000:]
    assert attempt["period"] == today.isoformat()[:7]
    assert balance(stack, "e2e-ap-1") == (0, 0)
    assert api(stack, "GET", f"/invoices/{invoice_id}").json()["status"] == "paid"
    # Paid is recorded before the autopay's next date moves (two writes): wait for both.
    fetched = until(lambda: moved_past(stack, autopay["autopay_id"], today))
    assert fetched is not None and fetched["status"] == "active"
    # Callbacks on: the simulator's CreateTransaction and PerformTransaction reached our Merchant API.
    [receipt_id] = paid_receipts(payme, "e2e-ap-1")
    assert attempt["receipt_id"] == receipt_id
    assert merchant_transaction(stack, receipt_id)["result"]["state"] == 2
    # EventPublisherFunction, off AutopayTable's stream: autopay.charged for that period's receipt.
    charged_id = f"autopay.charged:{autopay['autopay_id']}:{today.isoformat()[:7]}:{receipt_id}"
    events = events_until(stack, lambda found: bool(events_named(found, charged_id)))
    [charged] = events_named(events, charged_id)
    validate_delivered(charged)
    assert (charged["detail"]["amount"], charged["detail"]["apartment_id"]) == (250_000, "e2e-ap-1")
    assert token not in str(events)

    # The same date again, twice at once and once more: nothing is due, nothing is charged again.
    assert run(stack, today) == 0
    time.sleep(2)  # what a stray message would take to be charged
    assert paid_receipts(payme, "e2e-ap-1") == [receipt_id] and balance(stack, "e2e-ap-1") == (0, 0)
    assert len(autopay_of(stack, autopay["autopay_id"])["attempts"]) == 1
    assert token not in stack.log_text()


def _enrolment(apartment: str, token: str) -> dict[str, Any]:
    return {"apartment_id": apartment, "provider": "payme", "card_token": token, "day_of_month": 5}


def test_repeated_runs_before_the_charge_still_charge_once(
    stack: StackProcess, payme: SubscribeClient
) -> None:
    apartment_with_debt(stack, "e2e-ap-2")
    autopay = enrol(stack, "e2e-ap-2", saved_card(payme, CARD))
    day = _past_day(0)
    make_due(stack, autopay["autopay_id"], day)
    queued = [run(stack, day) for _ in range(3)]  # ops repeating the run while the first is charging
    assert queued[0] == 1 and sum(queued) >= 1
    until(lambda: balance(stack, "e2e-ap-2") == (0, 0))
    time.sleep(2)  # the other messages, if any, are delivered and find the period paid
    assert len(paid_receipts(payme, "e2e-ap-2")) == 1 and balance(stack, "e2e-ap-2") == (0, 0)
    outcomes = [a["outcome"] for a in autopay_of(stack, autopay["autopay_id"])["attempts"]]
    assert outcomes == ["paid"]
    assert run(stack, day) == 0


def test_insufficient_funds_then_cured_on_a_later_run(stack: StackProcess, payme: SubscribeClient) -> None:
    invoice_id = apartment_with_debt(stack, "e2e-ap-3")
    autopay = enrol(stack, "e2e-ap-3", saved_card(payme, OTHER_CARD))
    first, second = _past_day(2), _past_day(3)
    make_due(stack, autopay["autopay_id"], first)
    sim(stack, "balance", {"number": OTHER_CARD, "balance": 100})
    try:
        assert run(stack, first) == 1
        [declined] = until(lambda: attempts_of(stack, autopay["autopay_id"], 1))
        assert declined["outcome"] == "declined" and declined["error_code"] is not None
        # The decline is recorded before the autopay's next date moves (two writes): wait for both.
        fetched = until(lambda: next_charge_on(stack, autopay["autopay_id"], second))
        assert fetched is not None and fetched["status"] == "active"
        assert balance(stack, "e2e-ap-3")[0] == 250_000 and paid_receipts(payme, "e2e-ap-3") == []
        # Our Merchant API heard of the receipt (callbacks on) and had it cancelled, reason 2.
        cancelled = merchant_transaction(stack, declined["receipt_id"])["result"]
        assert (cancelled["state"], cancelled["reason"]) == (-1, 2)
    finally:
        sim(stack, "balance", {"number": OTHER_CARD, "balance": SIM_BALANCE})
    assert run(stack, second) == 1
    paid, _ = until(lambda: attempts_of(stack, autopay["autopay_id"], 2))
    assert paid["outcome"] == "paid" and paid["receipt_id"] != declined["receipt_id"]
    assert balance(stack, "e2e-ap-3") == (0, 0)
    assert api(stack, "GET", f"/invoices/{invoice_id}").json()["status"] == "paid"


def test_a_card_expired_after_enrolment_deactivates_the_autopay_and_emits_autopay_failed(
    stack: StackProcess, payme: SubscribeClient
) -> None:
    apartment_with_debt(stack, "e2e-ap-4")
    autopay = enrol(stack, "e2e-ap-4", saved_card(payme, OTHER_CARD))
    day = _past_day(5)
    make_due(stack, autopay["autopay_id"], day)
    sim(stack, "card", {"number": OTHER_CARD, "status": "expired"})
    try:
        assert run(stack, day) == 1
        inactive = until(lambda: autopay_of(stack, autopay["autopay_id"])["status"] == "inactive")
        assert inactive
    finally:
        sim(stack, "card", {"number": OTHER_CARD, "status": "ok"})
    fetched = autopay_of(stack, autopay["autopay_id"])
    [attempt] = fetched["attempts"]
    assert attempt["outcome"] == "declined" and balance(stack, "e2e-ap-4")[0] == 250_000
    # Written with the deactivation; EventPublisherFunction emits it off AutopayTable's stream.
    prefix = f"autopay.failed:{autopay['autopay_id']}:"
    [event] = events_named(events_until(stack, lambda found: bool(events_named(found, prefix))), prefix)
    validate_delivered(event)
    assert (event["detail"]["apartment_id"], event["detail"]["reason"]) == ("e2e-ap-4", "card_declined")
    assert event["detail"]["receipt_id"] == attempt["receipt_id"]
    assert run(stack, day) == 0  # an inactive autopay is due no more


def test_with_callbacks_off_the_charger_posts() -> None:
    """PAYME_SIM_MERCHANT_CALLBACKS=0: the simulator debits without calling our /payme; the charger posts."""
    with running_stack(env={"PAYME_SIM_MERCHANT_CALLBACKS": "0"}) as quiet:
        assert "merchant callbacks: off" in quiet.text()
        key = quiet.config["PAYME_KEY"]
        payme = SubscribeClient(quiet.subscribe_url, quiet.config["PAYME_MERCHANT_ID"], lambda: key)
        apartment_with_debt(quiet, "e2e-ap-5")
        autopay = enrol(quiet, "e2e-ap-5", saved_card(payme, CARD))
        day = _past_day(7)
        make_due(quiet, autopay["autopay_id"], day)
        assert run(quiet, day) == 1
        [attempt] = until(lambda: attempts_of(quiet, autopay["autopay_id"], 1))
        assert attempt["outcome"] == "paid" and balance(quiet, "e2e-ap-5") == (0, 0)
        # Our Merchant API never heard of that receipt: the charger's posting is the only one.
        assert merchant_transaction(quiet, attempt["receipt_id"])["error"]["code"] == -31003
        assert paid_receipts(payme, "e2e-ap-5") == [attempt["receipt_id"]]


def _past_day(offset: int) -> date:
    """The 10th of last month, plus `offset` days: a run date that has come, whose next days (its
    retries) are in its own month, so they charge the same period."""
    first_of_month = tashkent_date(now_ms()).replace(day=1)
    return (first_of_month - timedelta(days=1)).replace(day=10) + timedelta(days=offset)
