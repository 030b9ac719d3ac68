"""§5: charging one autopay for one period, exactly once, whatever crashes and redeliveries happen."""

import pytest

from tests.autopay_support import MIN, World, gas, water
from tolov.autopay.charger import ChargeOutcome, TryLater
from tolov.autopay.repository import Outcome
from tolov.billing.keys import PaymentKey
from tolov.payme.subscribe_api import ReceiptState as S
from tolov.payme.subscribe_api import SubscribeError, SubscribeUnavailable
from tolov.store.engine import StoreUnavailable

DEBT = 25_000_00 + 15_000_00  # water + gas of 2026-09


def enrolled(world: World, **kwargs: object) -> str:
    world.apartment("apt-1", [water(), gas()])
    return world.enrol("apt-1", **kwargs).autopay.autopay_id  # type: ignore[arg-type]


def test_a_due_autopay_pays_the_debt_and_moves_to_next_month(world: World) -> None:
    autopay_id = enrolled(world)
    assert world.autopay(autopay_id).due_date == "2026-10-05"
    assert world.charge(autopay_id) is ChargeOutcome.PAID
    [receipt] = world.fake.receipts.values()
    assert (receipt.state, receipt.amount, receipt.account) == (S.PAID, DEBT, {"apartment_id": "apt-1"})
    assert receipt.description and "2026-10" in receipt.description
    assert world.debt() == 0
    posting = world.ledger.posting(PaymentKey("payme", receipt.id))
    assert posting is not None and int(posting.amount) == DEBT
    autopay = world.autopay(autopay_id)
    assert (autopay.due_date, autopay.due_period) == ("2026-11-05", "2026-11")
    [attempt] = world.store.attempts(autopay_id, 10)
    assert (attempt.period, attempt.receipt_id, attempt.amount, attempt.outcome) == (
        "2026-10",
        receipt.id,
        DEBT,
        Outcome.PAID,
    )


def test_the_fiscal_detail_lists_the_charges_it_pays_oldest_first(world: World) -> None:
    # Oldest period first, then by service: all of the gas, then 15 000 sum of the water.
    autopay_id = enrolled(world, max_amount=30_000_00)
    world.charge(autopay_id)
    [receipt] = world.fake.receipts.values()
    assert receipt.amount == 30_000_00
    items = receipt.detail["items"]  # type: ignore[index]
    assert [(i["title"], i["code"], i["price"], i["count"], i.get("discount", 0)) for i in items] == [
        ("Gaz", "10302001001000000", 15_000_00, 1, 0),
        ("Sovuq suv", "10301001001000000", 25_000_00, 1, 10_000_00),
    ]
    assert sum(i["price"] * i["count"] - i.get("discount", 0) for i in items) == receipt.amount
    assert world.debt() == DEBT - 30_000_00


def test_a_debt_not_tied_to_a_charge_is_a_top_up_item(world: World) -> None:
    world.apartment("apt-1")
    world.ledger.post_to_apartment(PaymentKey("payme", "x1"), "apt-1", 200_000)  # credit 200 000
    world.invoice("apt-1", "2026-09", water(200_000))  # paid from that credit
    world.ledger.reverse(PaymentKey("payme", "x1"), reason="refund")  # credit -200 000: debt without a charge
    world.invoice("apt-1", "2026-10", gas(300_000))
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    assert world.debt() == 500_000
    assert world.charge(autopay_id) is ChargeOutcome.PAID
    [receipt] = world.fake.receipts.values()
    items = receipt.detail["items"]  # type: ignore[index]
    assert [(i["title"], i["price"]) for i in items] == [("Gaz", 300_000), ("Kommunal to'lov", 200_000)]
    assert world.debt() == 0 and world.credit() == 0


def test_the_debt_is_capped_by_max_amount(world: World) -> None:
    autopay_id = enrolled(world, max_amount=MIN * 3)
    assert world.charge(autopay_id) is ChargeOutcome.PAID
    assert [r.amount for r in world.fake.receipts.values()] == [MIN * 3]
    assert world.debt() == DEBT - MIN * 3


def test_nothing_is_charged_when_nothing_is_owed(world: World) -> None:
    world.apartment("apt-1")
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    assert world.charge(autopay_id) is ChargeOutcome.NOTHING_DUE
    assert world.fake.receipts == {} and world.store.attempts(autopay_id, 10) == []
    assert world.autopay(autopay_id).due_date == "2026-11-05"


