"""The audit trail's rows in AuditTable (store/audit_models.AuditRecord): reads and writes only."""

from typing import Any

from tolov.audit.trail import AuditEntry, AuditRow, AuditTrail
from tolov.settings import Settings
from tolov.store.audit_models import AuditRecord
from tolov.store.models import connect

PAGE = 500  # rows one lookup returns at most: a dispute reads one payment's history, not a year's


class DynamoAuditStore:
    def put(self, row: AuditRow) -> None:
        e = row.entry
        AuditRecord(
            row.audit_id,
            provider=e.provider,
            operation=e.operation,
            at=row.at,
            request=e.request,
            reply=e.reply,
            error_code=e.error_code,
            source_ip=e.source_ip,
            tx_key=row.tx_key,
            invoice_id=e.invoice_id,
            apartment_id=e.apartment_id,
            account_ref=e.account_ref,
            expires_at=row.expires_at,
        ).save()

    def by_invoice(self, invoice_id: str) -> list[AuditRow]:
        return _rows(AuditRecord.by_invoice.query(invoice_id, limit=PAGE))

    def by_apartment(self, apartment_id: str) -> list[AuditRow]:
        return _rows(AuditRecord.by_apartment.query(apartment_id, limit=PAGE))

    def by_transaction(self, provider: str, transaction_id: str) -> list[AuditRow]:
        return _rows(AuditRecord.by_transaction.query(f"{provider}#{transaction_id}", limit=PAGE))


def _rows(records: Any) -> list[AuditRow]:
    return [_row(r) for r in records]


def _row(record: AuditRecord) -> AuditRow:
    transaction_id = None
    if record.tx_key:
        transaction_id = record.tx_key.removeprefix(f"{record.provider}#")
    entry = AuditEntry(
        provider=record.provider,
        operation=record.operation,
        request=record.request,
        reply=record.reply,
        error_code=None if record.error_code is None else int(record.error_code),
        transaction_id=transaction_id,
        invoice_id=record.invoice_id,
        apartment_id=record.apartment_id,
        account_ref=record.account_ref,
        source_ip=record.source_ip,
    )
    return AuditRow(record.audit_id, int(record.at), int(record.expires_at), entry)


def build_trail(settings: Settings) -> AuditTrail:
    connect()  # the DynamoDB client, at init rather than on the first request
    return AuditTrail(DynamoAuditStore(), ttl_days=settings.ops.audit_ttl_days)
