"""How long a payment attempt may keep an invoice reserved against other providers."""

from tolov.billing.keys import PaymentKey

# How long a provider's attempt may hold an invoice before another provider may take the reservation
# over. Payme cancels its own transactions 12 h after creation (we lock after that moment, so this is
# conservative); a Click attempt is Prepare to Complete, minutes at most. Either late provider then finds
# the reservation gone and answers as its protocol says for a cancelled attempt.
RESERVATION_TTL_MS = {"payme": 43_200_000, "click": 30 * 60_000}


def reservation_stale(holder: str, since: float | None, now: int) -> bool:
    """True when the attempt `holder` has held its reservation past its provider's time-to-live."""
    ttl = RESERVATION_TTL_MS.get(PaymentKey.provider_of(holder) or "")
    return ttl is not None and since is not None and now - int(since) > ttl
