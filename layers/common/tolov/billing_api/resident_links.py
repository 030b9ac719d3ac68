"""The links to the resident pages that the API hands out and the pages show (the QR code): built from
PUBLIC_BASE_URL, which carries the stage's path prefix; signed with the link-signing key."""

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from tolov.settings import PagesSettings
from tolov.signing import Signer

PAY_PURPOSE = "pay-page"


def public_base(settings: PagesSettings, request_context: Mapping[str, Any] | None = None) -> str:
    """PUBLIC_BASE_URL; without it, the request's own execute-api host and stage (what API Gateway says,
    not a Host header a client chose)."""
    if settings.public_base_url:
        return settings.public_base_url
    context = request_context or {}
    domain, stage = context.get("domainName"), context.get("stage")
    if not domain:
        raise RuntimeError("PUBLIC_BASE_URL is not set")
    return f"https://{domain}/{stage}" if stage and stage != "$default" else f"https://{domain}"


def pay_token(signer: Signer, invoice_id: str) -> str:
    return signer.tag(PAY_PURPOSE, invoice_id)


def valid_pay_token(signer: Signer, invoice_id: str, token: str | None) -> bool:
    return signer.valid_tag(PAY_PURPOSE, invoice_id, token)


def pay_url(base: str, invoice_id: str, signer: Signer | None = None) -> str:
    """The bill page; with a signer, carrying the ?t= a PAY_PAGE_REQUIRE_SIGNED stage asks for."""
    url = f"{base}/pay/{quote(invoice_id, safe='')}"
    return f"{url}?{urlencode({'t': pay_token(signer, invoice_id)})}" if signer else url


def enrol_url(base: str, token: str) -> str:
    return f"{base}/autopay/enrol?{urlencode({'t': token})}"
