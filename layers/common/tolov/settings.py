"""Configuration, read once per container into a typed model; secrets fetched on demand and cached."""

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Each limit under its provider-neutral name first; PAYME_APARTMENT_* (the names from before Click read the
# same limits) count when the neutral one is absent.
APARTMENT_LIMIT_NAMES = {
    "apartment_min_tiyin": ("APARTMENT_MIN_TIYIN", "PAYME_APARTMENT_MIN_TIYIN"),
    "apartment_max_tiyin": ("APARTMENT_MAX_TIYIN", "PAYME_APARTMENT_MAX_TIYIN"),
}


class ApartmentLimits(BaseModel):
    """One apartment top-up (accumulative account), in tiyin, whichever provider carries it: Payme answers
    -31001 outside the limits, Click -2."""

    model_config = ConfigDict(frozen=True)

    # 1 000 to 50 000 000 sum.
    apartment_min_tiyin: int = Field(default=100_000, gt=0)
    apartment_max_tiyin: int = Field(default=5_000_000_000, gt=0)

    @model_validator(mode="after")
    def _limits_in_order(self) -> Self:
        if self.apartment_min_tiyin > self.apartment_max_tiyin:
            raise ValueError("APARTMENT_MIN_TIYIN is above APARTMENT_MAX_TIYIN")
        return self

    def allows_topup(self, amount: int) -> bool:
        return self.apartment_min_tiyin <= amount <= self.apartment_max_tiyin


def apartment_limits_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The limits set in the environment, each from the first of its names present."""
    found: dict[str, str] = {}
    for field, names in APARTMENT_LIMIT_NAMES.items():
        present = [env[name] for name in names if name in env]
        if present:
            found[field] = present[0]
    return found


class Settings(ApartmentLimits):
    model_config = ConfigDict(frozen=True)

    environment: str = "dev"
    apartments_table: str = "ApartmentsTable"
    invoices_table: str = "InvoicesTable"
    charges_table: str = "ChargesTable"
    postings_table: str = "PostingsTable"
    transactions_table: str = "TransactionsTable"
    autopay_table: str = "AutopayTable"
    idempotency_table: str = "IdempotencyTable"  # the billing API's Idempotency-Key replies

    payme_merchant_id: str = ""
    payme_checkout_url: str = "https://checkout.paycom.uz"
    payme_key_secret_arn: str = ""
    # Payme cashbox account fields: which one names an invoice (one-time) and which an apartment.
    payme_invoice_field: str = "order_id"
    payme_apartment_field: str = "apartment_id"

    click_service_id: str = ""
    click_merchant_id: str = ""
    click_merchant_user_id: str = ""
    click_secret_key_secret_arn: str = ""
    click_pay_url: str = "https://my.click.uz/services/pay"
    # A Complete cancelling a confirmed payment: -4 (legacy Click tester) or -9 (Postman suite).
    click_cancel_after_confirm_error: int = -4
    click_reversal_queue_url: str = ""
    click_merchant_api_url: str = "https://api.click.uz/v2/merchant"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        values.update(apartment_limits_from_env(env))
        if "TOLOV_ENV" in env:
            values["environment"] = env["TOLOV_ENV"]
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


# Secrets are cached for a few minutes so that a rotated key (Payme ChangePassword, an operator's
# put-secret-value) reaches every warm container without a redeploy.
SECRET_MAX_AGE_SECONDS = 300


def get_secret(secret_id: str, *, force_fetch: bool = False) -> str:
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(secret_id, max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force_fetch)
    if not isinstance(value, str):
        raise TypeError("secret is not a string")
    return value
