"""§6: every decline by its kind. Funds: retried on the next AUTOPAY_RETRY_DAYS runs, then given up for the
period; a card that cannot be charged: deactivated with autopay.failed; Payme unavailable: retried through
the queue; our own side refused: an alarm, never a deactivation."""

import pytest

from tests.autopay_fakes import OK_CARD
from tests.autopay_support import World, build_world, gas, water
from tolov.autopay.charger import ChargeOutcome, TryLater
from tolov.autopay.repository import Deactivation, Outcome
from tolov.payme.subscribe_api import ReceiptState as S
from tolov.payme.subscribe_api import SubscribeError

DEBT = 25_000_00 + 15_000_00


def broke(world: World, **card: object) -> str:
    """An autopay whose card cannot cover the debt."""
    world.apartment("apt-1", [water(), gas()])
    return world.enrol("apt-1", balance=DEBT - 1, **card).autopay.autopay_id  # type: ignore[arg-type]


def test_insufficient_funds_are_retried_on_each_of_the_next_runs_then_given_up(world: World) -> None:
    autopay_id = broke(world)
    days = ["2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08"]
    outcomes = []
    for day in days:
        assert [r.autopay_id for r in world.run(day)] == [autopay_id], day
        outcomes.append(world.charge(autopay_id, day))
    assert outcomes == [ChargeOutcome.DECLINED] * 3 + [ChargeOutcome.GAVE_UP]
    assert world.run("2026-10-09") == []  # given up for the period
    assert world.autopay(autopay_id).active and world.autopay(autopay_id).due_date == "2026-11-05"
    attempts = world.store.attempts(autopay_id, 10)
    assert [(a.outcome, a.error_code, a.period) for a in attempts] == [
        (Outcome.DECLINED, -31303, "2026-10")
    ] * 4
    assert [a.receipt_id for a in attempts] == sorted(
        (a.receipt_id for a in attempts), reverse=True
    )  # newest first
    # Each declined receipt was cancelled, never left payable; none is paid.
    assert {r.state for r in world.fake.receipts.values()} == {S.CANCELLED} and world.fake.paid() == []
    assert world.debt() == DEBT


def test_funds_found_on_a_retry_pay_the_period(world: World) -> None:
    autopay_id = broke(world)
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.DECLINED
    world.fake.card_by_number(OK_CARD).balance = DEBT
    assert world.run("2026-10-06")[0].period == "2026-10"
    assert world.charge(autopay_id, "2026-10-06") is ChargeOutcome.PAID
    assert world.debt() == 0 and len(world.fake.paid()) == 1
    assert [a.outcome for a in world.store.attempts(autopay_id, 10)] == [Outcome.PAID, Outcome.DECLINED]


def test_a_redelivered_message_of_a_declined_run_charges_nothing_more(world: World) -> None:
    autopay_id = broke(world)
    request = world.request(autopay_id)
    world.clock.to("2026-10-05")
    assert world.charger.charge(request) is ChargeOutcome.DECLINED
    world.fake.card_by_number(OK_CARD).balance = DEBT  # even with funds now: that run is decided
    assert world.charger.charge(request) is ChargeOutcome.SETTLED
    assert world.fake.count("receipts.create") == 1 and world.fake.count("receipts.pay") == 1


def test_a_declined_receipt_whose_cancel_failed_is_cancelled_before_the_next_one(world: World) -> None:
    autopay_id = broke(world)
    world.fake.fail_next("receipts.cancel", SubscribeError(-31002))
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.DECLINED
    [first] = world.fake.receipts
    assert world.fake.receipts[first].state == 0
    world.fake.card_by_number(OK_CARD).balance = DEBT
    assert world.charge(autopay_id, "2026-10-06") is ChargeOutcome.PAID
    assert world.fake.receipts[first].state == S.CANCELLED  # never paid after its decline
    assert [r.id for r in world.fake.paid()] != [first] and len(world.fake.paid()) == 1


def test_the_retry_days_are_a_setting(aws: None) -> None:
    world = build_world(retry_days=0)
    autopay_id = broke(world)
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.GAVE_UP
    assert world.autopay(autopay_id).due_date == "2026-11-05"


@pytest.mark.parametrize("status", ["expired", "blocked", "removed"])
def test_a_card_that_cannot_be_charged_deactivates_and_emits_autopay_failed(
    world: World, status: str
) -> None:
    world.apartment("apt-1", [water()])
    view = world.enrol("apt-1")
    autopay_id = view.autopay.autopay_id
    world.fake.card_by_number(OK_CARD).status = status
    assert world.charge(autopay_id) is ChargeOutcome.CARD_FAILED
    autopay = world.autopay(autopay_id)
    assert (autopay.status, autopay.inactive_reason, autopay.due_date) == ("inactive", "card_declined", None)
    # Written with the deactivation, for EventPublisherFunction to emit off the stream (tests/*/events).
    event = autopay.pending_event
    assert event is not None and event["event_id"].startswith("autopay.failed:")
    assert {k: event[k] for k in ("autopay_id", "apartment_id", "provider", "period", "reason")} == {
        "autopay_id": autopay_id,
        "apartment_id": "apt-1",
        "provider": "payme",
        "period": "2026-10",
        "reason": "card_declined",
    }
    assert event["error_code"] == {"expired": -31301, "blocked": -31301, "removed": -31400}[status]
    assert not any("tok-" in str(value) for value in event.values())
    [attempt] = world.store.attempts(autopay_id, 10)
    assert attempt.outcome is Outcome.DECLINED
    assert world.run("2026-10-06") == [] and world.fake.paid() == []
    # The apartment may enrol another card now.
    assert world.enrol("apt-1", number="8600069195406311").autopay.active


