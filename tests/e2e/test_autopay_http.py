"""Autopay over HTTP on the local stack: enrol a card saved with the stack's Payme Subscribe simulator,
run a date, see the ledger, and the events (autopay.charged, autopay.failed) at /_local/events.

The simulator (local/subscribe_sim) plays Payme, calling our /payme as a cashbox's Merchant API; the
stack's SQS event sources run the charger, its stream event sources the event publisher.
"""

import time
from collections.abc import Iterator
from datetime import timedelta
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

ITEM = {
    "service": "water",
    "title": "Sovuq suv",
    "amount": 250_000,
    "count": 1,
    "ikpu": "10301001001000000",
    "package_code": "1503826",
    "vat_percent": 12,
}


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack() as running:
        yield running


def saved_card(stack: StackProcess, number: str) -> str:
    """A verified card token, saved the way a resident saves one (cards.create, the SMS code)."""
    key = stack.config["PAYME_KEY"]
    payme = SubscribeClient(stack.subscribe_url, stack.config["PAYME_MERCHANT_ID"], lambda: key)
    created = payme.cards_create(number, "0399")
    payme.cards_get_verify_code(created.token)
    return payme.cards_verify(created.token, "666666").token


def api(stack: StackProcess, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"x-api-key": stack.config["BILLING_API_KEY"]}
    return requests.request(method, stack.url(path), json=body, headers=headers, timeout=20)


def moto(stack: StackProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=stack.moto_url,
        region_name=LOCAL_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def make_due_today(stack: StackProcess, autopay_id: str, today: str) -> None:
    """An autopay due today: its day of month may be tomorrow, and a run date may not be in the future."""
    moto(stack, "dynamodb").update_item(
        TableName="AutopayTable",
        Key={"pk": {"S": autopay_id}, "sk": {"S": "autopay"}},
        UpdateExpression="SET due_key = :key, due_period = :period",
        ExpressionAttributeValues={":key": {"S": f"{today}#{autopay_id}"}, ":period": {"S": today[:7]}},
    )


def waiting_charges(stack: StackProcess) -> int:
    sqs = moto(stack, "sqs")
    url = sqs.get_queue_url(QueueName="AutopayChargeQueue")["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_enrol_a_card_run_a_date_see_the_ledger(stack: StackProcess) -> None:
    assert (
        api(stack, "PUT", "/apartments/e2e-ap-1", {"label": "Flat", "resident_id": "r1"}).status_code == 201
    )
    invoice = api(
        stack, "POST", "/invoices", {"apartment_id": "e2e-ap-1", "period": "2026-11", "items": [ITEM]}
    )
    assert invoice.status_code == 201, invoice.text
    token = saved_card(stack, "8600495473316478")
    enrol = {"apartment_id": "e2e-ap-1", "provider": "payme", "card_token": token, "day_of_month": 5}
    created = api(stack, "POST", "/autopay", {**enrol, "max_amount": 1_000_000})
    assert created.status_code == 201, created.text
    autopay = created.json()
    assert token not in created.text and autopay["status"] == "active"
    assert api(stack, "POST", "/autopay", {**enrol, "max_amount": 2_000_000}).status_code == 409
    today = tashkent_date(now_ms())
    make_due_today(stack, autopay["autopay_id"], today.isoformat())
    yesterday = (today - timedelta(days=1)).isoformat()
    assert api(stack, "POST", "/autopay/runs", {"date": yesterday}).json() == {"date": yesterday, "queued": 0}
    run = api(stack, "POST", "/autopay/runs", {"date": today.isoformat()})
    assert (run.status_code, run.json()) == (202, {"date": today.isoformat(), "queued": 1})
    assert token not in stack.log_text()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and api(stack, "GET", "/apartments/e2e-ap-1/balance").json()["debt"]:
        time.sleep(0.5)
    balance = api(stack, "GET", "/apartments/e2e-ap-1/balance").json()
    assert (balance["debt"], balance["credit"]) == (0, 0)
    fetched = api(stack, "GET", f"/autopay/{autopay['autopay_id']}").json()
    [attempt] = fetched["attempts"]
    assert (attempt["outcome"], attempt["amount"]) == ("paid", 250_000)
    assert fetched["next_charge_date"] > today.isoformat()
    assert waiting_charges(stack) == 0
    receipt = attempt["receipt_id"]
    wanted = {f"autopay.charged:{autopay['autopay_id']}:{today.isoformat()[:7]}:{receipt}"}
    events = events_until(stack, wanted)
    assert wanted <= {e["detail"]["event_id"] for e in events}
    for event in events:
        validate_delivered(event)
    assert token not in str(events) and token not in stack.log_text()


def events_until(stack: StackProcess, wanted: set[str], timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        events: list[dict[str, Any]] = requests.get(stack.events_url, timeout=10).json()["events"]
        if wanted <= {e["detail"]["event_id"] for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_a_card_expired_after_enrolment_deactivates_and_emits_autopay_failed(stack: StackProcess) -> None:
    assert (
        api(stack, "PUT", "/apartments/e2e-ap-2", {"label": "Flat", "resident_id": "r2"}).status_code == 201
    )
    body = {"apartment_id": "e2e-ap-2", "period": "2026-11", "items": [ITEM]}
    assert api(stack, "POST", "/invoices", body).status_code == 201
    token = saved_card(stack, "8600069195406311")
    enrol = {"apartment_id": "e2e-ap-2", "provider": "payme", "card_token": token, "day_of_month": 5}
    autopay = api(stack, "POST", "/autopay", {**enrol, "max_amount": 1_000_000}).json()
    sim = requests.post(
        stack.simulator_url("/_sim/card"), json={"number": "8600069195406311", "status": "expired"}, timeout=5
    )
    assert sim.status_code == 200, sim.text
    today = tashkent_date(now_ms())
    make_due_today(stack, autopay["autopay_id"], today.isoformat())
    assert api(stack, "POST", "/autopay/runs", {"date": today.isoformat()}).status_code == 202
    prefix = f"autopay.failed:{autopay['autopay_id']}:"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = requests.get(stack.events_url, timeout=10).json()["events"]
        failed = [e for e in events if e["detail"]["event_id"].startswith(prefix)]
        if failed:
            break
        time.sleep(0.3)
    [event] = failed
    validate_delivered(event)
    assert event["detail"]["apartment_id"] == "e2e-ap-2" and event["detail"]["reason"] == "card_declined"
    assert api(stack, "GET", f"/autopay/{autopay['autopay_id']}").json()["status"] == "inactive"
