"""SetFiscalData (PERFORM and CANCEL stored apart) and the -31007 reversal policy."""

from typing import Any

import pytest

from tests.payme_harness import HOUR, Clock, Harness, make_harness
from tolov.billing.ledger import Ledger
from tolov.store.payme_models import PaymeTransactionRecord

PID = "5305e3bab097f420a62ced0b"
RECEIPT = {
    "receipt_id": 121,
    "status_code": 0,
    "message": "accepted",
    "terminal_id": "EP000000000025",
    "fiscal_sign": "800031554082",
    "qr_code_url": "https://ofd.soliq.uz/check?t=EP000000000025&r=121&c=20260921191320&s=800031554082",
    "date": "20260921191320",
}


def performed(h: Harness) -> str:
    invoice_id, amount = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    h.result("PerformTransaction", {"id": PID})
    return invoice_id


def record() -> PaymeTransactionRecord:
    return PaymeTransactionRecord.get(f"payme#{PID}")


def test_perform_and_cancel_receipts_are_kept_apart(harness: Harness) -> None:
    h = harness
    performed(h)
    assert h.result("SetFiscalData", {"id": PID, "type": "PERFORM", "fiscal_data": RECEIPT}) == {
        "success": True
    }
    refund = RECEIPT | {"receipt_id": 122, "fiscal_sign": "800031554099"}
    h.result("CancelTransaction", {"id": PID, "reason": 5})
    assert h.result("SetFiscalData", {"id": PID, "type": "CANCEL", "fiscal_data": refund}) == {
        "success": True
    }
    stored = record()
    assert stored.fiscal_perform == RECEIPT and stored.fiscal_cancel == refund
    assert h.repo.get(PID).fiscal == {"PERFORM": RECEIPT, "CANCEL": refund}  # type: ignore[union-attr]


def test_a_repeat_replaces_only_its_own_kind(harness: Harness) -> None:
    h = harness
    performed(h)
    h.result("SetFiscalData", {"id": PID, "type": "PERFORM", "fiscal_data": RECEIPT})
    corrected = RECEIPT | {"status_code": 1, "message": "retried"}
    h.result("SetFiscalData", {"id": PID, "type": "PERFORM", "fiscal_data": corrected})
    assert record().fiscal_perform == corrected and record().fiscal_cancel is None


def test_fiscal_data_leaves_the_transaction_alone(harness: Harness) -> None:
    h = harness
    performed(h)
    before = h.result("CheckTransaction", {"id": PID})
    h.result("SetFiscalData", {"id": PID, "type": "PERFORM", "fiscal_data": RECEIPT})
    assert h.result("CheckTransaction", {"id": PID}) == before


def test_unknown_transaction(harness: Harness) -> None:
    assert (
        harness.error("SetFiscalData", {"id": PID, "type": "PERFORM", "fiscal_data": RECEIPT})["code"]
        == -31003
    )
    assert harness.repo.get(PID) is None


@pytest.mark.parametrize(
    ("params", "data"),
    [
        ({"type": "REFUND", "fiscal_data": RECEIPT}, "type"),
        ({"type": "perform", "fiscal_data": RECEIPT}, "type"),
        ({"fiscal_data": RECEIPT}, "type"),
        ({"type": "PERFORM"}, "fiscal_data"),
        ({"type": "PERFORM", "fiscal_data": "121"}, "fiscal_data"),
        ({"type": "PERFORM", "fiscal_data": {"blob": "x" * 20_000}}, "fiscal_data"),
    ],
)
def test_malformed_fiscal_data(harness: Harness, params: dict[str, Any], data: str) -> None:
    h = harness
    performed(h)
    error = h.error("SetFiscalData", {"id": PID, **params})
    assert error["code"] == -32600 and error["data"] == data
    assert record().fiscal_perform is None


# ---------------------------------------------------------------------- reversal policy
def test_reversal_is_allowed_by_default_long_after_perform(harness: Harness) -> None:
    h = harness
    performed(h)
    h.clock.advance(400 * 24 * HOUR)
    assert h.result("CancelTransaction", {"id": PID, "reason": 5})["state"] == -2


def test_no_reversal_policy_answers_31007_and_keeps_the_payment(aws: None) -> None:
    h = make_harness(Clock(), reversal_window_ms=0)
    invoice_id = performed(h)
    error = h.error("CancelTransaction", {"id": PID, "reason": 5})
    assert error["code"] == -31007 and set(error["message"]) == {"ru", "uz", "en"}
    assert h.result("CheckTransaction", {"id": PID})["state"] == 2
    assert Ledger.posting(f"payme#{PID}").reversed_at is None  # type: ignore[union-attr]
    assert h.repo.invoice(invoice_id).status == "paid"


def test_reversal_window(aws: None) -> None:
    h = make_harness(Clock(), reversal_window_ms=24 * HOUR)
    performed(h)
    h.clock.advance(24 * HOUR)
    assert h.error("CancelTransaction", {"id": PID, "reason": 5})["code"] == -31007
    h2 = make_harness(Clock(), reversal_window_ms=24 * HOUR)
    h2.apartment("apt-2")
    h2.create("6" * 24, 500_000, {"apartment_id": "apt-2"})
    h2.result("PerformTransaction", {"id": "6" * 24})
    h2.clock.advance(24 * HOUR - 1)
    assert h2.result("CancelTransaction", {"id": "6" * 24, "reason": 5})["state"] == -2


def test_policy_does_not_touch_cancel_before_perform(aws: None) -> None:
    h = make_harness(Clock(), reversal_window_ms=0)
    invoice_id, amount = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    assert h.result("CancelTransaction", {"id": PID, "reason": 3})["state"] == -1
