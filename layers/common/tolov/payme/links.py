"""Payme checkout GET links: <checkout>/base64("m=…;ac.<field>=…;a=…[;c=…][;l=…]")."""

import base64

LANGUAGES = frozenset({"ru", "uz", "en"})


def _value(name: str, value: str) -> str:
    # ';' and '=' are the format's own separators; a value carrying them would change the receipt.
    if not value or ";" in value or "=" in value:
        raise ValueError(f"{name} must be non-empty and free of ';' and '='")
    return value


def checkout_link(
    checkout_url: str,
    merchant_id: str,
    account: dict[str, str],
    amount: int,
    *,
    return_url: str | None = None,
    lang: str | None = None,
) -> str:
    """Amount in tiyin, as Payme expects (a=500 is 5 sum)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError("amount must be a positive integer of tiyin")
    parts = [f"m={_value('merchant_id', merchant_id)}"]
    parts += [f"ac.{_value('account field', k)}={_value(k, v)}" for k, v in account.items()]
    parts.append(f"a={amount}")
    if lang is not None:
        if lang not in LANGUAGES:
            raise ValueError("lang must be ru, uz or en")
        parts.append(f"l={lang}")
    if return_url is not None:
        parts.append(f"c={_value('return_url', return_url)}")
    encoded = base64.b64encode(";".join(parts).encode()).decode()
    return f"{checkout_url.rstrip('/')}/{encoded}"
