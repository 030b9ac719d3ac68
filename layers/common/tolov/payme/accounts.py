"""Payme `account` objects: which of our accounts they name, and the fiscal detail of paying it.

`order_id` (name configurable) is an invoice, a one-time account: exactly its unpaid amount, once.
`apartment_id` (name configurable) is an apartment, an accumulative account: any amount within limits.
"""

import re
from typing import Any, NamedTuple

from tolov.payme.errors import ACCOUNT_INVALID, ACCOUNT_NOT_FOUND, account_error
from tolov.payme.repository import InvoiceLine, InvoiceView
from tolov.payme.transaction import AccountKind
from tolov.settings import PaymeSettings

# Our invoice ids are ten digits and apartment ids come from the housing platform; anything outside
# this shape cannot name one of them and must not reach DynamoDB as a key.
_ACCOUNT_VALUE = re.compile(r"[0-9A-Za-z_.:#/@-]{1,128}")

RECEIPT_SALE = 0


class AccountRef(NamedTuple):
    kind: AccountKind
    field: str
    value: str


def resolve(config: PaymeSettings, account: dict[str, Any]) -> AccountRef:
    """The invoice field wins when both are present; Payme sends the fields configured on the kassa."""
    configured: list[tuple[AccountKind, str]] = [
        ("invoice", config.invoice_field),
        ("apartment", config.apartment_field),
    ]
    candidates = [(kind, name) for kind, name in configured if name]
    for kind, name in candidates:
        if name in account:
            return AccountRef(kind, name, _value(kind, name, account[name]))
    kind, name = candidates[0] if candidates else ("invoice", "account")
    raise account_error(kind, name, ACCOUNT_NOT_FOUND)


def _value(kind: AccountKind, name: str, raw: Any) -> str:
    # Account values arrive as strings even for numeric ids; accept a bare integer as its digits.
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not _ACCOUNT_VALUE.fullmatch(raw):
        raise account_error(kind, name, ACCOUNT_INVALID)
    return raw


def invoice_detail(invoice: InvoiceView) -> dict[str, Any]:
    """One fiscal item per invoice line at its unit price. A line partly settled from apartment credit
    carries that part as its `discount`, so the items add up to the amount actually charged."""
    return detail([line_item(line) for line in invoice.lines])


def line_item(line: InvoiceLine) -> dict[str, Any]:
    """A fiscal item at the line's unit price; `prepaid` (the part of the line not charged now) becomes the
    line's discount."""
    item: dict[str, Any] = {
        "title": line.title,
        "price": line.unit_price,
        "count": line.count,
        "code": line.ikpu,
        "package_code": line.package_code,
        "vat_percent": line.vat_percent,
    }
    if line.prepaid:
        item["discount"] = line.prepaid
    return item


def topup_item(config: PaymeSettings, amount: int) -> dict[str, Any] | None:
    """The fiscal item of an apartment top-up, or None when its IKPU is not configured."""
    if not config.topup_fiscal_configured:
        return None
    return {
        "title": config.topup_title,
        "price": amount,
        "count": 1,
        "code": config.topup_ikpu,
        "package_code": config.topup_package_code,
        "vat_percent": config.topup_vat_percent,
    }


def topup_detail(config: PaymeSettings, amount: int) -> dict[str, Any] | None:
    item = topup_item(config, amount)
    return None if item is None else detail([item])


def detail(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The fiscal `detail` object (CheckPerformTransaction, receipts.create) of a sale of these items."""
    return {"receipt_type": RECEIPT_SALE, "items": items}
