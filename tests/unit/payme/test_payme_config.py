"""Configuration from the environment, and the source-address allow list."""

import pytest
from pydantic import ValidationError

from tolov.payme.config import PaymeConfig, ip_allowed, parse_ip_ranges


def test_defaults() -> None:
    config = PaymeConfig.from_env({})
    assert (config.invoice_field, config.apartment_field) == ("order_id", "apartment_id")
    assert (config.apartment_min_tiyin, config.apartment_max_tiyin) == (100_000, 5_000_000_000)
    assert config.reversal_window_ms is None and config.key_overlap_seconds == 300
    assert config.ip_check_enabled is False and not config.topup_fiscal_configured


def test_environment_names() -> None:
    config = PaymeConfig.from_env(
        {
            "TOLOV_ENV": "prod",
            "PAYME_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:payme",
            "PAYME_INVOICE_FIELD": "invoice",
            "PAYME_APARTMENT_FIELD": "flat",
            "PAYME_APARTMENT_MIN_TIYIN": "1",
            "PAYME_APARTMENT_MAX_TIYIN": "2",
            "PAYME_TOPUP_TITLE": "T",
            "PAYME_TOPUP_IKPU": "1",
            "PAYME_TOPUP_PACKAGE_CODE": "2",
            "PAYME_TOPUP_VAT_PERCENT": "12",
            "PAYME_REVERSAL_WINDOW_MS": "0",
            "PAYME_KEY_OVERLAP_SECONDS": "0",
            "PAYME_ALLOWED_IPS": "10.0.0.0/8",
            "PAYME_STATEMENT_MAX_DAYS": "31",
        }
    )
    assert config.key_secret_arn.endswith(":payme")
    assert (config.invoice_field, config.apartment_field) == ("invoice", "flat")
    assert (config.apartment_min_tiyin, config.apartment_max_tiyin, config.topup_vat_percent) == (1, 2, 12)
    assert config.reversal_window_ms == 0 and config.key_overlap_seconds == 0
    assert config.ip_check_enabled and config.topup_fiscal_configured and config.statement_max_days == 31


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"TOLOV_ENV": "prod"}, True),
        ({"TOLOV_ENV": "dev"}, False),
        ({"TOLOV_ENV": "prod", "PAYME_IP_ALLOWLIST": "false"}, False),
        ({"TOLOV_ENV": "dev", "PAYME_IP_ALLOWLIST": "true"}, True),
        ({"TOLOV_ENV": "prod", "PAYME_IP_ALLOWLIST": ""}, True),
    ],
)
def test_allow_list_is_on_in_prod_only_unless_configured(env: dict[str, str], enabled: bool) -> None:
    assert PaymeConfig.from_env(env).ip_check_enabled is enabled


@pytest.mark.parametrize(
    "env",
    [
        {"PAYME_APARTMENT_MIN_TIYIN": "0"},
        {"PAYME_APARTMENT_MIN_TIYIN": "1.5"},
        {"PAYME_ALLOWED_IPS": "185.234.113.15-185.234.113.1"},
        {"PAYME_ALLOWED_IPS": "not-an-ip"},
        {"PAYME_REVERSAL_WINDOW_MS": "-1"},
        {"PAYME_APARTMENT_MIN_TIYIN": "1000", "PAYME_APARTMENT_MAX_TIYIN": "999"},
    ],
)
def test_bad_configuration_fails_loudly(env: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        PaymeConfig.from_env(env)


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("185.234.113.1", True),
        ("185.234.113.8", True),
        ("185.234.113.15", True),
        ("185.234.113.0", False),
        ("185.234.113.16", False),
        ("185.234.112.1", False),
        ("::ffff:185.234.113.1", False),
        ("2001:db8::1", False),
        ("", False),
        (None, False),
        ("185.234.113.1, 1.2.3.4", False),
        ("garbage", False),
    ],
)
def test_payme_addresses(ip: str | None, allowed: bool) -> None:
    assert ip_allowed(ip, parse_ip_ranges(PaymeConfig().allowed_ips)) is allowed


def test_mixed_address_list() -> None:
    ranges = parse_ip_ranges("10.0.0.0/30, 192.168.1.7 , 2001:db8::/127,")
    assert ip_allowed("10.0.0.3", ranges) and not ip_allowed("10.0.0.4", ranges)
    assert ip_allowed("192.168.1.7", ranges) and ip_allowed("2001:db8::1", ranges)
