"""Configuration: one settings model read from the environment, for every function.

Apartment top-up limits are one setting for Payme and Click, read under provider-neutral names:
APARTMENT_MIN_TIYIN / APARTMENT_MAX_TIYIN win; PAYME_APARTMENT_MIN_TIYIN / _MAX_TIYIN (the names from
before Click read the same limits) still count when the neutral ones are absent.
"""

import pytest

from tolov.click.gateway import build_shop
from tolov.payme.gateway import build_merchant
from tolov.payme.merchant_api import ip_allowed
from tolov.settings import ConfigError, PaymeSettings, load_settings, parse_ip_ranges

DEFAULT = (100_000, 5_000_000_000)  # 1 000 to 50 000 000 sum


def limits(env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """The limits each provider's core is built with from this environment."""
    settings = load_settings({**env, "PAYME_KEY_SECRET_ARN": "PaymeKeySecret", "CLICK_SERVICE_ID": "12345"})
    payme = build_merchant(settings).limits
    click = build_shop(settings).apartment_limits
    return {"payme": (payme.min_tiyin, payme.max_tiyin), "click": (click.min_tiyin, click.max_tiyin)}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, DEFAULT),
        ({"APARTMENT_MIN_TIYIN": "1", "APARTMENT_MAX_TIYIN": "2"}, (1, 2)),
        ({"PAYME_APARTMENT_MIN_TIYIN": "3", "PAYME_APARTMENT_MAX_TIYIN": "4"}, (3, 4)),
        (
            {
                "APARTMENT_MIN_TIYIN": "1",
                "APARTMENT_MAX_TIYIN": "2",
                "PAYME_APARTMENT_MIN_TIYIN": "3",
                "PAYME_APARTMENT_MAX_TIYIN": "4",
            },
            (1, 2),
        ),
        ({"APARTMENT_MIN_TIYIN": "1", "PAYME_APARTMENT_MAX_TIYIN": "4"}, (1, 4)),
    ],
    ids=["defaults", "neutral", "payme names", "neutral wins", "mixed"],
)
def test_both_providers_read_the_same_limits(
    env: dict[str, str], expected: tuple[int, int], aws: None
) -> None:  # aws: the builds read the provider secrets at init
    assert limits(env) == {"payme": expected, "click": expected}


@pytest.mark.parametrize(
    "env",
    [
        {"APARTMENT_MIN_TIYIN": "0"},
        {"APARTMENT_MIN_TIYIN": "1.5"},
        {"APARTMENT_MIN_TIYIN": "1000", "APARTMENT_MAX_TIYIN": "999"},
        {"APARTMENT_MIN_TIYIN": "1000", "PAYME_APARTMENT_MAX_TIYIN": "999"},
    ],
)
def test_bad_limits_fail_loudly_for_both(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(env)



def test_defaults() -> None:
    settings = load_settings({})
    config = settings.payme
    assert (config.invoice_field, config.apartment_field) == ("order_id", "apartment_id")
    assert (settings.limits.min_tiyin, settings.limits.max_tiyin) == (100_000, 5_000_000_000)
    assert config.reversal_window_ms is None and config.key_overlap_seconds == 300
    assert config.ip_check_enabled is False and not config.topup_fiscal_configured


def test_environment_names() -> None:
    settings = load_settings(
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
    config = settings.payme
    assert config.key_secret_arn.endswith(":payme")
    assert (config.invoice_field, config.apartment_field) == ("invoice", "flat")
    assert (settings.limits.min_tiyin, settings.limits.max_tiyin, config.topup_vat_percent) == (1, 2, 12)
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
    assert load_settings(env).payme.ip_check_enabled is enabled


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
    with pytest.raises(ConfigError):
        load_settings(env)


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
    assert ip_allowed(ip, PaymeSettings().allowed_ips) is allowed


def test_mixed_address_list() -> None:
    ranges = parse_ip_ranges("10.0.0.0/30, 192.168.1.7 , 2001:db8::/127,")
    assert ip_allowed("10.0.0.3", ranges) and not ip_allowed("10.0.0.4", ranges)
    assert ip_allowed("192.168.1.7", ranges) and ip_allowed("2001:db8::1", ranges)
