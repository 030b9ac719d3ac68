"""Masking: no credential and no full card number survives into an audit row; ids and amounts do."""

from typing import Any

from tolov.audit.masking import MASK, luhn_valid, mask
from tolov.audit.trail import AuditEntry, AuditRow, AuditTrail

CARD = "8600495473316478"  # a Payme test card (Luhn-valid)


def test_luhn_of_test_cards() -> None:
    assert luhn_valid(CARD) and luhn_valid("4444445987459073")
    assert not luhn_valid("8600495473316479")


def test_credentials_are_replaced_wherever_they_are() -> None:
    body = {
        "method": "ChangePassword",
        "params": {"password": "new-36-char-key"},
        "nested": [{"sign_string": "0" * 32}, {"Token": "tok"}, {"card_token": "abc"}],
        "Authorization": "Basic UGF5Y29tOmtleQ==",
    }
    masked = mask(body)
    assert masked["params"]["password"] == MASK
    assert masked["nested"] == [{"sign_string": MASK}, {"Token": MASK}, {"card_token": MASK}]
    assert masked["Authorization"] == MASK
    assert "new-36-char-key" not in str(masked) and "UGF5" not in str(masked)
    assert body["params"]["password"] == "new-36-char-key"  # a copy, the request is left alone


def test_card_numbers_keep_first_six_and_last_four() -> None:
    masked = mask({"card": {"number": CARD}, "note": "paid with 8600 4954 7331 6478 today", "n": int(CARD)})
    assert masked["card"]["number"] == "860049******6478"
    assert masked["note"] == "paid with 860049******6478 today"
    assert masked["n"] == "860049******6478"
    assert CARD not in str(masked)


def test_ids_amounts_and_non_card_digits_are_kept() -> None:
    body = {
        "click_trans_id": "4111111111111111",  # a Click bigint id that happens to pass Luhn
        "merchant_trans_id": "1234567890",
        "amount": "15000.00",
        "params": {"id": "5305e3bab097f420a62ced0b", "time": 1399114284039, "amount": 500000},
        "phone": "998901234567",  # 12 digits: too short for a card
        "error": {"code": -31050, "message": {"en": "not found"}},
        "digits": "8600495473316479",  # 16 digits, not Luhn-valid: not a card number
    }
    assert mask(body) == body


def test_the_trail_masks_before_it_stores_and_sets_the_ttl() -> None:
    stored: list[AuditRow] = []

    class Store:
        def put(self, row: AuditRow) -> None:
            stored.append(row)

    trail = AuditTrail(Store(), ttl_days=180, clock=lambda: 1_700_000_000_000)  # type: ignore[arg-type]
    entry = AuditEntry("click", "prepare", {"sign_string": "x", "card": CARD}, {"error": 0}, 0, "42")
    assert trail.record(entry) is True
    (row,) = stored
    assert row.entry.request == {"sign_string": MASK, "card": "860049******6478"}
    assert row.expires_at == 1_700_000_000 + 180 * 86_400
    assert row.audit_id.startswith("1700000000000#") and row.tx_key == "click#42"


def test_a_failing_store_is_counted_never_raised(capsys: Any) -> None:
    class Broken:
        def put(self, row: AuditRow) -> None:
            raise ConnectionError("DynamoDB is down")

    trail = AuditTrail(Broken())  # type: ignore[arg-type]
    assert trail.record(AuditEntry("payme", "CheckTransaction", {}, {})) is False