def test_a_debt_below_the_minimum_is_skipped_and_carried_to_the_next_run(world: World) -> None:
    world.apartment("apt-1", [water(MIN - 1)])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    assert world.charge(autopay_id) is ChargeOutcome.SKIPPED
    assert world.fake.receipts == {}
    [attempt] = world.store.attempts(autopay_id, 10)
    assert (attempt.outcome, attempt.amount, attempt.receipt_id) == (Outcome.SKIPPED, MIN - 1, None)
    assert world.autopay(autopay_id).due_date == "2026-10-06"
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.SETTLED  # the same run again
    world.invoice("apt-1", "2026-10", gas())
    assert [r.autopay_id for r in world.run("2026-10-06")] == [autopay_id]
    assert world.charge(autopay_id, "2026-10-06") is ChargeOutcome.PAID
    assert world.debt() == 0 and [r.amount for r in world.fake.receipts.values()] == [MIN - 1 + 15_000_00]
    assert world.autopay(autopay_id).due_date == "2026-11-05"


def test_a_repeated_message_after_payment_changes_nothing(world: World) -> None:
    autopay_id = enrolled(world)
    request = world.request(autopay_id)
    assert world.charger.charge(request) is ChargeOutcome.PAID
    world.invoice("apt-1", "2026-10", water())  # a new debt does not make the same period pay twice
    assert world.charger.charge(request) is ChargeOutcome.SETTLED
    assert len(world.fake.receipts) == 1 and world.fake.count("receipts.pay") == 1


def test_a_crash_between_create_and_pay_pays_the_stored_receipt(world: World) -> None:
    autopay_id = enrolled(world)
    world.fake.fail_next("receipts.pay", RuntimeError("the charger died before paying"))
    with pytest.raises(RuntimeError):
        world.charge(autopay_id)
    [receipt_id] = world.fake.receipts
    assert world.period(autopay_id, "2026-10").receipt_id == receipt_id  # type: ignore[union-attr]
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID  # the redelivery
    assert world.fake.count("receipts.create") == 1 and [r.id for r in world.fake.paid()] == [receipt_id]
    assert world.debt() == 0


def test_a_lost_pay_reply_is_resolved_by_the_receipt_never_by_a_new_one(world: World) -> None:
    autopay_id = enrolled(world)
    world.fake.lose_reply_next("receipts.pay")  # Payme debited the card; we never heard
    with pytest.raises(TryLater) as later:
        world.charge(autopay_id)
    assert later.value.kind == "unknown_outcome"
    assert [a.outcome for a in world.store.attempts(autopay_id, 10)] == [Outcome.IN_FLIGHT]
    assert world.debt() == DEBT  # not posted before Payme says it is paid
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    assert world.fake.count("receipts.create") == 1 and world.fake.count("receipts.pay") == 1
    assert len(world.fake.paid()) == 1 and world.debt() == 0


