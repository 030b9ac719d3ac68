"""Reconciliation on moto: stuck states found through the indexes and resolved by what the providers'
status APIs say (fakes of receipts.check and payment/status here; the simulators over HTTP in e2e), the
day's report kept in S3 as JSON and CSV, and a mismatch raising a metric and an event."""

import json
from datetime import date
from typing import Any

from tests.click_support import metric_names
from tests.event_schemas import validate
from tests.payme_harness import HOUR, T0, TIMEOUT, Clock, Harness, harness, water
from tests.recon_support import Rig, autopay_in_flight, click_row, rig
from tolov.click.attempt import TxState
from tolov.click.dynamo import DynamoClickRepository
from tolov.clock import tashkent_date
from tolov.observability import metrics
from tolov.store.models import Posting

__all__ = ["harness", "rig"]  # the fixtures


def today(clock: Clock) -> date:
    return tashkent_date(clock.now)


def test_stuck_payme_transactions_past_12_hours_are_cancelled_by_payme_s_rule(
    harness: Harness, rig: Rig
) -> None:
    invoice_id, amount = harness.invoice(water())
    harness.apartment("apt-1")
    assert harness.create("a" * 24, amount, {"order_id": invoice_id})["result"]["state"] == 1
    assert harness.create("b" * 24, 500_000, {"apartment_id": "apt-1"})["result"]["state"] == 1
    assert harness.create("c" * 24, 500_000, {"apartment_id": "apt-1"})["result"]["state"] == 1
    rig.receipts.states["b" * 24] = 2  # a Subscribe receipt still debiting: left alone
    rig.receipts.states["c" * 24] = 50
    rig.clock.advance(HOUR)
    report = rig.reconciliation.run(today(rig.clock))
    assert report["stuck"] == []  # not 12 hours yet: nothing is stuck
    rig.clock.advance(TIMEOUT)
    report = rig.reconciliation.run(today(rig.clock))
    assert [(s["transaction_id"], s["resolved"]) for s in report["stuck"]] == [("b" * 24, False)]
    assert harness.repo.get("a" * 24).state == -1 and harness.repo.get("a" * 24).reason == 4
    assert harness.repo.get("c" * 24).state == -1
    assert harness.repo.get("b" * 24).state == 1
    # The invoice's reservation went with the cancel: a new payment may take it.
    assert harness.create("d" * 24, amount, {"order_id": invoice_id})["result"]["state"] == 1


def test_click_prepares_and_unposted_payments_resolved_by_payment_status(harness: Harness, rig: Rig) -> None:
    harness.apartment("apt-1")
    now = rig.clock.now
    click_row("100", TxState.PREPARED, now - 2 * HOUR)  # declined at Click
    click_row("101", TxState.PREPARED, now - 2 * HOUR)  # unknown at Click
    click_row("102", TxState.PREPARED, now - 2 * HOUR)  # paid at Click, no Complete: left for a person
    click_row("103", TxState.PREPARED, now - 10 * 60_000)  # ten minutes old: not stuck yet
    click_row("104", TxState.CONFIRMED_UNPOSTED, now - 3 * HOUR, confirmed=now - 3 * HOUR)  # still paid
    click_row("105", TxState.CONFIRMED_UNPOSTED, now - 3 * HOUR, confirmed=now - 3 * HOUR)  # reversed
    rig.click.statuses.update({1100: -1, 1102: 2, 1104: 2, 1105: -99})
    report = rig.reconciliation.run(today(rig.clock))
    store = DynamoClickRepository()
    assert store.get("100").state is TxState.CANCELLED and store.get("101").state is TxState.CANCELLED
    assert store.get("102").state is TxState.PREPARED and store.get("103").state is TxState.PREPARED
    assert store.get("105").state is TxState.REVERSED
    assert [r.click_trans_id for r in rig.out.reversals] == ["104"]
    left = {s["transaction_id"]: s["kind"] for s in report["stuck"]}
    assert left == {"102": "click_prepared", "104": "click_confirmed_unposted"}


def test_autopay_receipts_in_flight_found_through_the_due_index(harness: Harness, rig: Rig) -> None:
    run_day = today(rig.clock)
    for autopay_id, receipt_id in (("ap-paid", "r" * 24), ("ap-flying", "f" * 24)):
        autopay_in_flight(autopay_id, receipt_id, run_day, T0)
    rig.receipts.states.update({"r" * 24: 4, "f" * 24: 2})
    report = rig.reconciliation.run(run_day)
    assert rig.out.charges == [
        {"autopay_id": "ap-paid", "period": "2026-09", "run_date": run_day.isoformat()}
    ]
    assert [(s["kind"], s["transaction_id"]) for s in report["stuck"]] == [("autopay_in_flight", "f" * 24)]


