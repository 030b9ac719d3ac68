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
from tolov.payme.subscribe_api import SubscribeError

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


def test_an_unknown_outcome_whose_merchant_transaction_was_cancelled_gets_a_new_receipt(aws: None) -> None:
    """The cashbox cancelled our transaction for the receipt when the debit failed; the charger, not knowing
    the outcome, pays the same receipt again, which our /payme now refuses (-31008): that refusal is certain,
    so the receipt is retired and the next delivery pays a new one."""
    _, call = merchant_endpoint()
    world = build_world(fake=FakeSubscribe(merchant=call))
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1", balance=1).autopay.autopay_id
    pay = world.fake.receipts_pay

    def fails_after_cancelling(receipt_id: str, token: str, **kwargs: Any) -> Any:
        if world.fake.count("receipts.pay") == 0:  # the first pay: the debit fails, then -32400
            world.fake.calls.append(("receipts.pay", {"id": receipt_id}))
            call("CheckPerformTransaction", {"amount": DEBT, "account": {"apartment_id": "apt-1"}})
            receipt = world.fake.receipts[receipt_id]
            account = {"apartment_id": "apt-1"}
            call(
                "CreateTransaction",
                {"id": receipt_id, "time": receipt.create_time, "amount": DEBT, "account": account},
            )
            call("CancelTransaction", {"id": receipt_id, "reason": 2})
            raise SubscribeError(-32400)
        return pay(receipt_id, token)

    world.fake.receipts_pay = fails_after_cancelling  # type: ignore[method-assign]
    with pytest.raises(TryLater) as later:
        world.charge(autopay_id)
    assert later.value.kind == "unknown_outcome"
    world.fake.card_by_number("8600495473316478").balance = 10**9
    with pytest.raises(TryLater) as later:
        world.charge(autopay_id, "2026-10-05")  # the same receipt again: our /payme refuses it
    assert (later.value.kind, later.value.code) == ("our_side", -31623)
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    states = [r.state for r in world.fake.receipts.values()]
    assert states == [50, 4] and world.debt() == 0 and world.credit() == 0


@pytest.mark.parametrize("round_", range(4))
def test_charger_and_perform_at_once_post_once(world: World, round_: int) -> None:
    _, call = merchant_endpoint()
    apartment = world.apartment(f"apt-{round_}", [water()])
    autopay_id = world.enrol(apartment).autopay.autopay_id
    world.fake.lose_reply_next(
        "receipts.pay"
    )  # the card is debited; the charger will learn it from receipts.check
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
    autopay = world.autopay(autopay_id)
    assert autopay.active and world.fake.paid() == [] and autopay.pending_event is None
    world.fake.merchant = call  # our endpoint is back; the refused receipt is cancelled, a new one paid
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    assert [r.state for r in world.fake.receipts.values()] == [50, 4] and world.debt() == 0
