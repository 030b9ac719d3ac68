"""Autopay over HTTP on the local stack: enrol a card, run a date, see the ledger.

Until branch i10-subscribe is merged, the Subscribe API is tests.autopay_fakes served over HTTP in this
process (PAYME_SUBSCRIBE_URL points the stack at it), and it plays Payme's calls to our /payme as the
simulator will. Charging needs the local stack's SQS event sources (also i10-subscribe): without them the
test stops, skipped, once the run has queued its message.
"""

import base64
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local.template import DEFAULT_CONFIG, LOCAL_REGION
from local.testing import StackProcess, running_stack
from tests.autopay_fakes import FakeSubscribe, FakeSubscribeServer, serving
from tolov.clock import now_ms, tashkent_date

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
def subscribe() -> Iterator[FakeSubscribeServer]:
    with serving(FakeSubscribe()) as server:
        yield server


@pytest.fixture(scope="module")
def stack(subscribe: FakeSubscribeServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    config = Path(tmp_path_factory.mktemp("autopay")) / "local.env"
    config.write_text(DEFAULT_CONFIG.read_text() + f"\nPAYME_SUBSCRIBE_URL={subscribe.url}\n")
    with running_stack(config=config) as running:
        subscribe.fake.merchant = merchant_api_of(running)  # the cashbox calls our /payme, as Payme does
        yield running


def merchant_api_of(stack: StackProcess) -> Any:
    auth = base64.b64encode(f"Paycom:{stack.config['PAYME_KEY']}".encode()).decode()

    def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": int(time.time() * 1000), "method": method, "params": params}
        reply = requests.post(
            stack.url("/payme"), json=body, headers={"Authorization": f"Basic {auth}"}, timeout=10
        )
        result: dict[str, Any] = reply.json()
        return result

    return call


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


def test_enrol_a_card_run_a_date_see_the_ledger(stack: StackProcess, subscribe: FakeSubscribeServer) -> None:
    assert (
        api(stack, "PUT", "/apartments/e2e-ap-1", {"label": "Flat", "resident_id": "r1"}).status_code == 201
    )
    invoice = api(
        stack, "POST", "/invoices", {"apartment_id": "e2e-ap-1", "period": "2026-11", "items": [ITEM]}
    )
    assert invoice.status_code == 201, invoice.text
    token = requests.post(subscribe.url.replace("/api", "/_sim/card/new"), json={}, timeout=5).json()["token"]
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
    if api(stack, "GET", "/apartments/e2e-ap-1/balance").json()["debt"] and waiting_charges(stack):
        pytest.skip("the local stack has no SQS event sources yet (branch i10-subscribe): the run is queued")
    balance = api(stack, "GET", "/apartments/e2e-ap-1/balance").json()
    assert (balance["debt"], balance["credit"]) == (0, 0)
    fetched = api(stack, "GET", f"/autopay/{autopay['autopay_id']}").json()
    [attempt] = fetched["attempts"]
    assert (attempt["outcome"], attempt["amount"]) == ("paid", 250_000)
    assert fetched["next_charge_date"] > today.isoformat()
    assert [r.state for r in subscribe.fake.receipts.values()] == [4]
