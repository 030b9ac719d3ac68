"""The billing API's one table from failures to replies, all in the documented shape
{"message", "errors": [{"field", "error"}], ...}: every bad request is a 4xx, a store that did not answer
a 503 (every write here is safe to retry), never a 5xx from a crash."""

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from tolov.autopay import errors as autopay
from tolov.billing import errors
from tolov.billing_api.resolver import MalformedBody
from tolov.observability import logger
from tolov.store.engine import StoreFailure, StoreUnavailable


def error(
    status: HTTPStatus, message: str, *fields: tuple[str, str], **extra: Any
) -> Response[dict[str, Any]]:
    """The documented error shape: {"message", "errors": [{"field", "error"}], ...extra}."""
    details = [{"field": field, "error": reason} for field, reason in fields]
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message, "errors": details, **extra},
    )


def invalid_request(failure: RequestValidationError) -> Response[dict[str, Any]]:
    details = [
        (".".join(str(p) for p in e.get("loc", ()) if p != "body"), str(e.get("msg", e.get("type"))))
        for e in failure.errors()
    ]
    fields = ", ".join(field or "body" for field, _ in details)
    return error(HTTPStatus.UNPROCESSABLE_ENTITY, f"invalid field(s): {fields}", *details)


def malformed_body(failure: MalformedBody) -> Response[dict[str, Any]]:
    return error(HTTPStatus.BAD_REQUEST, "the body must be UTF-8 JSON", ("body", str(failure)))


def unsupported_content_type(failure: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    reasons = [str(e.get("msg")) for e in failure.errors()]
    return error(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "the body must be application/json",
        *(("Content-Type", reason) for reason in reasons),
    )


def _route_not_found(app: APIGatewayRestResolver) -> Callable[[NotFoundError], Response[dict[str, Any]]]:
    def route_not_found(failure: NotFoundError) -> Response[dict[str, Any]]:
        event = app.current_event
        return error(HTTPStatus.NOT_FOUND, f"no route {event.http_method} {event.path}")

    return route_not_found


def apartment_not_found(failure: errors.ApartmentNotFound) -> Response[dict[str, Any]]:
    return error(HTTPStatus.NOT_FOUND, f"apartment {failure} not found", ("apartment_id", "not found"))


def invoice_not_found(failure: errors.InvoiceNotFound) -> Response[dict[str, Any]]:
    return error(HTTPStatus.NOT_FOUND, f"invoice {failure} not found", ("invoice_id", "not found"))


def invoice_busy(failure: errors.InvoiceBusy) -> Response[dict[str, Any]]:
    reason = "paid, partly paid or has a payment in progress"
    return error(HTTPStatus.CONFLICT, f"invoice {failure} is {reason}", ("invoice_id", reason))


def invoice_conflict(failure: errors.InvoiceConflict) -> Response[dict[str, Any]]:
    taken = (
        (f"items.{i}.service", f"{service} is already billed for {failure.period}")
        for i, service in failure.taken.items()
    )
    return error(HTTPStatus.CONFLICT, str(failure), *taken, invoice_id=failure.invoice_id)


def autopay_not_found(failure: autopay.AutopayNotFound) -> Response[dict[str, Any]]:
    return error(HTTPStatus.NOT_FOUND, f"autopay {failure} not found", ("autopay_id", "not found"))


def active_autopay_exists(failure: autopay.ActiveAutopayExists) -> Response[dict[str, Any]]:
    reason = "has an active autopay with this provider"
    return error(HTTPStatus.CONFLICT, str(failure), ("apartment_id", reason), autopay_id=failure.autopay_id)


def card_refused(failure: autopay.CardRefused) -> Response[dict[str, Any]]:
    message = f"the card cannot be used for autopay: {failure.reason}"
    return error(
        HTTPStatus.UNPROCESSABLE_ENTITY, message, ("card_token", failure.reason), error_code=failure.code
    )


def max_amount_too_low(failure: autopay.MaxAmountTooLow) -> Response[dict[str, Any]]:
    reason = f"must be at least {failure.minimum} (the apartment top-up minimum)"
    return error(HTTPStatus.UNPROCESSABLE_ENTITY, f"max_amount {reason}", ("max_amount", reason))


def link_forged(failure: autopay.LinkForged) -> Response[dict[str, Any]]:
    return error(HTTPStatus.FORBIDDEN, "the enrolment link is not valid", ("t", "not signed by us"))


def link_gone(failure: autopay.LinkGone) -> Response[dict[str, Any]]:
    return error(HTTPStatus.GONE, str(failure), ("t", failure.reason))


def provider_unavailable(failure: autopay.ProviderUnavailable) -> Response[dict[str, Any]]:
    # Payme did not answer or refused our credentials: the request is fine, and repeating it is safe.
    logger.error("payme subscribe call failed", extra={"reason": str(failure)})
    return error(HTTPStatus.SERVICE_UNAVAILABLE, f"{failure}; retry")


def contention(failure: errors.LedgerContention) -> Response[dict[str, Any]]:
    return error(HTTPStatus.SERVICE_UNAVAILABLE, "the ledger is busy, retry")


def storage_unavailable(failure: Exception) -> Response[dict[str, Any]]:
    # DynamoDB failed or its reply was lost: the write may have landed, and every write here is safe
    # to retry (a repeated invoice is recognised), so the platform is told to retry, not given a 502.
    logger.exception("storage call failed")
    return error(HTTPStatus.SERVICE_UNAVAILABLE, "storage is unavailable, retry")


# Each failure a route can meet, and its reply.
REPLIES: list[tuple[Any, Callable[[Any], Response[dict[str, Any]]]]] = [
    (RequestValidationError, invalid_request),
    (MalformedBody, malformed_body),
    (RequestUnsupportedContentType, unsupported_content_type),
    (errors.ApartmentNotFound, apartment_not_found),
    (errors.InvoiceNotFound, invoice_not_found),
    (errors.InvoiceBusy, invoice_busy),
    (errors.InvoiceConflict, invoice_conflict),
    (autopay.AutopayNotFound, autopay_not_found),
    (autopay.ActiveAutopayExists, active_autopay_exists),
    (autopay.CardRefused, card_refused),
    (autopay.MaxAmountTooLow, max_amount_too_low),
    (autopay.ProviderUnavailable, provider_unavailable),
    (autopay.LinkForged, link_forged),
    (autopay.LinkGone, link_gone),
    (errors.LedgerContention, contention),
    ([StoreUnavailable, StoreFailure], storage_unavailable),
]
# The Idempotency-Key replies are registered by tolov.billing_api.idempotency, with its middleware: the
# other resolvers (resident pages, reconciliation) do not import Powertools' idempotency utility.


def register(app: APIGatewayRestResolver) -> None:
    for failure, reply in REPLIES:
        app.exception_handler(failure)(reply)
    app.not_found(_route_not_found(app))
