"""The resident pages' routes (ResidentPagesFunction; no API key: a signed link is the resident's key).

GET /pay/{invoice_id}      the bill, with the payment links and a QR code of itself
GET /autopay/enrol?t=…     the card form of an autopay-enrolment link
POST /autopay/enrol        {"t", "card_token"}: enrols as POST /autopay does (201 with the autopay)

The pages answer every failure with a page of their own in the resident's language (403, 404, 410, 503);
POST /autopay/enrol answers in the billing API's documented error shape.
"""

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from tolov.autopay.errors import LinkForged, LinkGone
from tolov.billing.errors import ApartmentNotFound, InvoiceNotFound
from tolov.billing.ledger import Ledger
from tolov.billing_api import replies
from tolov.billing_api.links import invoice_links
from tolov.billing_api.resident_links import pay_url, public_base, valid_pay_token
from tolov.billing_api.resident_schemas import AutopayOut, EnrolIn, autopay_out
from tolov.billing_api.resolver import JsonResolver
from tolov.observability import logger
from tolov.pages.bill import bill_of, render_bill
from tolov.pages.enrol import render_enrol
from tolov.pages.html import Page, message_page
from tolov.pages.i18n import choose
from tolov.settings import Settings
from tolov.signing import signer_from_secret
from tolov.store.engine import StoreFailure, StoreUnavailable
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from tolov.autopay.enrolment import Enrolment
    from tolov.autopay.link_claims import DynamoLinkClaims
    from tolov.autopay.links import LinkEnrolment

INVOICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _response(page: Page) -> Response[str]:
    return Response(page.status, content_types.TEXT_HTML, page.body, headers=page.headers)


def build_pages(settings: Settings, ledger: Ledger | None = None) -> JsonResolver:
    app = JsonResolver()
    replies.register(app)
    ledger = ledger or Ledger()
    enrolment = Wiring(lambda: _link_parts(settings), eager=False)

    def signer_key() -> str:
        return settings.pages.signing_key_secret_arn

    def link_enrolment() -> "LinkEnrolment":
        from tolov.autopay.links import LinkEnrolment

        return LinkEnrolment(*enrolment.get(), signer_from_secret(signer_key()))

    def language() -> str:
        event = app.current_event
        return choose(event.get_query_string_value("lang"), event.headers.get("accept-language"))

    def label_of(apartment_id: str) -> str:
        try:
            return str(ledger.apartment(apartment_id, attributes=["label"]).label)
        except ApartmentNotFound:
            return ""

    def page(make: Callable[[str], Page]) -> Response[str]:
        lang = language()
        try:
            return _response(make(lang))
        except (StoreUnavailable, StoreFailure, GetParameterError):  # DynamoDB or the signing secret
            logger.exception("a page's store or secret read failed")
            return _response(message_page(503, lang, "unavailable_title", "unavailable_text"))

    @app.get("/pay/<invoice_id>")
    def pay_page(invoice_id: str) -> Response[str]:
        token = app.current_event.get_query_string_value("t")

        def bill(lang: str) -> Page:
            signer = signer_from_secret(signer_key()) if settings.pages.require_signed else None
            # Checked before the invoice is read: a wrong link tells nothing of which ids exist.
            if signer is not None and not (
                INVOICE_ID.fullmatch(invoice_id) and valid_pay_token(signer, invoice_id, token)
            ):
                return message_page(403, lang, "forbidden_title", "forbidden_text")
            if not INVOICE_ID.fullmatch(invoice_id):
                return message_page(404, lang, "not_found_title", "not_found_text")
            try:
                invoice = ledger.invoice(invoice_id)
            except InvoiceNotFound:
                return message_page(404, lang, "not_found_title", "not_found_text")
            base = public_base(settings.pages, app.current_event.raw_event.get("requestContext"))
            self_url = pay_url(base, invoice_id, signer)
            query = {"t": token} if signer is not None and token else {}
            links = invoice_links(invoice, settings, lang=lang)
            return render_bill(bill_of(invoice, label_of(invoice.apartment_id)), lang, links, self_url, query)

        return page(bill)

    @app.get("/autopay/enrol")
    def enrol_page() -> Response[str]:
        token = app.current_event.get_query_string_value("t") or ""

        def form(lang: str) -> Page:
            try:
                link = link_enrolment().open(token)
            except LinkForged:
                return message_page(403, lang, "forbidden_title", "forbidden_text")
            except LinkGone as gone:
                return message_page(410, lang, "gone_title", f"gone_{gone.reason}", "ask_new_link")
            return render_enrol(
                lang=lang,
                token=token,
                apartment_label=label_of(link.apartment_id),
                day_of_month=link.day_of_month,
                max_amount=link.max_amount,
                subscribe_url=settings.payme.subscribe_url,
                merchant_id=settings.payme.merchant_id,
                offer_url=settings.pages.payme_offer_url,
            )

        return page(form)

    @app.post("/autopay/enrol")
    def enrol(body: Annotated[EnrolIn, Body()]) -> Response[AutopayOut]:
        view, created = link_enrolment().enrol(body.t, body.card_token)
        status = HTTPStatus.CREATED if created else HTTPStatus.OK
        return Response(status, content_types.APPLICATION_JSON, autopay_out(view))

    return app


def _link_parts(settings: Settings) -> tuple["Enrolment", "DynamoLinkClaims"]:
    """The enrolment (its Subscribe client, KMS, the autopay store) and the links' claims, imported with the
    first enrolment request: the bill page, which most residents open, needs none of them at its cold
    start."""
    from tolov.autopay.link_claims import DynamoLinkClaims
    from tolov.billing_api.autopay_enrolment import build_enrolment

    return build_enrolment(settings), DynamoLinkClaims()
