"""template.yaml settings every function shares (Globals)."""

import pytest

from local.template import function_environment


@pytest.mark.parametrize("function", ["PaymeMerchantFunction", "ClickShopFunction"])
def test_the_template_sets_the_neutral_limits_for_both_functions(
    local_config: dict[str, str], function: str
) -> None:
    env = function_environment(function, local_config)
    assert (env["APARTMENT_MIN_TIYIN"], env["APARTMENT_MAX_TIYIN"]) == ("100000", "5000000000")
    assert "PAYME_APARTMENT_MIN_TIYIN" not in env and "PAYME_APARTMENT_MAX_TIYIN" not in env
