"""Billing API for the housing platform: apartments, invoices, balances. API Gateway checks the API key."""

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pynamodb.exceptions import PynamoDBConnectionError, TransactWriteError

from tolov.billing import errors
from tolov.billing.invoices import Billing, NewItem
from tolov.billing.links import invoice_links
from tolov.billing.schemas import (
    ApartmentIn,
    ApartmentOut,
    BalanceOut,
    Id,
    InvoiceIn,
    InvoiceOut,
    apartment_out,
    balance_out,
    invoice_out,
)
from tolov.settings import get_settings
from tolov.store.models import Invoice, Posting

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)
billing = Billing()

IdPath = Annotated[Id, Path()]


def _error(status: HTTPStatus, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message, **extra},
    )


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    details = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
            "error": e.get("msg", e.get("type")),
        }
        for e in error.errors()
    ]
    fields = ", ".join(d["field"] or "body" for d in details)
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, f"invalid field(s): {fields}", errors=details)


@app.exception_handler(errors.ApartmentNotFound)
def apartment_not_found(error: errors.ApartmentNotFound) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.NOT_FOUND, f"apartment {error} not found")


@app.exception_handler(errors.InvoiceNotFound)
def invoice_not_found(error: errors.InvoiceNotFound) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.NOT_FOUND, f"invoice {error} not found")


@app.exception_handler(errors.InvoiceBusy)
def invoice_busy(error: errors.InvoiceBusy) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.CONFLICT, f"invoice {error} is paid, partly paid or has a payment in progress")


@app.exception_handler(errors.InvoiceConflict)
def invoice_conflict(error: errors.InvoiceConflict) -> Response[dict[str, Any]]:
    details = [
        {"field": f"items.{i}.service", "error": f"{service} is already billed for {error.period}"}
        for i, service in error.taken.items()
    ]
    return _error(HTTPStatus.CONFLICT, str(error), invoice_id=error.invoice_id, errors=details)


@app.exception_handler(errors.LedgerContention)
def contention(error: errors.LedgerContention) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.SERVICE_UNAVAILABLE, "the ledger is busy, retry", errors=[])


@app.exception_handler([PynamoDBConnectionError, TransactWriteError])
def storage_unavailable(error: Exception) -> Response[dict[str, Any]]:
    # DynamoDB failed or its reply was lost: the write may have landed, and every write here is safe to
    # retry (a repeated invoice is recognised), so tell the platform to retry rather than crash with a 502.
    logger.exception("storage call failed")
    return _error(HTTPStatus.SERVICE_UNAVAILABLE, "storage is unavailable, retry", errors=[])


@app.get("/openapi.json")
def openapi() -> Response[str]:
    return Response(
        HTTPStatus.OK, content_types.APPLICATION_JSON, app.get_openapi_json_schema(title="tolov billing API")
    )


@app.put("/apartments/<apartment_id>")
def put_apartment(apartment_id: IdPath, body: Annotated[ApartmentIn, Body()]) -> Response[ApartmentOut]:
    apartment, created = billing.put_apartment(apartment_id, body.label, body.resident_id)
    status = HTTPStatus.CREATED if created else HTTPStatus.OK
    return Response(status, content_types.APPLICATION_JSON, apartment_out(apartment))


@app.get("/apartments/<apartment_id>/balance")
def get_balance(apartment_id: IdPath) -> BalanceOut:
    return balance_out(billing.balance(apartment_id))


@app.post("/invoices")
def create_invoice(body: Annotated[InvoiceIn, Body()]) -> Response[InvoiceOut]:
    items = [NewItem(**item.model_dump()) for item in body.items]
    due = body.due_date.isoformat() if body.due_date else None
    invoice, created = billing.put_invoice(body.apartment_id, body.period, items, due)
    if not created:  # the same invoice again: a retry gets the invoice as it stands now
        out = _invoice_out(invoice, billing.postings(invoice))
        return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, out)
    metrics.add_metric(name="InvoicesCreated", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="InvoicedTiyin", unit=MetricUnit.Count, value=int(invoice.amount))
    out = invoice_out(invoice, [], invoice_links(invoice, get_settings()))
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, out)


@app.get("/invoices/<invoice_id>")
def get_invoice(invoice_id: IdPath) -> InvoiceOut:
    return _invoice_out(*billing.get_invoice(invoice_id))


def _invoice_out(invoice: Invoice, postings: list[Posting]) -> InvoiceOut:
    return invoice_out(invoice, postings, invoice_links(invoice, get_settings()))


@app.post("/invoices/<invoice_id>/cancel")
def cancel_invoice(invoice_id: IdPath) -> InvoiceOut:
    invoice = billing.cancel_invoice(invoice_id)
    return invoice_out(invoice, [], None)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
