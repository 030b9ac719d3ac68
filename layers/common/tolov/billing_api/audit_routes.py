"""The audit trail's routes: what support reads in a dispute with a provider, oldest first."""

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from tolov.billing.invoices import Billing
from tolov.billing_api.resident_schemas import Id
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from tolov.audit.trail import AuditRow, AuditTrail

IdPath = Annotated[Id, Path()]
Provider = Annotated[Literal["payme", "click"], Path()]


def _entries(rows: "list[AuditRow]") -> list[dict[str, Any]]:
    return [row.view() for row in rows]


def audit_router(trail: "Wiring[AuditTrail]", billing: Billing) -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    @router.get("/invoices/<invoice_id>/audit")
    def invoice_audit(invoice_id: IdPath) -> dict[str, Any]:
        billing.get_invoice(invoice_id)  # InvoiceNotFound -> 404
        return {"invoice_id": invoice_id, "entries": _entries(trail.get().of_invoice(invoice_id))}

    @router.get("/apartments/<apartment_id>/audit")
    def apartment_audit(apartment_id: IdPath) -> dict[str, Any]:
        invoices = billing.invoice_ids(apartment_id)  # ApartmentNotFound -> 404
        rows = trail.get().of_apartment(apartment_id, invoices)
        return {"apartment_id": apartment_id, "entries": _entries(rows)}

    @router.get("/transactions/<provider>/<transaction_id>/audit")
    def transaction_audit(provider: Provider, transaction_id: IdPath) -> dict[str, Any]:
        rows = trail.get().of_transaction(provider, transaction_id)
        return {"provider": provider, "transaction_id": transaction_id, "entries": _entries(rows)}

    return router
