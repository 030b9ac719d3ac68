"""The billing API's routes over the billing core and autopay. API Gateway checks the API key before any
of them. Autopay's enrolment (with its Subscribe client and KMS) is built on the first autopay request."""

from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.metrics import MetricUnit

from tolov.autopay.errors import MaxAmountTooLow
from tolov.billing.invoices import Billing, NewItem
from tolov.billing_api import idempotency, replies
from tolov.billing_api.audit_routes import audit_router
from tolov.billing_api.links import invoice_links
from tolov.billing_api.resident_links import enrol_url, pay_url, public_base
from tolov.billing_api.resident_schemas import AutopayOut, Id, autopay_out
from tolov.billing_api.resolver import JsonResolver
from tolov.billing_api.schemas import (
    ApartmentAutopaysOut,
    ApartmentIn,
    ApartmentOut,
    AutopayIn,
    AutopayLinkIn,
    AutopayLinkOut,
    AutopayRunIn,
    AutopayRunOut,
    BalanceOut,
    InvoiceIn,
    InvoiceOut,
    apartment_out,
    balance_out,
    invoice_out,
)
from tolov.clock import now_ms
from tolov.observability import metrics
from tolov.settings import Settings
from tolov.signing import signer_from_secret
from tolov.store.models import Invoice, Posting, connect
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from tolov.audit.trail import AuditTrail
    from tolov.autopay.enrolment import Enrolment
    from tolov.autopay.schedule import Scheduler

IdPath = Annotated[Id, Path()]
JSON = content_types.APPLICATION_JSON


def build_api(
    settings: Settings,
    billing: Billing | None = None,
    enrolment: "Enrolment | None" = None,
    trail: "AuditTrail | None" = None,
) -> JsonResolver:
    connect()  # the DynamoDB client, at init rather than on the first request
    app = JsonResolver()
    replies.register(app)
    idempotency.register(app, settings.tables.idempotency)
    billing = billing or Billing()
    autopays = Wiring(lambda: enrolment or _enrolment(settings), eager=False)
    scheduler = Wiring(lambda: _scheduler(settings), eager=False)
    app.include_router(audit_router(Wiring(lambda: trail or _trail(settings), eager=False), billing))

    def base_url() -> str:
        return public_base(settings.pages, app.current_event.raw_event.get("requestContext"))

    def with_links(invoice: Invoice, postings: list[Posting]) -> InvoiceOut:
        # Signed only where the pay page asks for it: the other stages need no secret read per invoice.
        pages = settings.pages
        signer = signer_from_secret(pages.signing_key_secret_arn) if pages.require_signed else None
        bill_page = pay_url(base_url(), invoice.invoice_id, signer)
        return invoice_out(invoice, postings, invoice_links(invoice, settings), bill_page)

    @app.get("/openapi.json")
    def openapi() -> Response[str]:
        schema = app.get_openapi_json_schema(title="tolov billing API")
        return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, schema)

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
            out = with_links(invoice, billing.postings(invoice))
            return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, out)
        metrics.add_metric(name="InvoicesCreated", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="InvoicedTiyin", unit=MetricUnit.Count, value=int(invoice.amount))
        return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, with_links(invoice, []))

    @app.get("/invoices/<invoice_id>")
    def get_invoice(invoice_id: IdPath) -> InvoiceOut:
        return with_links(*billing.get_invoice(invoice_id))

    @app.post("/invoices/<invoice_id>/cancel")
    def cancel_invoice(invoice_id: IdPath) -> InvoiceOut:
        return invoice_out(billing.cancel_invoice(invoice_id), [], None)

    @app.post("/apartments/<apartment_id>/autopay-links")
    def create_autopay_link(
        apartment_id: IdPath, body: Annotated[AutopayLinkIn, Body()]
    ) -> Response[AutopayLinkOut]:
        # What POST /autopay would refuse of the apartment and cap is refused now, not on the page.
        billing.ledger.apartment(apartment_id, attributes=["apartment_id"])  # ApartmentNotFound
        if body.max_amount < settings.limits.min_tiyin:
            raise MaxAmountTooLow(settings.limits.min_tiyin)
        from tolov.autopay import links as enrol_links  # here: only this route issues card-page links

        signer = signer_from_secret(settings.pages.signing_key_secret_arn)
        token, link = enrol_links.issue(signer, apartment_id, body.day_of_month, body.max_amount, now_ms())
        expires = datetime.fromtimestamp(link.expires_at // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = AutopayLinkOut(url=enrol_url(base_url(), token), expires_at=expires)
        return Response(HTTPStatus.CREATED, JSON, out)

    @app.post("/autopay")
    def create_autopay(body: Annotated[AutopayIn, Body()]) -> Response[AutopayOut]:
        view, created = autopays.get().enrol(
            body.apartment_id, body.card_token, body.day_of_month, body.max_amount
        )
        if created:
            metrics.add_metric(name="AutopaysEnrolled", unit=MetricUnit.Count, value=1)
        return Response(HTTPStatus.CREATED if created else HTTPStatus.OK, JSON, autopay_out(view))

    @app.post("/autopay/runs")
    def run_autopay(body: Annotated[AutopayRunIn, Body()]) -> Response[AutopayRunOut]:
        # The scheduler's own run, in this request: for ops after an outage, and safe to repeat.
        from tolov.autopay.scheduler_gateway import run

        done = run(scheduler.get(), body.date)
        return Response(HTTPStatus.ACCEPTED, JSON, AutopayRunOut(date=done["date"], queued=done["queued"]))

    @app.get("/autopay/<autopay_id>")
    def get_autopay(autopay_id: IdPath) -> AutopayOut:
        return autopay_out(autopays.get().get(autopay_id))

    @app.delete("/autopay/<autopay_id>")
    def delete_autopay(autopay_id: IdPath) -> AutopayOut:
        return autopay_out(autopays.get().cancel(autopay_id))

    @app.get("/apartments/<apartment_id>/autopay")
    def apartment_autopays(apartment_id: IdPath) -> ApartmentAutopaysOut:
        views = autopays.get().of_apartment(apartment_id)
        return ApartmentAutopaysOut(apartment_id=apartment_id, autopays=[autopay_out(v) for v in views])

    return app


# Autopay's enrolment and scheduler (the Subscribe client, KMS, the autopay store and queue) are imported
# with the first request that needs them: most requests are invoices and balances, and the cold start
# that serves them should not load the autopay machinery.
def _enrolment(settings: Settings) -> "Enrolment":
    from tolov.billing_api.autopay_enrolment import build_enrolment

    return build_enrolment(settings)


def _trail(settings: Settings) -> "AuditTrail":
    from tolov.audit.dynamo import build_trail

    return build_trail(settings)


def _scheduler(settings: Settings) -> "Scheduler":
    from tolov.autopay.scheduler_gateway import build_scheduler

    return build_scheduler(settings)
