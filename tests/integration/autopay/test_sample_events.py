"""The sample events of events/billing (autopay routes) and events/autopay drive their handlers."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.autopay_fakes import FakeSubscribe
from tests.support import FakeContext, invoke, load_handler, sample_event

SAMPLE_TOKEN = "tok-sample-8600495473316478"  # the card_token of events/billing/create_autopay.json


@pytest.fixture
def fake(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSubscribe]:
    from tolov.autopay import charger_gateway
    from tolov.billing_api import autopay_enrolment

    subscribe = FakeSubscribe()
    subscribe.add_card(token=SAMPLE_TOKEN)
    monkeypatch.setattr(autopay_enrolment, "build_subscribe_client", lambda settings: subscribe)
    monkeypatch.setattr(charger_gateway, "build_subscribe_client", lambda settings: subscribe)
    handlers = [load_handler("billing_api").api, load_handler("autopay_charger").charger]
    for wiring in handlers:
        wiring.reset()
    yield subscribe
    for wiring in handlers:
        wiring.reset()


def test_the_billing_samples_enrol_list_and_run(fake: FakeSubscribe) -> None:
    assert invoke("billing_api", sample_event("billing/put_apartment.json"))[0] == 201
    status, autopay = invoke("billing_api", sample_event("billing/create_autopay.json"))
    assert status == 201 and autopay["apartment_id"] == "apt-12"
    assert invoke("billing_api", sample_event("billing/create_autopay.json")) == (201, autopay)  # its key
    status, listed = invoke("billing_api", sample_event("billing/apartment_autopay.json"))
    assert status == 200 and listed["autopays"] == [autopay]
    status, run = invoke("billing_api", sample_event("billing/run_autopay.json"))
    assert status == 202 and run == {"date": "2026-10-05", "queued": 0}
    for name in ("get_autopay.json", "delete_autopay.json"):  # ap_sample does not exist
        status, reply = invoke("billing_api", sample_event(f"billing/{name}"))
        assert status == 404 and reply["errors"] == [{"field": "autopay_id", "error": "not found"}]


def test_the_autopay_samples_drive_the_scheduler_and_the_charger(fake: FakeSubscribe) -> None:
    scheduler = load_handler("autopay_scheduler")
    scheduler.scheduler.reset()
    assert scheduler.lambda_handler(sample_event("autopay/scheduler_date.json"), FakeContext()) == {
        "date": "2026-10-05",
        "queued": 0,
    }
    daily = scheduler.lambda_handler(sample_event("autopay/scheduler_daily.json"), FakeContext())
    assert daily["queued"] == 0
    charger: Any = load_handler("autopay_charger")
    # ap_sample is no autopay: acknowledged, nothing charged.
    context = FakeContext("AutopayChargerFunction", remaining_ms=90_000)
    reply = charger.lambda_handler(sample_event("autopay/charger_message.json"), context)
    assert reply == {"batchItemFailures": []} and fake.receipts == {}
