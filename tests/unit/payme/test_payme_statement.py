"""GetStatement: Payme `time`, inclusive bounds, ascending, every state. On the in-memory fakes; that
DynamoDB serves it from the by_day index is in tests/integration/payme/test_payme_dynamo.py."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.payme_harness import DAY, HOUR, Harness, harness_on_fakes, ms, populate_statement  # noqa: F401
from tolov.payme.transaction import day_count, day_key, days_between


def test_day_keys_are_utc_days() -> None:
    assert day_key(ms(2)) == "payme#2026-09-22"
    assert day_key(ms(2) - 1) == "payme#2026-09-21"
    assert day_key(ms(2, 23, 59, 59, 999)) == "payme#2026-09-22"
    # 04:59 in Tashkent (UTC+5) on the 23rd is still the 22nd in UTC.
    assert day_key(ms(2, 23, 59)) == "payme#2026-09-22"
    assert list(days_between(ms(1, 23), ms(3, 0))) == [
        "payme#2026-09-21",
        "payme#2026-09-22",
        "payme#2026-09-23",
    ]
    assert list(days_between(ms(2, 5), ms(2, 6))) == ["payme#2026-09-22"]
    assert day_count(ms(2), ms(2) - 1) == 0 and day_count(ms(1, 23), ms(3)) == 3


@pytest.fixture
def populated(harness: Harness) -> Iterator[tuple[Harness, dict[str, int]]]:
    """Transactions on both sides of two midnights, in every state."""
    yield harness, populate_statement(harness)


def ids(result: dict[str, Any]) -> list[str]:
    return [t["id"] for t in result["transactions"]]


def test_bounds_are_inclusive_across_midnights(populated: tuple[Harness, dict[str, int]]) -> None:
    h, _ = populated
    result = h.result("GetStatement", {"from": ms(2), "to": ms(3)})
    assert ids(result) == ["b" * 24, "c" * 24, "d" * 24, "e" * 24]
    assert [t["time"] for t in result["transactions"]] == sorted(t["time"] for t in result["transactions"])


def test_one_ms_narrower_drops_the_edges(populated: tuple[Harness, dict[str, int]]) -> None:
    h, _ = populated
    assert ids(h.result("GetStatement", {"from": ms(2) + 1, "to": ms(3) - 1})) == ["c" * 24, "d" * 24]


def test_single_instant(populated: tuple[Harness, dict[str, int]]) -> None:
    h, _ = populated
    assert ids(h.result("GetStatement", {"from": ms(2), "to": ms(2)})) == ["b" * 24]
    assert ids(h.result("GetStatement", {"from": ms(2, 6), "to": ms(2, 6)})) == []


def test_whole_range_ascending_with_every_state(populated: tuple[Harness, dict[str, int]]) -> None:
    h, times = populated
    result = h.result("GetStatement", {"from": ms(1), "to": ms(4)})
    assert ids(result) == sorted(times, key=times.__getitem__)
    by_id = {t["id"]: t for t in result["transactions"]}
    assert {t["state"] for t in result["transactions"]} == {1, 2, -1, -2}
    performed_then_refunded = by_id["d" * 24]
    assert performed_then_refunded == {
        "id": "d" * 24,
        "time": times["d" * 24],
        "amount": 500_000,
        "account": {"apartment_id": "apt-1"},
        "create_time": times["d" * 24] + 1000,
        "perform_time": times["d" * 24] + 2000,
        "cancel_time": times["d" * 24] + 3000,
        "transaction": performed_then_refunded["transaction"],
        "state": -2,
        "reason": 5,
        "receivers": None,
    }
    fresh = by_id["a" * 24]
    assert (fresh["perform_time"], fresh["cancel_time"], fresh["reason"]) == (0, 0, None)
    assert (
        h.result("CheckTransaction", {"id": "d" * 24})["transaction"]
        == performed_then_refunded["transaction"]
    )


def test_empty_and_reversed_ranges(populated: tuple[Harness, dict[str, int]]) -> None:
    h, _ = populated
    assert h.result("GetStatement", {"from": ms(10), "to": ms(11)}) == {"transactions": []}
    assert h.result("GetStatement", {"from": ms(3), "to": ms(2)}) == {"transactions": []}


def test_selects_by_payme_time_not_create_time(harness: Harness) -> None:
    h = harness
    h.apartment()
    payme_time = h.clock.now - 2 * HOUR
    h.create("9" * 24, 500_000, {"apartment_id": "apt-1"}, time=payme_time)
    assert ids(h.result("GetStatement", {"from": payme_time, "to": payme_time})) == ["9" * 24]
    assert ids(h.result("GetStatement", {"from": h.clock.now - HOUR, "to": h.clock.now})) == []


def test_refused_creates_are_not_listed(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create("1" * 24, amount, {"order_id": invoice_id})
    assert h.create("2" * 24, amount, {"order_id": invoice_id})["error"]["code"] == -31008
    other_invoice, other_amount = h.invoice()
    assert h.create("3" * 24, other_amount + 1, {"order_id": other_invoice})["error"]["code"] == -31001
    assert ids(h.result("GetStatement", {"from": h.clock.now, "to": h.clock.now})) == ["1" * 24]


def test_range_wider_than_configured_is_invalid(harness: Harness) -> None:
    h = harness
    assert h.error("GetStatement", {"from": 0, "to": 400 * DAY})["data"] == "to"


def test_ascending_by_payme_time_not_by_arrival(harness: Harness) -> None:
    h = harness
    h.apartment()
    now = h.clock.now
    arrivals = [
        ("late" + "0" * 20, now - 10),
        ("early" + "0" * 19, now - 3 * HOUR),
        ("mid" + "0" * 21, now - HOUR),
    ]
    for payme_id, time in arrivals:
        h.create(payme_id, 500_000, {"apartment_id": "apt-1"}, time=time)
        h.clock.advance(1)
    result = h.result("GetStatement", {"from": now - 4 * HOUR, "to": now})
    assert ids(result) == ["early" + "0" * 19, "mid" + "0" * 21, "late" + "0" * 20]
