"""Payment keys: "<provider>#<the provider's id>", the one name of a payment across tables.

A posting, a provider's transaction row and an invoice reservation all carry it, so whichever path
arrives first with a payment (Payme Merchant API, Subscribe receipt, Click) finds the others' work.
"""

from typing import NamedTuple

SEPARATOR = "#"


class _PaymentKeyFields(NamedTuple):
    provider: str
    external_id: str


class PaymentKey(_PaymentKeyFields):
    # A subclass because the check must run on construction and a NamedTuple cannot override __new__.
    __slots__ = ()

    def __new__(cls, provider: str, external_id: str) -> "PaymentKey":
        if not provider or SEPARATOR in provider or not external_id:
            raise ValueError("a payment key needs a provider without '#' and an id")
        return super().__new__(cls, provider, external_id)

    def __str__(self) -> str:
        return f"{self.provider}{SEPARATOR}{self.external_id}"

    @classmethod
    def parse(cls, text: str) -> "PaymentKey":
        provider, separator, external_id = text.partition(SEPARATOR)
        if not separator:
            raise ValueError(f"not a payment key: {text[:80]!r}")
        return cls(provider, external_id)

    @classmethod
    def provider_of(cls, text: str) -> str | None:
        """The provider of a stored key, or None for a value that is not one (such as "credit")."""
        try:
            return cls.parse(text).provider
        except ValueError:
            return None
