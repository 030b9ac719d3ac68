"""The autopay calendar, the run date rule, the due shards, the queue message and the decline taxonomy."""

from datetime import date

import pytest

from tests.autopay_support import T0
from tolov.autopay.declines import Decline, card_problem, classify
from tolov.autopay.repository import Due
from tolov.autopay.schedule import (
    ChargeRequest,
    first_due,
    next_cycle,
    next_period,
    next_run,
    run_date,
    shard_of,
)
from tolov.payme.subscribe_api import Card, SubscribeError, SubscribeUnavailable


@pytest.mark.parametrize(
    ("today", "day", "due"),
    [
        ("2026-10-05", 5, Due("2026-10-05", "2026-10")),  # its day today: charged by today's run
        ("2026-10-04", 5, Due("2026-10-05", "2026-10")),
        ("2026-10-06", 5, Due("2026-11-05", "2026-11")),
        ("2026-12-29", 28, Due("2027-01-28", "2027-01")),
    ],
)
def test_the_first_charge_is_the_next_day_of_month_from_today(today: str, day: int, due: Due) -> None:
    assert first_due(date.fromisoformat(today), day) == due


def test_periods_roll_over_the_year() -> None:
    assert next_period("2026-12") == "2027-01" and next_period("2026-01") == "2026-02"
    assert next_cycle("2026-12", 28) == Due("2027-01-28", "2027-01")


def test_a_retry_is_the_next_run_in_the_same_period_until_the_next_cycle() -> None:
    # Retries of 2027-01-28 fall in February and stay in the January period.
    assert next_run(date(2027, 1, 31), "2027-01", 28) == Due("2027-02-01", "2027-01")
    assert next_run(date(2027, 2, 27), "2027-01", 28) == Due(
        "2027-02-28", "2027-02"
    )  # that is the next cycle


def test_a_run_date_is_today_or_before_in_tashkent() -> None:
    assert run_date(None, T0) == date(2026, 10, 5)
    assert run_date("2026-09-30", T0) == date(2026, 9, 30)
    with pytest.raises(ValueError, match="has not come yet"):
        run_date("2026-10-06", T0)
    # 2026-10-05 20:00 UTC is already the 6th in Tashkent (UTC+5).
    assert run_date("2026-10-06", T0 + 16 * 3_600_000) == date(2026, 10, 6)


def test_shards_are_stable_and_spread() -> None:
    ids = [f"ap_{n:06d}" for n in range(2000)]
    assert [shard_of(i, 16) for i in ids] == [shard_of(i, 16) for i in ids]
    counts = {s: 0 for s in (f"{n:03d}" for n in range(16))}
    for i in ids:
        counts[shard_of(i, 16)] += 1
    assert set(counts) == {shard_of(i, 16) for i in ids}
    assert max(counts.values()) < 2 * min(counts.values())


@pytest.mark.parametrize(
    "message",
    [
        None,
        [],
        {"period": "2026-10", "run_date": "2026-10-05"},
        {"autopay_id": "ap_1", "period": "2026-13", "run_date": "2026-10-05"},
        {"autopay_id": "ap_1", "period": "2026-10", "run_date": "tomorrow"},
        {"autopay_id": 7, "period": "2026-10", "run_date": "2026-10-05"},
    ],
)
def test_a_charge_message_that_cannot_be_read_raises(message: object) -> None:
    with pytest.raises(ValueError):
        ChargeRequest.from_message(message)


def test_a_charge_message_round_trips() -> None:
    request = ChargeRequest("ap_1", "2026-10", date(2026, 10, 5))
    assert ChargeRequest.from_message(request.message()) == request


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (SubscribeError(-31303), Decline.INSUFFICIENT_FUNDS),
        (SubscribeError(-31630), Decline.FUNDS_OR_CARD),
        (SubscribeError(-31300), Decline.CARD_UNUSABLE),
        (SubscribeError(-31301), Decline.CARD_UNUSABLE),
        (SubscribeError(-31400), Decline.CARD_UNUSABLE),
        (SubscribeError(-32400), Decline.UNKNOWN_OUTCOME),
        (SubscribeUnavailable("timeout"), Decline.UNKNOWN_OUTCOME),
        (SubscribeError(-31002), Decline.UNAVAILABLE),
        (SubscribeError(-31622), Decline.OUR_SIDE),
        (SubscribeError(-31623), Decline.OUR_SIDE),
        (SubscribeError(-32504), Decline.OUR_SIDE),
        (SubscribeError(-31611), Decline.OUR_SIDE),
        (SubscribeError(-31612), Decline.OUR_SIDE),
        (SubscribeError(-32602), Decline.UNEXPECTED),
        (SubscribeError(None), Decline.UNEXPECTED),
    ],
)
def test_the_decline_taxonomy(error: SubscribeError, kind: Decline) -> None:
    assert classify(error) is kind


def test_a_card_must_be_verified_and_recurrent() -> None:
    def card(verify: bool, recurrent: bool) -> Card:
        return Card("860049******6478", "03/99", "t", recurrent, verify)

    assert card_problem(card(True, True)) is None
    assert card_problem(card(False, True)) == "card is not verified"
    assert card_problem(card(True, False)) == "card cannot be charged recurrently"
    assert "tok-secret" not in repr(Card("860049******6478", "03/99", "tok-secret", True, True))
