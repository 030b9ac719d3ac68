"""Apartment top-up limits: one setting for Payme and Click, read under provider-neutral names.

APARTMENT_MIN_TIYIN / APARTMENT_MAX_TIYIN win; PAYME_APARTMENT_MIN_TIYIN / _MAX_TIYIN (the names from
before Click read the same limits) still count when the neutral ones are absent.
"""

import pytest
from pydantic import ValidationError

from local.template import function_environment
from tolov.payme.config import PaymeConfig
from tolov.settings import Settings

DEFAULT = (100_000, 5_000_000_000)  # 1 000 to 50 000 000 sum


def limits(env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """What each provider's configuration reads from this environment."""
    payme = PaymeConfig.from_env(env)
    click = Settings.from_env(env)
    return {
        "payme": (payme.apartment_min_tiyin, payme.apartment_max_tiyin),
        "click": (click.apartment_min_tiyin, click.apartment_max_tiyin),
    }


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
def test_both_providers_read_the_same_limits(env: dict[str, str], expected: tuple[int, int]) -> None:
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
    with pytest.raises(ValidationError):
        PaymeConfig.from_env(env)
    with pytest.raises(ValidationError):
        Settings.from_env(env)


@pytest.mark.parametrize("function", ["PaymeMerchantFunction", "ClickShopFunction"])
def test_the_template_sets_the_neutral_limits_for_both_functions(
    local_config: dict[str, str], function: str
) -> None:
    env = function_environment(function, local_config)
    assert (env["APARTMENT_MIN_TIYIN"], env["APARTMENT_MAX_TIYIN"]) == ("100000", "5000000000")
    assert "PAYME_APARTMENT_MIN_TIYIN" not in env and "PAYME_APARTMENT_MAX_TIYIN" not in env
