"""A Click request's lines name Click's transaction; a bad signature counts the alarmed ClickSignFailed."""

import json
from collections.abc import Iterator

import pytest

from tests.click_support import ClickStack, click_stack, prepare_form


@pytest.fixture
def stack(aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ClickStack]:
    with click_stack(local_config, monkeypatch) as running:
        yield running


def test_a_bad_signature_counts_click_sign_failed_with_the_service_dimension_only(
    stack: ClickStack, capfd: pytest.CaptureFixture[str]
) -> None:
    invoice_id = stack.invoice(1_500_000)
    capfd.readouterr()
    assert stack.prepare(prepare_form("7100000001", invoice_id, "15000", bad_sign=True))["error"] == -1
    out = capfd.readouterr().out
    [blob] = [json.loads(line) for line in out.splitlines() if "ClickSignFailed" in line]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert stack.prepare(prepare_form("7100000002", invoice_id, "15000"))["error"] == 0
    assert "ClickSignFailed" not in capfd.readouterr().out


def test_the_reply_line_names_clicks_transaction(stack: ClickStack) -> None:
    from tolov.observability import logger

    invoice_id = stack.invoice(1_500_000)
    stack.prepare(prepare_form("7100000003", invoice_id, "15000"))
    # What correlate() put on the logger for the rest of that request.
    assert logger.get_current_keys().get("click_trans_id") == "7100000003"
    assert logger.get_current_keys().get("merchant_trans_id") == invoice_id
