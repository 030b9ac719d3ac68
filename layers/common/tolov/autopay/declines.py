"""The decline taxonomy: what a Subscribe API error means for an autopay (reference §5.5).

- insufficient funds (-31303; -31630 with a card cards.check finds usable): declined; each of the next
  retry_days runs tries again, then the period is given up.
- card unusable (-31300, -31301, -31400; -31630 with a card cards.check finds unusable; a card no longer
  verified or recurrent): declined; the autopay is deactivated and autopay.failed emitted.
- funds or card (-31630): cards.check tells the two apart.
- unknown outcome (time-out, HTTP 5xx, an unreadable reply, -32400): the receipt is in flight, checked later.
- unavailable (-31002, -31302): failed; retried with backoff through the queue, then the DLQ.
- our side (-31622, -31623: our billing refused; -32504, -31601: our credentials; -31611, -31612: the
  cashbox's amount limits): failed and an alarm; never deactivated; retried, then the DLQ.
- unexpected (anything else): failed; retried, then the DLQ.
"""

from enum import StrEnum

from tolov.payme.subscribe_api import SYSTEM_ERROR, Card, SubscribeError, SubscribeUnavailable


class Decline(StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_UNUSABLE = "card_unusable"
    FUNDS_OR_CARD = "funds_or_card"
    UNKNOWN_OUTCOME = "unknown_outcome"
    UNAVAILABLE = "unavailable"
    OUR_SIDE = "our_side"
    UNEXPECTED = "unexpected"


INSUFFICIENT_FUNDS = -31303
FUNDS_OR_CARD = -31630

_BY_CODE: dict[int, Decline] = {
    INSUFFICIENT_FUNDS: Decline.INSUFFICIENT_FUNDS,
    FUNDS_OR_CARD: Decline.FUNDS_OR_CARD,
    -31300: Decline.CARD_UNUSABLE,  # invalid card
    -31301: Decline.CARD_UNUSABLE,  # expired, blocked, SMS notification not connected
    -31400: Decline.CARD_UNUSABLE,  # token not found
    SYSTEM_ERROR: Decline.UNKNOWN_OUTCOME,
    -31002: Decline.UNAVAILABLE,  # processing centre unavailable
    -31302: Decline.UNAVAILABLE,  # cannot read the card balance now
    -31622: Decline.OUR_SIDE,  # our billing (Merchant API endpoint) unavailable
    -31623: Decline.OUR_SIDE,  # our billing refused
    -32504: Decline.OUR_SIDE,  # access denied: our X-Auth
    -31601: Decline.OUR_SIDE,  # merchant unknown or not active
    -31611: Decline.OUR_SIDE,  # amount below the cashbox minimum
    -31612: Decline.OUR_SIDE,  # amount above the cashbox maximum
}


def classify(error: SubscribeError) -> Decline:
    if isinstance(error, SubscribeUnavailable):
        return Decline.UNKNOWN_OUTCOME
    return _BY_CODE.get(error.code, Decline.UNEXPECTED) if error.code is not None else Decline.UNEXPECTED


def card_problem(card: Card) -> str | None:
    """Why a card cannot be charged without its holder, or None when it can."""
    if not card.verify:
        return "card is not verified"
    if not card.recurrent:
        return "card cannot be charged recurrently"
    return None


def reason_of(error: SubscribeError) -> str:
    """A short English reason for a card error (Payme's own message when it has one), for replies."""
    return error.text[:200] or f"Payme error {error.code}"
