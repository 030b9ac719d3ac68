"""What an audit row may keep of a provider's request and our reply: no key, signature, token or password
(the value is replaced), and no full card number (first 6 and last 4 digits kept, wherever it appears)."""

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
# Names whose values are credentials in either provider's protocol (compared lower-cased): Payme's
# ChangePassword `password`, Click's `sign_string`, card tokens, the Authorization header's contents.
SECRET_NAMES = frozenset(
    {
        "password",
        "key",
        "secret",
        "secret_key",
        "sign_string",
        "sign",
        "token",
        "card_token",
        "authorization",
        "x-auth",
        "otp",
        "sms_code",
    }
)
# Provider ids are long digit strings too (Click's bigint ids): never taken for a card number.
ID_NAMES = frozenset(
    {
        "id",
        "click_trans_id",
        "click_paydoc_id",
        "merchant_prepare_id",
        "merchant_confirm_id",
        "payment_id",
        "service_id",
        "merchant_trans_id",
        "transaction",
        "time",
        "create_time",
        "perform_time",
        "cancel_time",
        "amount",
        "from",
        "to",
    }
)
# 13 to 19 digits, optionally grouped by spaces or dashes, not inside a longer run of digits.
_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
MAX_TEXT = 4096  # a garbage body is kept this long at most


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def mask_card(digits: str) -> str:
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def _mask_cards(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group(0))
        return mask_card(digits) if luhn_valid(digits) else match.group(0)

    return _CARD.sub(replace, text)


def mask(value: Any, name: str | None = None) -> Any:
    """A copy of a JSON-like value with credentials replaced and card numbers cut to 6+4."""
    lowered = name.lower() if name is not None else None
    if lowered is not None and lowered in SECRET_NAMES and value not in (None, ""):
        return MASK
    if isinstance(value, Mapping):
        return {str(k): mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, name) for v in value]
    if isinstance(value, str):
        text = value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
        return text if lowered in ID_NAMES else _mask_cards(text)
    if isinstance(value, int) and not isinstance(value, bool) and lowered not in ID_NAMES:
        text = str(value)
        masked = _mask_cards(text)
        return value if masked == text else masked
    return value
