"""§5: a paid receipt is posted once, whichever path arrives first: the charger (receipts.pay said 4) or
Payme's Merchant API calls for that receipt (CreateTransaction with the receipt id, PerformTransaction),
both under PaymentKey("payme", receipt id). Both orders, and both at once."""

from typing import Any

import pytest

from tests.autopay_fakes import FakeSubscribe
from tests.autopay_support import World, build_world, merchant_endpoint, water
from tests.support import together
from tolov.autopay.charger import ChargeOutcome, TryLater
from tolov.billing.keys import PaymentKey
from tolov.payme.dynamo import DynamoRepository

DEBT = 25_000_00


def payme_state(receipt_id: str) -> int | None:
    tx = DynamoRepository().get(receipt_id)
    return None if tx is None else tx.state


def postings_moved(world: World) -> tuple[int, int]:
    return world.debt(), world.credit()


def test_merchant_api_first_then_the_charger_finds_it_posted(aws: None) -> None:
    _, call = merchant_endpoint()
    world = build_world(fake=FakeSubscribe(merchant=call))  # callbacks on: pay calls our /payme first
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    assert world.charge(autopay_id) is ChargeOutcome.PAID
    [receipt] = world.fake.paid()
    assert payme_state(receipt.id) == 2  # performed by the Merchant API path, which posted it
    posting = world.ledger.posting(PaymentKey("payme", receipt.id))
    assert posting is not None and int(posting.amount) == DEBT
    assert postings_moved(world) == (0, 0)  # posted once: a second posting would be credit


def test_charger_first_then_a_late_perform_records_its_state_only(world: World) -> None:
    _, call = merchant_endpoint()
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    assert world.charge(autopay_id) is ChargeOutcome.PAID  # callbacks off: only the charger posts
    [receipt] = world.fake.paid()
    assert postings_moved(world) == (0, 0) and payme_state(receipt.id) is None
    # Payme's Merchant API calls for the same receipt arrive now.
    account = {"apartment_id": "apt-1"}
    created = call(
        "CreateTransaction",
        {"id": receipt.id, "time": receipt.create_time, "amount": DEBT, "account": account},
    )
    assert created["result"]["state"] == 1
    performed = call("PerformTransaction", {"id": receipt.id})
    assert performed["result"]["state"] == 2, performed
    assert call("PerformTransaction", {"id": receipt.id})["result"] == performed["result"]  # a repeat
    assert payme_state(receipt.id) == 2 and postings_moved(world) == (0, 0)


@pytest.mark.parametrize("round_", range(4))
def test_charger_and_perform_at_once_post_once(world: World, round_: int) -> None:
    _, call = merchant_endpoint()
    apartment = world.apartment(f"apt-{round_}", [water()])
    autopay_id = world.enrol(apartment).autopay.autopay_id
    world.fake.lose_reply_next(
        "receipts.pay"
    )  # the card is debited; the charger will learn it from receipts.get
    with pytest.raises(TryLater):
        world.charge(autopay_id)
    [receipt] = world.fake.paid()
    account = {"apartment_id": apartment}
    call(
        "CreateTransaction",
        {"id": receipt.id, "time": receipt.create_time, "amount": DEBT, "account": account},
    )
    request = world.request(autopay_id, "2026-10-05")

    def charger() -> Any:
        return world.charger.charge(request)

    def perform() -> Any:
        return call("PerformTransaction", {"id": receipt.id})

    outcome, performed = together([charger, perform])
    assert outcome is ChargeOutcome.PAID
    assert performed["result"]["state"] == 2, performed
    assert payme_state(receipt.id) == 2
    assert (world.debt(apartment), world.credit(apartment)) == (0, 0)
    assert world.period(autopay_id, "2026-10").status == "paid"  # type: ignore[union-attr]


def test_our_merchant_api_refusing_the_receipt_is_our_side_never_a_decline(aws: None) -> None:
    _, call = merchant_endpoint()

    def refusing(method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "CheckPerformTransaction":  # our /payme down or refusing: Payme fails the receipt
            return {"error": {"code": -32400, "message": {"en": "system error"}}}
        return call(method, params)

    world = build_world(fake=FakeSubscribe(merchant=refusing))
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    with pytest.raises(TryLater) as later:
        world.charge(autopay_id)
    assert (later.value.kind, later.value.code) == ("our_side", -31623)
    assert world.autopay(autopay_id).active and world.fake.paid() == [] and world.events.published == []
    world.fake.merchant = call  # our endpoint is back: the same receipt is paid
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    assert world.fake.count("receipts.create") == 1 and world.debt() == 0
