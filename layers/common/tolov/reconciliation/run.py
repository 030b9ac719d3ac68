"""One reconciliation of one Tashkent day: stuck states resolved, the report built, kept (JSON and CSV),
and on any mismatch a metric and a `reconciliation.mismatch` event. Safe to repeat: the same data give
the same report, written over the earlier one; a stuck state resolved once is not found again."""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from tolov.billing.keys import PaymentKey
from tolov.click.attempt import TxState
from tolov.clock import Clock, now_ms
from tolov.events.changes import DomainEvent, iso_time
from tolov.observability import logger, metrics
from tolov.payme.transaction import CANCELLED_AFTER_PERFORM, PERFORMED, Transaction
from tolov.reconciliation import report
from tolov.reconciliation.dynamo import ClickRow, Posted
from tolov.reconciliation.stuck import DAY_MS, Resolver

MISMATCH = "reconciliation.mismatch"
PAID_RECEIPT = 4
LISTED_KEYS = 50  # payment keys an event names at most; the report has them all


class Ledger(Protocol):
    def payme_created(self, start: int, end: int) -> list[Transaction]: ...

    def click_prepared(self, start: int, end: int) -> list[ClickRow]: ...

    def postings(self, keys: Any) -> dict[str, Posted]: ...

    def posted_on(self, day: date) -> dict[str, Posted]: ...

    def payme(self, payme_id: str) -> Transaction | None: ...

    def click(self, click_trans_id: str) -> ClickRow | None: ...


class Receipts(Protocol):
    def receipts_get(self, receipt_id: str) -> Any: ...


class Bus(Protocol):
    """tolov.events.bus.EventBus: a mismatch is a finding of a run, no table's change, so it goes out
    through the bus module directly rather than through a table's stream."""

    def put(self, events: Sequence[DomainEvent]) -> None: ...


class Reports(Protocol):
    def put(self, day: str, fmt: str, body: str) -> None: ...

    def get(self, day: str, fmt: str) -> str | None: ...


