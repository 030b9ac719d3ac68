"""Every state-changing method in every transaction state, for both account types, with a movable clock.

Each row says what the method must answer and where the transaction and the ledger must stand after;
the ledger is read back (invoice reservation and status, posting and its reversal, apartment credit).
"""

from typing import Any

import pytest

from tests.payme_harness import HOUR, TIMEOUT, Harness
from tolov.billing.ledger import Ledger
from tolov.store.models import Apartment

PID = "5305e3bab097f420a62ced0b"
TOPUP = 500_000

# start states: "new" (no transaction), 1, "1-expired", 2, -1, -2
Start = str | int


def drive(h: Harness, kind: str, start: Start) -> dict[str, Any]:
    """Bring transaction PID of the given account kind into the start state through the API."""
    if kind == "invoice":
        invoice_id, amount = h.invoice()
        account = {"order_id": invoice_id}
    else:
        amount, account = TOPUP, {"apartment_id": h.apartment()}
    case = {"account": account, "amount": amount, "time": h.clock.now}
    if start == "new":
        return case
    assert "result" in h.create(PID, amount, account)
    if start == "1-expired":
        h.clock.advance(TIMEOUT + 1)
    if start in (2, -2):
        h.clock.advance(HOUR)
        assert h.result("PerformTransaction", {"id": PID})["state"] == 2
    if start in (-1, -2):
        h.clock.advance(HOUR)
        assert h.result("CancelTransaction", {"id": PID, "reason": 5 if start == -2 else 3})["state"] == start
    h.clock.advance(HOUR)
    return case


def check(h: Harness) -> dict[str, Any]:
    return h.result("CheckTransaction", {"id": PID})


def assert_ledger(h: Harness, kind: str, case: dict[str, Any], state: int | None) -> None:
    """The ledger agrees with the transaction's state (None: no transaction)."""
    posting = Ledger.posting(f"payme#{PID}")
    if state in (None, 1, -1):
        assert posting is None
    else:
        assert posting is not None and int(posting.amount) == case["amount"]
        assert (posting.reversed_at is not None) == (state == -2)
    if kind == "invoice":
        invoice = h.repo.invoice(case["account"]["order_id"])
        assert invoice.holder == (f"payme#{PID}" if state == 1 else None)
        assert invoice.status == ("paid" if state == 2 else "open")
    else:
        credit = int(Apartment.get(case["account"]["apartment_id"]).credit)
        assert credit == (TOPUP if state == 2 else 0)


def params_for(method: str, case: dict[str, Any]) -> dict[str, Any]:
    if method == "CreateTransaction":
        return {"id": PID, "time": case["time"], "amount": case["amount"], "account": case["account"]}
    if method == "CancelTransaction":
        return {"id": PID, "reason": 5}
    return {"id": PID}


# (method, start state, expected error code or None, state after, reason after)
ROWS: list[tuple[str, Start, int | None, int | None, int | None]] = [
    ("CreateTransaction", "new", None, 1, None),
    ("CreateTransaction", 1, None, 1, None),
    ("CreateTransaction", "1-expired", -31008, -1, 4),
    ("CreateTransaction", 2, -31008, 2, None),
    ("CreateTransaction", -1, -31008, -1, 3),
    ("CreateTransaction", -2, -31008, -2, 5),
    ("PerformTransaction", "new", -31003, None, None),
    ("PerformTransaction", 1, None, 2, None),
    ("PerformTransaction", "1-expired", -31008, -1, 4),
    ("PerformTransaction", 2, None, 2, None),
    ("PerformTransaction", -1, -31008, -1, 3),
    ("PerformTransaction", -2, -31008, -2, 5),
    ("CancelTransaction", "new", -31003, None, None),
    ("CancelTransaction", 1, None, -1, 5),
    ("CancelTransaction", "1-expired", None, -1, 5),
    ("CancelTransaction", 2, None, -2, 5),
    ("CancelTransaction", -1, None, -1, 3),
    ("CancelTransaction", -2, None, -2, 5),
    ("CheckTransaction", "new", -31003, None, None),
    ("CheckTransaction", 1, None, 1, None),
    ("CheckTransaction", "1-expired", None, 1, None),
    ("CheckTransaction", 2, None, 2, None),
    ("CheckTransaction", -1, None, -1, 3),
    ("CheckTransaction", -2, None, -2, 5),
]


@pytest.mark.parametrize("kind", ["invoice", "apartment"])
@pytest.mark.parametrize(("method", "start", "error", "state_after", "reason_after"), ROWS)
def test_method_in_state(
    harness: Harness,
    kind: str,
    method: str,
    start: Start,
    error: int | None,
    state_after: int | None,
    reason_after: int | None,
) -> None:
    h = harness
    case = drive(h, kind, start)
    before = None if start == "new" else check(h)
    reply = h.call(method, params_for(method, case))

    if error is not None:
        assert reply["error"]["code"] == error
        assert set(reply["error"]["message"]) == {"ru", "uz", "en"}
    else:
        assert "error" not in reply, reply

    if state_after is None:
        assert h.call("CheckTransaction", {"id": PID})["error"]["code"] == -31003
    else:
        after = check(h)
        assert after["state"] == state_after
        assert after["reason"] == reason_after
        # Times that have not happened are 0, never null; the ones that have never change.
        assert after["perform_time"] != 0 if state_after in (2, -2) else after["perform_time"] == 0
        assert after["cancel_time"] != 0 if state_after < 0 else after["cancel_time"] == 0
        if before is not None:
            assert after["create_time"] == before["create_time"]
            assert after["transaction"] == before["transaction"]
            if before["state"] == state_after:
                assert after == before  # nothing moved
    assert_ledger(h, kind, case, state_after)

    if error is None and method != "CheckTransaction":
        # The sandbox rule: a repeat answers exactly as the first call did, however late it comes.
        h.clock.advance(HOUR)
        assert h.call(method, params_for(method, case))["result"] == reply["result"]
        result, after = reply["result"], check(h)
        assert result["transaction"] == after["transaction"]
        assert result["state"] == after["state"]
        time_field = {"CreateTransaction": "create_time", "PerformTransaction": "perform_time"}.get(
            method, "cancel_time"
        )
        assert result[time_field] == after[time_field]


