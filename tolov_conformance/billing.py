"""The run's accounts, through the billing API (x-api-key): a test apartment and invoice of its own, or
an invoice that exists already and the apartment it belongs to."""

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from tolov_conformance.http import request

# One line of water, 1 000 so'm: above the default top-up minimum, so that the Click lists can use the
# same amount on the apartment.
TEST_ITEM = {
    "service": "water",
    "title": "Conformance run",
    "amount": 100_000,
    "count": 1,
    "ikpu": "10301001001000000",
    "package_code": "1503826",
    "vat_percent": 12,
}


class SetupFailed(RuntimeError):
    """The billing API refused or did not answer: there is nothing to run the scenarios on."""


@dataclass(frozen=True)
class Account:
    invoice_id: str
    apartment_id: str
    due: int  # tiyin left to pay on the invoice: what Payme's one-time account must be paid


class BillingApi:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.api_key = api_key

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"x-api-key": self.api_key, "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        try:
            status, reply = request(method, self.base_url + path, data, headers)
        except OSError as failure:
            raise SetupFailed(f"{method} {path}: no reply ({failure})") from None
        if status not in (200, 201):
            raise SetupFailed(f"{method} {path}: HTTP {status} {json.dumps(reply, ensure_ascii=False)[:300]}")
        return reply

    def test_account(self, run_id: str) -> Account:
        apartment_id = f"conformance-{run_id}"
        self.call(
            "PUT", f"/apartments/{apartment_id}", {"label": "Conformance run", "resident_id": apartment_id}
        )
        period = dt.datetime.now(dt.UTC).strftime("%Y-%m")
        invoice = self.call(
            "POST", "/invoices", {"apartment_id": apartment_id, "period": period, "items": [TEST_ITEM]}
        )
        return self.account(invoice)

    def given_account(self, invoice_id: str) -> Account:
        invoice = self.call("GET", f"/invoices/{invoice_id}")
        if invoice.get("status") != "open":
            raise SetupFailed(
                f"invoice {invoice_id} is {invoice.get('status')!r}: the scenarios need an open one"
            )
        return self.account(invoice)

    @staticmethod
    def account(invoice: dict[str, Any]) -> Account:
        return Account(
            str(invoice["invoice_id"]),
            str(invoice["apartment_id"]),
            int(invoice["amount"]) - int(invoice.get("paid_amount", 0)),
        )
