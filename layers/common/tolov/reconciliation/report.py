"""The day's payments per provider, and their totals checked against the ledger's postings.

A payment is what a provider completed that Tashkent day: a Payme transaction performed (state 2, or -2
if refunded since), a Click attempt confirmed (confirmed, or confirmed_unposted/reversed when the ledger
refused it). Per provider, `amount` (what the provider took) must equal `ledger_amount` (what was posted
under the payments' keys) plus `unposted_amount` (debited, refused by the ledger, refunded through
Click's reversal); per payment, the posting must exist with the same amount, reversed exactly when the
provider refunded it; and every posting of the day must have a provider's payment behind it. Anything
else is a mismatch.
"""

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from tolov.click.attempt import TxState
from tolov.clock import TASHKENT
from tolov.payme.transaction import CANCELLED_AFTER_PERFORM, PERFORMED, Transaction
from tolov.reconciliation.dynamo import ClickRow, Posted

PROVIDERS = ("payme", "click")
CSV_FIELDS = (
    "row",
    "provider",
    "transaction_id",
    "payment_key",
    "state",
    "amount",
    "ledger_amount",
    "ledger",
    "completed_at",
)


def day_bounds(day: date) -> tuple[int, int]:
    """The Tashkent day as [start, end] in ms UTC."""
    start = datetime(day.year, day.month, day.day, tzinfo=TASHKENT)
    end = start + timedelta(days=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000) - 1


class Payment(NamedTuple):
    provider: str
    transaction_id: str
    payment_key: str
    state: str
    amount: int
    completed_at: int
    refunded: bool = False  # the provider refunded it (Payme -2): its posting must be reversed
    posted_expected: bool = True  # False: the ledger refused it and Click's reversal refunds it


def payme_payments(txs: Sequence[Transaction], start: int, end: int) -> list[Payment]:
    return [
        Payment(
            "payme",
            tx.id,
            f"payme#{tx.id}",
            str(tx.state),
            tx.amount,
            tx.perform_time,
            refunded=tx.state == CANCELLED_AFTER_PERFORM,
        )
        for tx in txs
        if tx.state in (PERFORMED, CANCELLED_AFTER_PERFORM) and start <= tx.perform_time <= end
    ]


def click_payments(rows: Sequence[ClickRow], start: int, end: int) -> list[Payment]:
    debited = (TxState.CONFIRMED, TxState.CONFIRMED_UNPOSTED, TxState.REVERSED)
    return [
        Payment(
            "click",
            r.tx.click_trans_id,
            r.tx.payment_key,
            r.tx.state.value,
            r.tx.amount,
            r.confirmed_at,
            posted_expected=r.tx.state is TxState.CONFIRMED,
        )
        for r in rows
        if r.tx.state in debited and r.confirmed_at is not None and start <= r.confirmed_at <= end
    ]


def _check(payment: Payment, posted: Posted | None) -> tuple[str, str | None]:
    """(what the ledger holds, why it does not match or None)."""
    if not payment.posted_expected:
        if posted is not None and not posted.reversed:
            return "posted", "posted although the ledger refused it and a reversal refunds it"
        return "unposted", None
    if posted is None:
        return "missing", "completed at the provider, no posting in the ledger"
    if posted.amount != payment.amount:
        return "posted", f"posting of {posted.amount} tiyin, the provider took {payment.amount}"
    if payment.refunded and not posted.reversed:
        return "posted", "refunded at the provider, posting not reversed"
    if posted.reversed and not payment.refunded:
        return "reversed", "posting reversed, the provider shows it completed"
    return ("reversed" if posted.reversed else "posted"), None


def build(
    day: date,
    payments: Sequence[Payment],
    postings: Mapping[str, Posted],
    stuck: Sequence[Mapping[str, Any]] = (),
    ledger_only: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    totals = {
        p: {"payments": 0, "amount": 0, "ledger_amount": 0, "unposted_amount": 0, "mismatches": 0}
        for p in PROVIDERS
    }
    lines: list[dict[str, Any]] = []
    mismatches: list[dict[str, Any]] = []
    for payment in sorted(payments, key=lambda p: (p.provider, p.completed_at, p.transaction_id)):
        posted = postings.get(payment.payment_key)
        ledger, why = _check(payment, posted)
        ledger_amount = posted.amount if posted is not None else 0
        total = totals[payment.provider]
        total["payments"] += 1
        total["amount"] += payment.amount
        total["ledger_amount"] += ledger_amount
        if not payment.posted_expected:
            total["unposted_amount"] += payment.amount
        lines.append(
            {
                "provider": payment.provider,
                "transaction_id": payment.transaction_id,
                "payment_key": payment.payment_key,
                "state": payment.state,
                "amount": payment.amount,
                "ledger_amount": ledger_amount,
                "ledger": ledger,
                "completed_at": payment.completed_at,
            }
        )
        if why is not None:
            total["mismatches"] += 1
            mismatches.append(
                {
                    "provider": payment.provider,
                    "payment_key": payment.payment_key,
                    "amount": payment.amount,
                    "ledger_amount": ledger_amount,
                    "why": why,
                }
            )
    for orphan in ledger_only:  # posted that day, no payment of a provider behind it
        if orphan["provider"] in totals:
            totals[orphan["provider"]]["ledger_amount"] += orphan["ledger_amount"]
            totals[orphan["provider"]]["mismatches"] += 1
        mismatches.append(dict(orphan))
    for provider, total in totals.items():
        if total["amount"] != total["ledger_amount"] + total["unposted_amount"] and not total["mismatches"]:
            total["mismatches"] += 1
            mismatches.append(
                {
                    "provider": provider,
                    "payment_key": None,
                    "amount": total["amount"],
                    "ledger_amount": total["ledger_amount"],
                    "why": "totals differ",
                }
            )
    return {
        "date": day.isoformat(),
        "timezone": "Asia/Tashkent",
        "providers": totals,
        "totals": {
            k: sum(t[k] for t in totals.values())
            for k in ("payments", "amount", "ledger_amount", "unposted_amount", "mismatches")
        },
        "matches": not mismatches,
        "mismatches": mismatches,
        "payments": lines,
        "stuck": list(stuck),
    }


def to_csv(report: Mapping[str, Any]) -> str:
    """One line per payment, then one total line per provider (amounts in tiyin)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for line in report["payments"]:
        writer.writerow({"row": "payment", **line})
    for provider, total in report["providers"].items():
        writer.writerow(
            {
                "row": "total",
                "provider": provider,
                "amount": total["amount"],
                "ledger_amount": total["ledger_amount"],
                "ledger": "matches" if not total["mismatches"] else f"{total['mismatches']} mismatches",
                "state": f"{total['payments']} payments",
            }
        )
    return out.getvalue()
