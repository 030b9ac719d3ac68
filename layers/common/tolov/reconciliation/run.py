"""One reconciliation of one Tashkent day: stuck states resolved, the report built, kept (JSON and CSV),
and on any mismatch a metric and a `reconciliation.mismatch` event. Safe to repeat: the same data give
the same report, written over the earlier one; a stuck state resolved once is not found again."""

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from tolov.autopay.events import Events
from tolov.clock import Clock, now_ms
from tolov.observability import logger, metrics
from tolov.payme.transaction import Transaction
from tolov.reconciliation import report
from tolov.reconciliation.dynamo import ClickRow, Posted
from tolov.reconciliation.stuck import DAY_MS, Resolver

SOURCE = "tolov.reconciliation"
MISMATCH = "reconciliation.mismatch"
LISTED_KEYS = 50  # payment keys an event names at most; the report has them all


class Ledger(Protocol):
    def payme_created(self, start: int, end: int) -> list[Transaction]: ...

    def click_prepared(self, start: int, end: int) -> list[ClickRow]: ...

    def postings(self, keys: Any) -> dict[str, Posted]: ...


class Reports(Protocol):
    def put(self, day: str, fmt: str, body: str) -> None: ...

    def get(self, day: str, fmt: str) -> str | None: ...


@dataclass
class Reconciliation:
    sources: Ledger
    resolver: Resolver
    reports: Reports
    events: Events
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
        built = report.build(day, payments, postings, left)
        self.reports.put(day.isoformat(), "json", json.dumps(built, indent=2, sort_keys=True))
        self.reports.put(day.isoformat(), "csv", report.to_csv(built))
        self._measure(built, len(findings), len(resolved))
        return built

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
        keys = [m["payment_key"] for m in mismatches if m["payment_key"]][:LISTED_KEYS]
        detail = {**summary, "providers": built["providers"], "payment_keys": keys}
        try:
            self.events.publish(MISMATCH, detail)
        except Exception:  # the metric and the report stand; the alarm is on the metric
            metrics.add_metric(name="ReconciliationEventFailed", unit=MetricUnit.Count, value=1)
            logger.exception("reconciliation.mismatch not published")

    def report(self, day: date, fmt: str) -> str | None:
        return self.reports.get(day.isoformat(), fmt)


def yesterday(now: int) -> date:
    """The day a scheduled run reconciles: the Tashkent day before the run."""
    from tolov.clock import tashkent_date

    return tashkent_date(now) - timedelta(days=1)