@dataclass
class Reconciliation:
    sources: Ledger
    resolver: Resolver
    reports: Reports
    events: Bus
    receipts: Callable[[], Receipts]
    clock: Clock = now_ms

    def run(self, day: date) -> dict[str, Any]:
        now = self.clock()
        findings = self.resolver.run(now, day)
        resolved = [f for f in findings if f.resolved]
        left = [f.view() for f in findings if not f.resolved]
        start, end = report.day_bounds(day)
        # Payme: created up to a day before (its 12 h time-out, with room); Click: Prepared that day or the
        # day before (a Complete comes within minutes).
        payme = report.payme_payments(self.sources.payme_created(start - DAY_MS, end), start, end)
        click = report.click_payments(self.sources.click_prepared(start - DAY_MS, end), start, end)
        payments = payme + click
        postings = self.sources.postings(p.payment_key for p in payments)
        named = {p.payment_key for p in payments}
        unnamed = {k: v for k, v in self.sources.posted_on(day).items() if k not in named}
        extra, unexplained = self._ledger_only(unnamed)
        postings.update({p.payment_key: unnamed[p.payment_key] for p in extra})
        built = report.build(day, payments + extra, postings, left, unexplained)
        self.reports.put(day.isoformat(), "json", json.dumps(built, indent=2, sort_keys=True))
        self.reports.put(day.isoformat(), "csv", report.to_csv(built))
        self._measure(built, len(findings), len(resolved))
        return built

    def _ledger_only(self, posted: dict[str, Posted]) -> tuple[list[report.Payment], list[dict[str, Any]]]:
        """The day's postings no provider payment of the day names: a payment completed the day before
        and posted after midnight (fine), an autopay receipt the charger posted before any Merchant API
        call (a payment of the day, proven by receipts.get), or a posting without a completed payment."""
        extra: list[report.Payment] = []
        unexplained: list[dict[str, Any]] = []
        for key, posting in sorted(posted.items()):
            parsed = PaymentKey.parse(key)
            why = "posted without a payment the provider completed"
            if parsed.provider == "payme":
                tx = self.sources.payme(parsed.external_id)
                if tx is not None and tx.state in (PERFORMED, CANCELLED_AFTER_PERFORM):
                    continue  # performed on another day, posted on this one
                if tx is None:
                    receipt = self._receipt(parsed.external_id)
                    if receipt is not None and receipt.state == PAID_RECEIPT:
                        extra.append(
                            report.Payment(
                                "payme",
                                receipt.id,
                                key,
                                "receipt 4",
                                int(receipt.amount),
                                int(receipt.pay_time) or posting.posted_at,
                            )
                        )
                        continue
            elif parsed.provider == "click":
                row = self.sources.click(parsed.external_id)
                if row is not None and row.tx.state is TxState.CONFIRMED:
                    continue  # confirmed on another day, posted on this one
            unexplained.append(
                {
                    "provider": parsed.provider,
                    "payment_key": key,
                    "amount": 0,
                    "ledger_amount": posting.amount,
                    "why": why,
                }
            )
        return extra, unexplained

    def _receipt(self, receipt_id: str) -> Any:
        try:
            return self.receipts().receipts_get(receipt_id)
        except Exception:  # not a receipt, or Payme not answering: the posting stays unexplained
            return None

    def _measure(self, built: dict[str, Any], found: int, resolved: int) -> None:
        mismatches = built["mismatches"]
        metrics.add_metric(name="ReconciliationMismatches", unit=MetricUnit.Count, value=len(mismatches))
        metrics.add_metric(name="StuckStatesFound", unit=MetricUnit.Count, value=found)
        metrics.add_metric(name="StuckStatesResolved", unit=MetricUnit.Count, value=resolved)
        metrics.add_metric(name="StuckStatesLeft", unit=MetricUnit.Count, value=found - resolved)
        summary = {
            "date": built["date"],
            "mismatches": len(mismatches),
            "stuck_found": found,
            "stuck_resolved": resolved,
            "totals": built["totals"],
        }
        if not mismatches:
            logger.info("reconciliation matches the ledger", extra=summary)
            return
        logger.error("reconciliation mismatch", extra=summary)
        try:
            self.events.put(mismatch_events(built, self.clock()))
        except Exception:  # the metric and the report stand; the alarm is on the metric
            metrics.add_metric(name="ReconciliationEventFailed", unit=MetricUnit.Count, value=1)
            logger.exception("reconciliation.mismatch not published")

    def report(self, day: date, fmt: str) -> str | None:
        return self.reports.get(day.isoformat(), fmt)


def yesterday(now: int) -> date:
    """The day a scheduled run reconciles: the Tashkent day before the run."""
    from tolov.clock import tashkent_date

    return tashkent_date(now) - timedelta(days=1)


def mismatch_events(built: dict[str, Any], now: int) -> list[DomainEvent]:
    """One reconciliation.mismatch per provider with mismatches on the day. Its id names the day, the
    provider and what disagrees, so a repeated run over the same data gives the same id (consumers
    dedupe); amount is how far the provider's total and the ledger's are apart, in tiyin."""
    found: list[DomainEvent] = []
    for provider, total in sorted(built["providers"].items()):
        if not total["mismatches"]:
            continue
        mine = [m for m in built["mismatches"] if m["provider"] == provider]
        digest = hashlib.sha256(json.dumps(mine, sort_keys=True).encode()).hexdigest()[:16]
        detail = {
            "event_id": f"{MISMATCH}:{built['date']}:{provider}:{digest}",
            "type": MISMATCH,
            "provider": provider,
            "amount": abs(total["amount"] - total["ledger_amount"] - total["unposted_amount"]),
            "time": iso_time(now),
            "date": built["date"],
            "mismatches": total["mismatches"],
            "payment_keys": [m["payment_key"] for m in mine if m["payment_key"]][:LISTED_KEYS],
        }
        found.append(DomainEvent(MISMATCH, detail))
    return found