def test_a_crash_between_pay_and_record_posts_once_on_redelivery(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    autopay_id = enrolled(world)
    paid = world.store.paid
    calls = []

    def crash_once(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise StoreUnavailable("the charger died after posting")
        paid(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(world.store, "paid", crash_once)
    with pytest.raises(StoreUnavailable):
        world.charge(autopay_id)
    assert world.debt() == 0  # posted, but the period is not recorded paid
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    assert world.credit() == 0 and world.debt() == 0  # posted once: no credit from a second posting
    assert len(world.fake.paid()) == 1 and world.fake.count("receipts.pay") == 1


def test_a_charger_killed_mid_charge_is_resumed_once_its_lease_expires(world: World) -> None:
    autopay_id = enrolled(world)
    world.clock.to("2026-10-05")
    world.store.take_lease(autopay_id, "2026-10", "dead-charger", world.clock(), world.clock() + 150_000)
    with pytest.raises(TryLater) as later:
        world.charger.charge(world.request(autopay_id))
    assert later.value.kind == "busy" and world.fake.receipts == {}
    world.clock.now += 150_001
    assert world.charger.charge(world.request(autopay_id)) is ChargeOutcome.PAID


UNKNOWN_OUTCOMES = {
    "time-out": SubscribeUnavailable("time-out", method="receipts.pay"),
    "HTTP 502": SubscribeUnavailable("HTTP 502", method="receipts.pay", http_status=502),
    "-32400": SubscribeError(-32400, method="receipts.pay"),
}


@pytest.mark.parametrize("debited", [True, False], ids=["debited", "not-debited"])
@pytest.mark.parametrize("unknown", UNKNOWN_OUTCOMES)
def test_an_unknown_pay_outcome_is_resolved_by_receipts_check_on_the_stored_receipt(
    world: World, unknown: str, debited: bool
) -> None:
    autopay_id = enrolled(world)
    error = UNKNOWN_OUTCOMES[unknown]
    if debited:
        world.fake.lose_reply_next("receipts.pay", error=error)  # it took effect; we heard the error
    else:
        world.fake.fail_next("receipts.pay", error)
    with pytest.raises(TryLater) as later:
        world.charge(autopay_id)
    assert later.value.kind == "unknown_outcome" and world.debt() == DEBT
    [receipt_id] = world.fake.receipts
    calls_before = len(world.fake.calls)
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    redelivery = world.fake.calls[calls_before:]
    assert redelivery[0] == ("receipts.check", {"id": receipt_id})  # the stored receipt, before anything
    assert [name for name, _ in redelivery].count("receipts.create") == 0
    assert world.fake.count("receipts.pay") == (1 if debited else 2)
    assert [r.id for r in world.fake.paid()] == [receipt_id] and world.debt() == 0


@pytest.mark.parametrize("state", [1, 2, 3, 20, 21, 30])
def test_a_receipt_in_flight_is_checked_again_later(world: World, state: int) -> None:
    autopay_id = enrolled(world)
    world.fake.lose_reply_next("receipts.pay")
    with pytest.raises(TryLater):
        world.charge(autopay_id)
    [receipt_id] = world.fake.receipts
    world.fake.set_state(receipt_id, state)
    with pytest.raises(TryLater) as later:
        world.charge(autopay_id, "2026-10-05")
    assert later.value.kind == "in_flight" and world.debt() == DEBT
    world.fake.set_state(receipt_id, S.PAID)
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    assert world.fake.count("receipts.create") == 1 and world.debt() == 0


def test_only_a_cancelled_receipt_lets_a_new_one_be_created(world: World) -> None:
    autopay_id = enrolled(world)
    world.fake.fail_next("receipts.pay", SubscribeError(-32400))  # unknown outcome: it was not paid
    with pytest.raises(TryLater):
        world.charge(autopay_id)
    [first] = world.fake.receipts
    world.fake.set_state(first, 50)  # Payme cancelled it
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    assert world.fake.count("receipts.create") == 2
    assert [r.id for r in world.fake.paid()] != [first] and len(world.fake.paid()) == 1


def test_a_system_error_on_pay_pays_the_same_receipt_next_time(world: World) -> None:
    autopay_id = enrolled(world)
    world.fake.fail_next("receipts.pay", SubscribeError(-32400))
    with pytest.raises(TryLater) as later:
        world.charge(autopay_id)
    assert later.value.kind == "unknown_outcome"
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    assert world.fake.count("receipts.create") == 1 and world.fake.count("receipts.pay") == 2


def test_deliveries_at_once_create_one_receipt_and_pay_it_once(world: World) -> None:
    from tests.support import together

    autopay_id = enrolled(world)
    world.clock.to("2026-10-05")
    request = world.request(autopay_id)

    def deliver() -> str:
        try:
            return world.charger.charge(request).value
        except TryLater as later:
            return later.kind

    outcomes = together([deliver] * 6)
    assert outcomes.count("paid") == 1 and set(outcomes) <= {"paid", "busy", "settled"}
    assert world.fake.count("receipts.create") == 1 and len(world.fake.paid()) == 1
    assert world.debt() == 0 and world.credit() == 0


def test_an_inactive_or_unknown_autopay_is_not_charged(world: World) -> None:
    autopay_id = enrolled(world)
    request = world.request(autopay_id)
    world.enrolment.cancel(autopay_id)
    assert world.charger.charge(request) is ChargeOutcome.INACTIVE
    assert world.charger.charge(request.__class__("ap_missing", "2026-10", request.run_date)) is (
        ChargeOutcome.INACTIVE
    )
    assert world.fake.receipts == {}


def test_a_message_for_a_period_the_autopay_is_not_due_for_charges_nothing(world: World) -> None:
    autopay_id = enrolled(world)
    assert world.charge(autopay_id, "2026-10-05", period="2026-09") is ChargeOutcome.SETTLED
    assert world.charge(autopay_id, "2026-10-04", period="2026-10") is ChargeOutcome.SETTLED  # not due yet
    assert world.fake.receipts == {} and world.period(autopay_id, "2026-09") is None


def test_without_a_top_up_ikpu_a_rest_leaves_the_receipt_without_detail(world: World) -> None:
    from tolov.settings import PaymeSettings

    world.apartment("apt-1")
    world.ledger.post_to_apartment(PaymentKey("payme", "x1"), "apt-1", 200_000)
    world.invoice("apt-1", "2026-09", water(200_000))
    world.ledger.reverse(PaymentKey("payme", "x1"), reason="refund")
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    world.charger.payme = PaymeSettings()  # no PAYME_TOPUP_IKPU: a top-up item cannot be described
    assert world.charge(autopay_id) is ChargeOutcome.PAID
    [receipt] = world.fake.receipts.values()
    assert (receipt.amount, receipt.detail) == (200_000, None)