def test_the_report_matches_the_ledger_is_kept_in_s3_and_safe_to_repeat(harness: Harness, rig: Rig) -> None:
    harness.apartment("apt-1")
    assert harness.create("e" * 24, 500_000, {"apartment_id": "apt-1"})["result"]["state"] == 1
    harness.result("PerformTransaction", {"id": "e" * 24})
    day = today(rig.clock)
    first = rig.reconciliation.run(day)
    assert first["matches"] is True and first["mismatches"] == []
    assert first["providers"]["payme"] == {
        "payments": 1,
        "amount": 500_000,
        "ledger_amount": 500_000,
        "unposted_amount": 0,
        "mismatches": 0,
    }
    stored = rig.reconciliation.report(day, "json")
    assert stored is not None and json.loads(stored) == first
    csv_text = rig.reconciliation.report(day, "csv")
    assert (
        csv_text is not None
        and f"payment,payme,{'e' * 24},payme#{'e' * 24},2,500000,500000,posted" in csv_text
    )
    assert rig.out.events == []
    assert rig.reconciliation.run(day) == first
    assert rig.reconciliation.report(date(2020, 1, 1), "json") is None


def test_a_mismatch_raises_the_metric_and_the_event(harness: Harness, rig: Rig, capsys: Any) -> None:
    harness.apartment("apt-1")
    assert harness.create("f" * 24, 500_000, {"apartment_id": "apt-1"})["result"]["state"] == 1
    harness.result("PerformTransaction", {"id": "f" * 24})
    posting = Posting.get(f"payme#{'f' * 24}")
    posting.update(actions=[Posting.amount.set(400_000)])  # the ledger disagrees with Payme
    click_row("200", TxState.CONFIRMED, rig.clock.now - HOUR, confirmed=rig.clock.now - HOUR)  # no posting
    capsys.readouterr()
    report = rig.reconciliation.run(today(rig.clock))
    metrics.flush_metrics()
    assert "ReconciliationMismatches" in metric_names(capsys.readouterr().out)
    assert report["matches"] is False
    assert {m["payment_key"] for m in report["mismatches"]} == {f"payme#{'f' * 24}", "click#200"}
    # One event per provider with mismatches, each valid against docs/events, its id the same on a repeat.
    click, payme = rig.out.events
    for event in (click, payme):
        assert event.type == "reconciliation.mismatch" and event.detail["mismatches"] == 1
        validate(event.detail)
    assert (payme.detail["provider"], payme.detail["amount"]) == ("payme", 100_000)
    assert payme.detail["payment_keys"] == [f"payme#{'f' * 24}"]
    assert (click.detail["provider"], click.detail["payment_keys"]) == ("click", ["click#200"])
    rig.reconciliation.run(today(rig.clock))
    assert [e.event_id for e in rig.out.events[2:]] == [click.event_id, payme.event_id]


def test_postings_without_a_payment_of_the_day_are_explained_or_mismatched(
    harness: Harness, rig: Rig
) -> None:
    """The ledger side: the day's postings through PostingsTable's by_day index. A posting under a Subscribe
    receipt the charger posted before any Merchant API call is proven by receipts.get; one without any
    completed payment behind it is a mismatch."""
    from tolov.billing.keys import PaymentKey
    from tolov.billing.ledger import Ledger

    harness.apartment("apt-1")
    ledger = Ledger(harness.clock)
    ledger.post_to_apartment(PaymentKey("payme", "9" * 24), "apt-1", 700_000)  # the charger's receipt
    ledger.post_to_apartment(PaymentKey("click", "999"), "apt-1", 300_000)  # no Click attempt at all
    rig.receipts.states["9" * 24] = 4
    rig.receipts.amounts["9" * 24] = 700_000
    report = rig.reconciliation.run(today(rig.clock))
    keys = {p["payment_key"]: p["ledger"] for p in report["payments"]}
    assert keys == {f"payme#{'9' * 24}": "posted"}
    assert [(m["payment_key"], m["ledger_amount"]) for m in report["mismatches"]] == [("click#999", 300_000)]
    assert report["providers"]["click"]["ledger_amount"] == 300_000 and report["matches"] is False
