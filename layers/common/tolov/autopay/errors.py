"""What enrolment refuses, in autopay's words; the billing API maps each to its reply in one table."""


class AutopayError(Exception):
    pass


class AutopayNotFound(AutopayError):
    pass


class ActiveAutopayExists(AutopayError):
    """The apartment already has an active autopay with this provider."""

    def __init__(self, autopay_id: str) -> None:
        super().__init__(f"the apartment already has an active autopay {autopay_id}")
        self.autopay_id = autopay_id


class CardRefused(AutopayError):
    """The card cannot be charged without its holder: unknown, expired, blocked, not verified or not
    recurrent. The message says which."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class MaxAmountTooLow(AutopayError):
    def __init__(self, minimum: int) -> None:
        super().__init__(f"max_amount must be at least the apartment top-up minimum {minimum}")
        self.minimum = minimum


class ProviderUnavailable(AutopayError):
    """Payme did not answer, or refused our own credentials: nothing is wrong with the request; retry."""


class LinkForged(AutopayError):
    """Not a link we signed (or not one for enrolment): 403."""


class LinkGone(AutopayError):
    """A link that was used or has expired: 410. reason: "used" | "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the link has been {reason}" if reason == "used" else "the link has expired")
        self.reason = reason
