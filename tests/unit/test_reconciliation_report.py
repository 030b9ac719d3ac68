"""The report's totals and per-payment checks against the ledger, without AWS."""

from datetime import date

from tolov.reconciliation.dynamo import Posted
from tolov.reconciliation.report import Payment, build, day_bounds, to_csv

DAY = date(2026, 12, 1)


def pay(provider: str, tx: str, amount: int, **kw: bool) -> Payment:
    return Payment(provider, tx, f"{provider}#{tx}", "2", amount, 1_000, **kw)


def test_the_tashkent_day_is_19_00_utc_to_19_00_utc() -> None:
    start, end = day_bounds(DAY)
    assert start == 1_796_065_200_000  # 2026-11-30T19:00:00Z
    assert end - start == 86_400_000 - 1


def test_totals_per_provider_match_the_ledger() -> None:
    payments = [
        pay("payme", "a", 500_000),
        pay("payme", "b", 250_000),
        pay("click", "1", 1_500_000),
        pay("click", "2", 300_000, posted_expected=False),
    ]
    postings = {
        "payme#a": Posted(500_000, False),
        "payme#b": Posted(250_000, False),
        "click#1": Posted(1_500_000, False),
    }
    report = build(DAY, payments, postings)
    assert report["matches"] is True
    assert report["providers"]["payme"] == {
        "payments": 2,
        "amount": 750_000,
        "ledger_amount": 750_000,
        "unposted_amount": 0,
        "mismatches": 0,
    }
    assert report["providers"]["click"] == {
        "payments": 2,
        "amount": 1_800_000,
        "ledger_amount": 1_500_000,
        "unposted_amount": 300_000,
        "mismatches": 0,
    }
    assert report["totals"]["amount"] == 2_550_000 and report["totals"]["ledger_amount"] == 2_250_000


def test_every_kind_of_mismatch_is_named() -> None:
    payments = [
        pay("payme", "missing", 100_000),
        pay("payme", "less", 100_000),
        pay("payme", "refunded", 100_000, refunded=True),
        pay("click", "reversed", 100_000),
        pay("click", "refused", 100_000, posted_expected=False),
    ]
    postings = {
        "payme#less": Posted(90_000, False),
        "payme#refunded": Posted(100_000, False),
        "click#reversed": Posted(100_000, True),
        "click#refused": Posted(100_000, False),
    }
    report = build(DAY, payments, postings)
    why = {m["payment_key"]: m["why"] for m in report["mismatches"]}
    assert set(why) == {"payme#missing", "payme#less", "payme#refunded", "click#reversed", "click#refused"}
    assert "90000" in why["payme#less"] and "100000" in why["payme#less"]
    assert report["providers"]["payme"]["mismatches"] == 3 and report["matches"] is False


def test_nothing_paid_is_a_matching_empty_report() -> None:
    report = build(DAY, [], {})
    assert report["matches"] is True and report["totals"]["payments"] == 0
    assert to_csv(report).splitlines() == [
        "row,provider,transaction_id,payment_key,state,amount,ledger_amount,ledger,completed_at",
        "total,payme,,,0 payments,0,0,matches,",
        "total,click,,,0 payments,0,0,matches,",
    ]