def test_create_result_shape(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    result = h.create(PID, amount, {"order_id": invoice_id})["result"]
    assert result == {
        "create_time": h.clock.now,
        "transaction": result["transaction"],
        "state": 1,
        "receivers": None,
    }
    assert isinstance(result["transaction"], str) and result["transaction"]


def test_check_transaction_shape(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    created = h.create(PID, amount, {"order_id": invoice_id})["result"]
    assert check(h) == {
        "create_time": created["create_time"],
        "perform_time": 0,
        "cancel_time": 0,
        "transaction": created["transaction"],
        "state": 1,
        "reason": None,
    }


def test_repeated_create_must_carry_the_same_amount_and_account(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    other_invoice, _ = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    assert h.create(PID, amount + 1, {"order_id": invoice_id})["error"]["code"] == -31001
    error = h.create(PID, amount, {"order_id": other_invoice})["error"]
    assert -31099 <= error["code"] <= -31050 and error["data"] == "order_id"
    assert check(h)["state"] == 1


def test_cancel_reason_is_stored_as_sent(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    h.result("CancelTransaction", {"id": PID, "reason": 2})
    assert check(h)["reason"] == 2
    # A repeat with another reason answers the stored cancellation and changes nothing.
    h.result("CancelTransaction", {"id": PID, "reason": 10})
    assert check(h)["reason"] == 2


@pytest.mark.parametrize("reason", ["5", None, 1.5, True])
def test_cancel_needs_an_integer_reason(harness: Harness, reason: Any) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    params: dict[str, Any] = {"id": PID} if reason is None else {"id": PID, "reason": reason}
    assert h.error("CancelTransaction", params)["code"] == -32600
    assert check(h)["state"] == 1


def test_cancelled_transaction_never_blocks_a_new_attempt(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    h.result("CancelTransaction", {"id": PID, "reason": 3})
    second = "6305e3bab097f420a62ced0c"
    assert h.create(second, amount, {"order_id": invoice_id})["result"]["state"] == 1
    assert h.result("PerformTransaction", {"id": second})["state"] == 2
    assert h.repo.invoice(invoice_id).status == "paid"


def test_refunded_invoice_can_be_paid_again(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    h.result("PerformTransaction", {"id": PID})
    h.result("CancelTransaction", {"id": PID, "reason": 5})
    second = "6305e3bab097f420a62ced0c"
    assert h.create(second, amount, {"order_id": invoice_id})["result"]["state"] == 1


def test_paid_invoice_refuses_new_transactions(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    h.result("PerformTransaction", {"id": PID})
    account = {"order_id": invoice_id}
    assert h.error("CheckPerformTransaction", {"amount": amount, "account": account})["code"] == -31008
    assert h.create("6305e3bab097f420a62ced0c", amount, account)["error"]["code"] == -31008


def test_second_active_transaction_for_an_invoice_gets_31008(harness: Harness) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    account = {"order_id": invoice_id}
    h.create(PID, amount, account)
    assert h.create("6305e3bab097f420a62ced0c", amount, account)["error"]["code"] == -31008
    assert h.error("CheckPerformTransaction", {"amount": amount, "account": account})["code"] == -31008
    assert h.call("CheckTransaction", {"id": "6305e3bab097f420a62ced0c"})["error"]["code"] == -31003
    assert h.repo.invoice(invoice_id).holder == f"payme#{PID}"


def test_apartment_takes_parallel_transactions(harness: Harness) -> None:
    h = harness
    account = {"apartment_id": h.apartment()}
    ids = [f"{i:024x}" for i in range(1, 4)]
    for payme_id in ids:
        assert h.create(payme_id, TOPUP, account)["result"]["state"] == 1
    for payme_id in ids:
        assert h.result("PerformTransaction", {"id": payme_id})["state"] == 2
    assert int(Apartment.get("apt-1").credit) == 3 * TOPUP


def test_apartment_top_up_pays_open_charges_oldest_first(harness: Harness) -> None:
    h = harness
    from tests.payme_harness import gas, water

    h.invoice(water(10_000_00), period="2026-08")
    h.invoice(gas(7_000_00), period="2026-09")
    h.create(PID, 12_000_00, {"apartment_id": "apt-1"})
    h.result("PerformTransaction", {"id": PID})
    balance = h.billing.balance("apt-1")
    assert balance.debt == 5_000_00
    assert [(c.period, int(c.unpaid)) for c in balance.charges] == [("2026-09", 5_000_00)]
    h.result("CancelTransaction", {"id": PID, "reason": 5})
    assert h.billing.balance("apt-1").debt == 17_000_00
