"""The 12-hour timeout, counted from Payme's `time`, with a clock the tests move, on the in-memory fakes."""

import pytest

from tests.payme_harness import HOUR, TIMEOUT, Harness, harness_on_fakes  # noqa: F401

A = "5305e3bab097f420a62ced0a"
B = "5305e3bab097f420a62ced0b"


def state(h: Harness, payme_id: str) -> dict[str, object]:
    return h.result("CheckTransaction", {"id": payme_id})


def test_perform_at_exactly_twelve_hours_still_succeeds(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(A, amount, {"order_id": invoice_id})
    h.clock.advance(TIMEOUT)
    assert h.result("PerformTransaction", {"id": A})["state"] == 2


def test_perform_one_ms_after_twelve_hours_cancels_with_reason_4(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(A, amount, {"order_id": invoice_id})
    h.clock.advance(TIMEOUT + 1)
    expired_at = h.clock.now
    assert h.error("PerformTransaction", {"id": A})["code"] == -31008
    assert state(h, A) | {"create_time": 0, "transaction": ""} == {
        "create_time": 0,
        "transaction": "",
        "perform_time": 0,
        "cancel_time": expired_at,
        "state": -1,
        "reason": 4,
    }
    assert h.repo.invoice(invoice_id).holder is None
    assert h.posting(A) is None
    # Payme's own timeout cancel that follows gets the stored cancellation.
    h.clock.advance(HOUR)
    assert h.result("CancelTransaction", {"id": A, "reason": 4}) == {
        "transaction": state(h, A)["transaction"],
        "cancel_time": expired_at,
        "state": -1,
    }


def test_timeout_counts_from_payme_time_not_from_our_create_time(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    late = h.clock.now - 11 * HOUR  # Payme created it 11 h ago; it reaches us only now
    assert h.create(A, amount, {"order_id": invoice_id}, time=late)["result"]["create_time"] == h.clock.now
    h.clock.advance(HOUR + 1)  # 1 h after our create_time, 12 h + 1 ms after Payme's time
    assert h.error("PerformTransaction", {"id": A})["code"] == -31008
    assert state(h, A)["reason"] == 4


def test_create_whose_payme_time_is_already_past_the_timeout_is_refused(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    reply = h.create(A, amount, {"order_id": invoice_id}, time=h.clock.now - TIMEOUT - 1)
    assert reply["error"]["code"] == -31008
    assert h.repo.get(A) is None
    assert h.repo.invoice(invoice_id).holder is None


def test_repeated_create_after_the_timeout_cancels_and_stays_cancelled(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(A, amount, {"order_id": invoice_id})
    h.clock.advance(TIMEOUT + 1)
    expired_at = h.clock.now
    assert (
        h.create(A, amount, {"order_id": invoice_id}, time=expired_at - TIMEOUT - 1)["error"]["code"]
        == -31008
    )
    h.clock.advance(HOUR)
    assert (
        h.create(A, amount, {"order_id": invoice_id}, time=expired_at - TIMEOUT - 1)["error"]["code"]
        == -31008
    )
    assert state(h, A)["cancel_time"] == expired_at and state(h, A)["reason"] == 4


def test_new_id_takes_over_an_invoice_held_by_an_expired_transaction(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    account = {"order_id": invoice_id}
    h.create(A, amount, account)
    h.clock.advance(TIMEOUT - 1)
    assert h.create(B, amount, account)["error"]["code"] == -31008  # A is still alive
    assert h.error("CheckPerformTransaction", {"amount": amount, "account": account})["code"] == -31008
    h.clock.advance(2)
    # A is past its 12 hours: it no longer blocks, and the new attempt retires it.
    assert h.result("CheckPerformTransaction", {"amount": amount, "account": account})["allow"] is True
    assert h.create(B, amount, account)["result"]["state"] == 1
    assert state(h, A)["state"] == -1 and state(h, A)["reason"] == 4
    assert state(h, A)["cancel_time"] == h.clock.now
    assert h.repo.invoice(invoice_id).holder == f"payme#{B}"
    assert h.result("PerformTransaction", {"id": B})["state"] == 2
    assert h.error("PerformTransaction", {"id": A})["code"] == -31008


def test_apartment_transaction_times_out_too(harness: Harness) -> None:
    h = harness
    h.create(A, 500_000, {"apartment_id": h.apartment()})
    h.clock.advance(TIMEOUT + 1)
    assert h.error("PerformTransaction", {"id": A})["code"] == -31008
    assert state(h, A)["reason"] == 4
    assert h.posting(A) is None


def test_performed_transaction_never_times_out(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(A, amount, {"order_id": invoice_id})
    first = h.result("PerformTransaction", {"id": A})
    h.clock.advance(10 * TIMEOUT)
    assert h.result("PerformTransaction", {"id": A}) == first
    assert state(h, A)["state"] == 2


def test_check_transaction_does_not_expire_anything(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(A, amount, {"order_id": invoice_id})
    h.clock.advance(TIMEOUT + 1)
    assert state(h, A)["state"] == 1  # a read stays a read; Payme's cancel or our next write decides


def test_ledger_contention_backs_off_and_retries(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from tolov.billing.errors import LedgerContention

    h = harness
    invoice_id, amount = h.invoice()
    h.create(A, amount, {"order_id": invoice_id})
    naps: list[float] = []
    h.merchant.sleep = naps.append
    real_perform = h.repo.perform
    failures = iter([LedgerContention("busy"), LedgerContention("busy")])

    def contended(tx: object, now: int) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real_perform(tx, now)  # type: ignore[arg-type]

    monkeypatch.setattr(h.repo, "perform", contended)
    assert h.result("PerformTransaction", {"id": A})["state"] == 2
    assert len(naps) == 2 and 0 <= naps[0] <= 0.01 and 0 <= naps[1] <= 0.02


def test_ledger_contention_that_never_ends_is_a_system_error(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tolov.billing.errors import LedgerContention

    h = harness
    invoice_id, amount = h.invoice()
    h.create(A, amount, {"order_id": invoice_id})
    naps: list[float] = []
    h.merchant.sleep = naps.append

    def contended(tx: object, now: int) -> None:
        raise LedgerContention("busy")

    monkeypatch.setattr(h.repo, "perform", contended)
    assert h.error("PerformTransaction", {"id": A})["code"] == -32400
    assert len(naps) == 8 and max(naps) <= 0.2
    assert state(h, A)["state"] == 1
