"""Billing API for the housing platform: apartments, invoices, balances. API Gateway checks the API key."""

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pynamodb.exceptions import PynamoDBConnectionError, TransactWriteError

from tolov.billing import errors
from tolov.billing.idempotency import HEADER as IDEMPOTENCY_KEY
from tolov.billing.idempotency import IdempotentPosts
from tolov.billing.invoices import Billing, NewItem
from tolov.billing.json_api import JsonResolver, MalformedBody
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
app = JsonResolver()
app.use(middlewares=[IdempotentPosts(get_settings().idempotency_table)])
billing = Billing()

IdPath = Annotated[Id, Path()]


def _error(
    status: HTTPStatus, message: str, *fields: tuple[str, str], **extra: Any
) -> Response[dict[str, Any]]:
    """The documented error shape: {"message", "errors": [{"field", "error"}], ...extra}."""
    details = [{"field": field, "error": error} for field, error in fields]
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message, "errors": details, **extra},
    )


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    details = [
        (".".join(str(p) for p in e.get("loc", ()) if p != "body"), str(e.get("msg", e.get("type"))))
        for e in error.errors()
    ]
    fields = ", ".join(field or "body" for field, _ in details)
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, f"invalid field(s): {fields}", *details)


@app.exception_handler(MalformedBody)
def malformed_body(error: MalformedBody) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.BAD_REQUEST, "the body must be UTF-8 JSON", ("body", str(error)))


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_content_type(error: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    reasons = [str(e.get("msg")) for e in error.errors()]
    return _error(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "the body must be application/json",
        *(("Content-Type", reason) for reason in reasons),
    )


@app.not_found
def route_not_found(error: NotFoundError) -> Response[dict[str, Any]]:
    event = app.current_event
    return _error(HTTPStatus.NOT_FOUND, f"no route {event.http_method} {event.path}")


@app.exception_handler(IdempotencyValidationError)
def idempotency_key_reused(error: IdempotencyValidationError) -> Response[dict[str, Any]]:
    reason = "was used with another body on this route"
    return _error(HTTPStatus.UNPROCESSABLE_ENTITY, f"{IDEMPOTENCY_KEY} {reason}", (IDEMPOTENCY_KEY, reason))


@app.exception_handler(IdempotencyAlreadyInProgressError)
def idempotency_key_in_flight(error: IdempotencyAlreadyInProgressError) -> Response[dict[str, Any]]:
    reason = "a request with this key is still in progress; retry later"
    return _error(HTTPStatus.CONFLICT, f"{IDEMPOTENCY_KEY}: {reason}", (IDEMPOTENCY_KEY, reason))


@app.exception_handler(IdempotencyPersistenceLayerError)
def idempotency_store_unavailable(error: IdempotencyPersistenceLayerError) -> Response[dict[str, Any]]:
    logger.exception("idempotency store failed")
    return _error(HTTPStatus.SERVICE_UNAVAILABLE, "storage is unavailable, retry")


@app.exception_handler(errors.ApartmentNotFound)
def apartment_not_found(error: errors.ApartmentNotFound) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.NOT_FOUND, f"apartment {error} not found", ("apartment_id", "not found"))


@app.exception_handler(errors.InvoiceNotFound)
def invoice_not_found(error: errors.InvoiceNotFound) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.NOT_FOUND, f"invoice {error} not found", ("invoice_id", "not found"))


@app.exception_handler(errors.InvoiceBusy)
def invoice_busy(error: errors.InvoiceBusy) -> Response[dict[str, Any]]:
    reason = "paid, partly paid or has a payment in progress"
    return _error(HTTPStatus.CONFLICT, f"invoice {error} is {reason}", ("invoice_id", reason))


@app.exception_handler(errors.InvoiceConflict)
def invoice_conflict(error: errors.InvoiceConflict) -> Response[dict[str, Any]]:
    taken = (
        (f"items.{i}.service", f"{service} is already billed for {error.period}")
        for i, service in error.taken.items()
    )
    return _error(HTTPStatus.CONFLICT, str(error), *taken, invoice_id=error.invoice_id)


@app.exception_handler(errors.LedgerContention)
def contention(error: errors.LedgerContention) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.SERVICE_UNAVAILABLE, "the ledger is busy, retry")


@app.exception_handler([PynamoDBConnectionError, TransactWriteError])
def storage_unavailable(error: Exception) -> Response[dict[str, Any]]:
    # DynamoDB failed or its reply was lost: the write may have landed, and every write here is safe to
    # retry (a repeated invoice is recognised), so tell the platform to retry rather than crash with a 502.
    logger.exception("storage call failed")
    return _error(HTTPStatus.SERVICE_UNAVAILABLE, "storage is unavailable, retry")


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
