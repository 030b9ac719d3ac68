"""Payment keys: "<provider>#<the provider's id>", the one name of a payment across tables.

A posting, a provider's transaction row and an invoice reservation all carry it, so whichever path
arrives first with a payment (Payme Merchant API, Subscribe receipt, Click) finds the others' work.
"""

from dataclasses import dataclass

SEPARATOR = "#"


@dataclass(frozen=True)
class PaymentKey:
    provider: str
    external_id: str

    def __post_init__(self) -> None:
        if not self.provider or SEPARATOR in self.provider or not self.external_id:
            raise ValueError("a payment key needs a provider without '#' and an id")

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
