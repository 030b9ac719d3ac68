"""Recording at the provider gateways and reading for support.

A row is written synchronously, after the reply is decided and before it is returned: Lambda freezes a
container once the handler returns, so work left for later may never run, and a queue in between would be
one more synchronous call. The write is bounded (1 s timeouts, no retries, store/audit_models.AuditRecord) and
any failure of it is logged and counted (AuditWriteFailed), never raised: the protocol answer is the same
with or without it.
"""

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from tolov.audit.masking import mask
from tolov.clock import Clock, now_ms
from tolov.observability import logger, metrics

DAY_SECONDS = 86_400


class AuditEntry(NamedTuple):
    """One provider request and our reply, masked on construction by record()."""

    provider: str
    operation: str
    request: Any
    reply: Any
    error_code: int | None = None
    transaction_id: str | None = None
    invoice_id: str | None = None
    apartment_id: str | None = None
    account_ref: str | None = None
    source_ip: str | None = None


class AuditRow(NamedTuple):
    audit_id: str
    at: int
    expires_at: int
    entry: AuditEntry

    @property
    def tx_key(self) -> str | None:
        if self.entry.transaction_id is None:
            return None
        return f"{self.entry.provider}#{self.entry.transaction_id}"

    def view(self) -> dict[str, Any]:
        e = self.entry
        return {
            "audit_id": self.audit_id,
            "at": self.at,
            "provider": e.provider,
            "operation": e.operation,
            "transaction_id": e.transaction_id,
            "invoice_id": e.invoice_id,
            "apartment_id": e.apartment_id,
            "account": e.account_ref,
            "error_code": e.error_code,
            "source_ip": e.source_ip,
            "request": e.request,
            "reply": e.reply,
            "expires_at": self.expires_at,
        }


class AuditStore(Protocol):
    def put(self, row: AuditRow) -> None: ...

    def by_invoice(self, invoice_id: str) -> list[AuditRow]: ...

    def by_apartment(self, apartment_id: str) -> list[AuditRow]: ...

    def by_transaction(self, provider: str, transaction_id: str) -> list[AuditRow]: ...


def parse_json(body: str | bytes | None) -> Any:
    """A request body as JSON when it is JSON, else its text (masked like any string)."""
    if body is None:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except ValueError:
        return text


def _new_id() -> str:
    return uuid.uuid4().hex


class AuditTrail:
    def __init__(
        self,
        store: AuditStore,
        ttl_days: int = 180,
        clock: Clock = now_ms,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.store = store
        self.ttl_days = ttl_days
        self.clock = clock
        self.new_id = new_id

    def record(self, entry: AuditEntry) -> bool:
        """Keep one exchange; False (logged, counted) when it could not be kept. Never raises."""
        try:
            at = self.clock()
            masked = entry._replace(request=mask(entry.request), reply=mask(entry.reply))
            row = AuditRow(f"{at:013d}#{self.new_id()}", at, at // 1000 + self.ttl_days * DAY_SECONDS, masked)
            self.store.put(row)
            return True
        except Exception as failure:
            metrics.add_metric(name="AuditWriteFailed", unit=MetricUnit.Count, value=1)
            logger.warning(
                "audit row not written; the reply goes out unchanged",
                extra={
                    "provider": entry.provider,
                    "operation": entry.operation,
                    "failure": type(failure).__name__,
                },
            )
            return False

    # ------------------------------------------------------------------ reading (support)
    def of_transaction(self, provider: str, transaction_id: str) -> list[AuditRow]:
        return _oldest_first(self.store.by_transaction(provider, transaction_id))

    def of_invoice(self, invoice_id: str) -> list[AuditRow]:
        """What named the invoice, and everything under the transactions those rows name (Payme's
        Perform/Cancel/CheckTransaction carry only the transaction id)."""
        return self._with_transactions(self.store.by_invoice(invoice_id))

    def of_apartment(self, apartment_id: str, invoice_ids: Iterable[str] = ()) -> list[AuditRow]:
        """Top-ups of the apartment and the payments of its invoices."""
        rows = list(self.store.by_apartment(apartment_id))
        for invoice_id in invoice_ids:
            rows.extend(self.store.by_invoice(invoice_id))
        return self._with_transactions(rows)

    def _with_transactions(self, rows: list[AuditRow]) -> list[AuditRow]:
        seen = {(r.entry.provider, r.entry.transaction_id) for r in rows if r.entry.transaction_id}
        for provider, transaction_id in sorted(seen):
            rows.extend(self.store.by_transaction(provider, str(transaction_id)))
        return _oldest_first(rows)


class _Built(Protocol):
    def get(self) -> AuditTrail: ...


def keep(trail: _Built | None, entry: Callable[[], AuditEntry]) -> None:
    """What a gateway calls once its reply is decided: builds the entry and records it; whatever fails
    (the trail's wiring, reading the request, the write) is logged and counted, never raised."""
    if trail is None:
        return
    try:
        made = entry()
        recorder = trail.get()
    except Exception as failure:
        metrics.add_metric(name="AuditWriteFailed", unit=MetricUnit.Count, value=1)
        logger.warning("audit row not written", extra={"failure": type(failure).__name__})
        return
    recorder.record(made)


def _oldest_first(rows: Iterable[AuditRow]) -> list[AuditRow]:
    unique = {row.audit_id: row for row in rows}
    return [unique[key] for key in sorted(unique)]
