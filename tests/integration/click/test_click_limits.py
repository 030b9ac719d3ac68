"""ClickShopFunction reads the apartment top-up limits Payme reads (template Globals, neutral names)."""

import pytest

from tests.click_support import click_stack, next_trans_id, prepare_form


def test_the_template_limits_apply_to_click(
    aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with click_stack(local_config, monkeypatch) as stack:
        account = stack.apartment()
        tiny = stack.prepare(prepare_form(next_trans_id(), account, "0.01"))
        assert (tiny["error"], tiny["merchant_prepare_id"]) == (-2, None)
        assert stack.prepare(prepare_form(next_trans_id(), account, "1000.00"))["error"] == 0


@pytest.mark.parametrize("name", ["APARTMENT_MIN_TIYIN", "PAYME_APARTMENT_MIN_TIYIN"])
def test_configured_limits_apply_to_click(
    aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # The old name counts when the neutral one is absent.
    unset = ["APARTMENT_MIN_TIYIN"] if name.startswith("PAYME_") else []
    with click_stack(local_config, monkeypatch, unset=unset, **{name: "1"}) as stack:
        account = stack.apartment()
        assert stack.prepare(prepare_form(next_trans_id(), account, "0.01"))["error"] == 0
        assert stack.prepare(prepare_form(next_trans_id(), account, "50000000.01"))["error"] == -2
