"""Payme and Click on one invoice: a live attempt of one provider blocks the other; a stale one does not."""

import time

import pytest

from tests.click_support import click_stack, complete_form, metric_names, next_trans_id, prepare_form
from tests.payme_harness import Clock, make_harness
from tolov.billing.reservations import RESERVATION_TTL_MS
from tolov.store.models import Invoice


def age_reservation(invoice_id: str, ms: int) -> None:
    invoice = Invoice.get(invoice_id)
    invoice.update(actions=[Invoice.active_payment_at.set(int(invoice.active_payment_at) - ms)])


def test_an_abandoned_click_prepare_stops_blocking_payme_after_its_ttl(
    aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    payme = make_harness(Clock(time.time_ns() // 1_000_000))
    with click_stack(local_config, monkeypatch) as click:
        invoice_id = click.invoice(1_500_000)
        trans_id = next_trans_id()
        prepared = click.prepare(prepare_form(trans_id, invoice_id, "15000.00"))
        assert prepared["error"] == 0
        account = {"order_id": invoice_id}
        assert payme.create("p-1", 1_500_000, account)["error"]["code"] == -31008
        age_reservation(invoice_id, RESERVATION_TTL_MS["click"] + 1)
        payme.clock.now = time.time_ns() // 1_000_000
        created = payme.create("p-2", 1_500_000, account)
        assert created.get("result", {}).get("state") == 1, created
        assert Invoice.get(invoice_id).active_payment == "payme#p-2"
        # Click's late Complete finds its reservation gone: cancelled, -9, nothing posted.
        late = click.complete(
            complete_form(trans_id, invoice_id, "15000.00", prepared["merchant_prepare_id"])
        )
        assert late["error"] == -9
        assert payme.result("PerformTransaction", {"id": "p-2"})["state"] == 2
        assert Invoice.get(invoice_id).status == "paid"


def test_a_payme_transaction_blocks_click_until_payme_would_have_timed_it_out(
    aws: None,
    local_config: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payme = make_harness(Clock(time.time_ns() // 1_000_000))
    with click_stack(local_config, monkeypatch) as click:
        invoice_id = click.invoice(1_500_000)
        assert payme.create("p-1", 1_500_000, {"order_id": invoice_id})["result"]["state"] == 1
        blocked = click.prepare(prepare_form(next_trans_id(), invoice_id, "15000.00"))
        # -7, not -4 ("Already paid"): the invoice is not paid, another payment of it is in progress.
        assert blocked["error"] == -7
        assert blocked["error_note"] == "Another payment for this order is in progress"
        assert "ClickSystemError" not in metric_names(capsys.readouterr().out)  # a business answer
        age_reservation(invoice_id, RESERVATION_TTL_MS["payme"] + 1)
        assert click.prepare(prepare_form(next_trans_id(), invoice_id, "15000.00"))["error"] == 0
        assert payme.error("PerformTransaction", {"id": "p-1"})["code"] == -31008
        assert Invoice.get(invoice_id).status == "open"