def test_minus_31630_with_a_usable_card_is_insufficient_funds(aws: None) -> None:
    world = build_world()
    world.fake.general_refusals = True
    autopay_id = broke(world)
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.DECLINED
    assert (
        world.autopay(autopay_id).active and world.fake.count("cards.check") == 2
    )  # enrolment, then the tie-break
    assert world.store.attempts(autopay_id, 1)[0].error_code == -31630


@pytest.mark.parametrize("change", [{"status": "blocked"}, {"recurrent": False}])
def test_minus_31630_with_an_unusable_card_deactivates(aws: None, change: dict[str, object]) -> None:
    world = build_world()
    world.fake.general_refusals = True
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    for name, value in change.items():
        setattr(world.fake.card_by_number(OK_CARD), name, value)
    assert world.charge(autopay_id) is ChargeOutcome.CARD_FAILED
    assert not world.autopay(autopay_id).active and world.autopay(autopay_id).pending_event is not None


def test_a_cards_check_that_does_not_answer_decides_nothing(aws: None) -> None:
    world = build_world()
    world.fake.general_refusals = True
    autopay_id = broke(world)
    world.fake.fail_next("cards.check", SubscribeError(-31002))
    with pytest.raises(TryLater):
        world.charge(autopay_id, "2026-10-05")
    assert (
        world.autopay(autopay_id).active
        and world.store.attempts(autopay_id, 1)[0].outcome is Outcome.IN_FLIGHT
    )
    world.fake.card_by_number(OK_CARD).balance = DEBT
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID  # the same receipt


@pytest.mark.parametrize("code", [-31002, -31302])
def test_processing_unavailable_is_retried_through_the_queue_with_a_new_receipt(
    world: World, code: int
) -> None:
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    world.fake.fail_next("receipts.pay", SubscribeError(code))
    with pytest.raises(TryLater) as later:
        world.charge(autopay_id)
    assert later.value.kind == "unavailable"
    [attempt] = world.store.attempts(autopay_id, 10)
    assert (attempt.outcome, attempt.error_code) == (Outcome.FAILED, code)
    [first] = world.fake.receipts
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    # Not paid for certain: that receipt is cancelled, never paid again (its Merchant API transaction may
    # be cancelled already), and a new one pays the period.
    assert world.fake.receipts[first].state == S.CANCELLED and world.fake.count("receipts.create") == 2
    assert len(world.fake.paid()) == 1 and world.autopay(autopay_id).active


def test_processing_unavailable_at_create_stores_no_receipt(world: World) -> None:
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    world.fake.fail_next("receipts.create", SubscribeError(-31002))
    with pytest.raises(TryLater):
        world.charge(autopay_id)
    assert world.period(autopay_id, "2026-10").receipt_id is None  # type: ignore[union-attr]
    assert world.store.attempts(autopay_id, 1)[0].outcome is Outcome.FAILED
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("receipts.pay", -31622),
        ("receipts.pay", -31623),
        ("receipts.create", -32504),
        ("receipts.create", -31611),
    ],
)
def test_our_own_side_refused_is_an_alarm_and_never_deactivates(world: World, method: str, code: int) -> None:
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    world.fake.fail_next(method, SubscribeError(code), times=3)
    for _ in range(3):
        with pytest.raises(TryLater) as later:
            world.charge(autopay_id, "2026-10-05")
        assert (later.value.kind, later.value.code) == ("our_side", code)
    assert world.autopay(autopay_id).active and world.autopay(autopay_id).pending_event is None
    assert world.charge(autopay_id, "2026-10-05") is ChargeOutcome.PAID
    assert len(world.fake.paid()) == 1
    assert all(r.state == S.CANCELLED for r in world.fake.receipts.values() if r.state != 4)


def test_a_card_declined_after_its_resident_cancelled_records_the_decline_only(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.apartment("apt-1", [water()])
    autopay_id = world.enrol("apt-1").autopay.autopay_id
    world.fake.card_by_number(OK_CARD).status = "blocked"
    pay = world.fake.receipts_pay

    def resident_cancels_during_pay(receipt_id: str, token: str, **kwargs: object) -> object:
        world.store.deactivate(autopay_id, Deactivation("cancelled"), 0)
        return pay(receipt_id, token)

    monkeypatch.setattr(world.fake, "receipts_pay", resident_cancels_during_pay)
    assert world.charge(autopay_id) is ChargeOutcome.CARD_FAILED
    autopay = world.autopay(autopay_id)
    assert autopay.inactive_reason == "cancelled" and world.autopay(autopay_id).pending_event is None
    assert world.store.attempts(autopay_id, 1)[0].outcome is Outcome.DECLINED
