"""Configuration of the Payme Merchant API, read from the environment (template.yaml sets it)."""

import ipaddress
import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import ConfigDict, Field, field_validator

from tolov.settings import ApartmentLimits, apartment_limits_from_env

# Payme Business sends Merchant API requests only from these addresses (developer.help.paycom.uz).
PAYME_SOURCE_IPS = "185.234.113.1-185.234.113.15"

_ENV = {
    "environment": "TOLOV_ENV",
    "key_secret_arn": "PAYME_KEY_SECRET_ARN",
    "invoice_field": "PAYME_INVOICE_FIELD",
    "apartment_field": "PAYME_APARTMENT_FIELD",
    "topup_title": "PAYME_TOPUP_TITLE",
    "topup_ikpu": "PAYME_TOPUP_IKPU",
    "topup_package_code": "PAYME_TOPUP_PACKAGE_CODE",
    "topup_vat_percent": "PAYME_TOPUP_VAT_PERCENT",
    "reversal_window_ms": "PAYME_REVERSAL_WINDOW_MS",
    "key_overlap_seconds": "PAYME_KEY_OVERLAP_SECONDS",
    "ip_allowlist": "PAYME_IP_ALLOWLIST",
    "allowed_ips": "PAYME_ALLOWED_IPS",
    "statement_max_days": "PAYME_STATEMENT_MAX_DAYS",
}


class PaymeConfig(ApartmentLimits):
    """The apartment top-up limits are the ones Click reads too (tolov.settings.ApartmentLimits)."""

    model_config = ConfigDict(frozen=True)

    environment: str = "dev"
    key_secret_arn: str = ""

    # Names of the `account` sub-fields as configured on the Payme kassa. An empty name disables that
    # account type (a kassa set up for invoices only, say).
    invoice_field: str = "order_id"
    apartment_field: str = "apartment_id"

    # The fiscal item of an apartment top-up. Without an IKPU code and package code the top-up's
    # CheckPerformTransaction carries no `detail`: a made-up tax code would be worse than none.
    topup_title: str = "Kommunal xizmatlar uchun to'lov"
    topup_ikpu: str = ""
    topup_package_code: str = ""
    topup_vat_percent: int = Field(default=0, ge=0, le=100)

    # Cancel of a performed transaction: None = always reversible; otherwise only within this many
    # ms after perform_time (0 = never), else -31007.
    reversal_window_ms: int | None = Field(default=None, ge=0)

    # After ChangePassword the previous key keeps working this long (see keys.py).
    key_overlap_seconds: int = Field(default=300, ge=0)

    # None: on in prod, off elsewhere.
    ip_allowlist: bool | None = None
    allowed_ips: str = PAYME_SOURCE_IPS

    statement_max_days: int = Field(default=366, gt=0)

    @field_validator("allowed_ips")
    @classmethod
    def _parse_ips(cls, value: str) -> str:
        parse_ip_ranges(value)
        return value

    @property
    def ip_check_enabled(self) -> bool:
        return self.environment == "prod" if self.ip_allowlist is None else self.ip_allowlist

    @property
    def topup_fiscal_configured(self) -> bool:
        return bool(self.topup_ikpu and self.topup_package_code)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "PaymeConfig":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {name: env[var] for name, var in _ENV.items() if var in env}
        values.update(apartment_limits_from_env(env))
        if values.get("ip_allowlist") == "":
            del values["ip_allowlist"]
        if values.get("reversal_window_ms") == "":
            del values["reversal_window_ms"]
        return cls.model_validate(values)


IpRange = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ipaddress.IPv4Address | ipaddress.IPv6Address]


def parse_ip_ranges(text: str) -> list[IpRange]:
    """Comma-separated addresses, CIDR blocks or first-last ranges."""
    ranges: list[IpRange] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "-" in part:
            first, last = (ipaddress.ip_address(x.strip()) for x in part.split("-", 1))
            if first.version != last.version or first > last:  # type: ignore[operator]
                raise ValueError(f"bad address range {part!r}")
            ranges.append((first, last))
        else:
            network = ipaddress.ip_network(part, strict=False)
            ranges.append((network[0], network[-1]))
    return ranges


def ip_allowed(source_ip: str | None, ranges: list[IpRange]) -> bool:
    if not source_ip:
        return False
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(
        first.version == address.version and first <= address <= last  # type: ignore[operator]
        for first, last in ranges
    )


@lru_cache(maxsize=1)
def get_payme_config() -> PaymeConfig:
    return PaymeConfig.from_env()
