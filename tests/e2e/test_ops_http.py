"""Audit trail and reconciliation over HTTP on the local stack (python -m local.stack in a subprocess):
a Payme and a Click payment appear in the audit routes masked; a stuck Click Prepare is resolved through
the Click Merchant API simulator; POST /reports/{date}/run, then GET /reports/{date} as JSON and CSV."""

import base64
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.testing import StackProcess, running_stack
from tests.click_support import complete_form, prepare_form
from tolov.clock import tashkent_date

pytestmark = pytest.mark.e2e
PAYME_ID = "65f0c0ffee0000000000e2e1"
CARD = "8600495473316478"


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    # A Click Prepare is "stuck" at once here, so that one run shows its resolution.
    with running_stack(env={"RECON_CLICK_STUCK_MS": "0"}) as running:
        yield running


def key(stack: StackProcess) -> dict[str, str]:
    return {"x-api-key": stack.config["BILLING_API_KEY"]}


def billing(stack: StackProcess, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, stack.url(path), json=body, headers=key(stack), timeout=20)


def payme(stack: StackProcess, method: str, params: dict[str, Any]) -> dict[str, Any]:
    credential = base64.b64encode(f"Paycom:{stack.config['PAYME_KEY']}".encode()).decode()
    body = {"method": method, "params": params, "id": 7}
    response = requests.post(
        stack.url("/payme"), json=body, headers={"Authorization": f"Basic {credential}"}, timeout=20
    )
    assert response.status_code == 200
    reply: dict[str, Any] = response.json()
    return reply


def click(stack: StackProcess, path: str, fields: dict[str, str]) -> dict[str, Any]:
    response = requests.post(stack.url(path), data=fields, timeout=20)
    assert response.status_code == 200
    reply: dict[str, Any] = response.json()
    return reply


def secrets(stack: StackProcess) -> list[str]:
    return [stack.config[k] for k in ("PAYME_KEY", "CLICK_SECRET_KEY", "BILLING_API_KEY")] + [CARD]


def test_payments_in_the_audit_trail_masked_then_the_day_s_report(stack: StackProcess) -> None:
    assert stack.click_url, "the stack serves the Click Merchant API simulator"
    assert billing(stack, "PUT", "/apartments/e2e-ops", {"label": "Flat", "resident_id": "r-1"}).ok
    item = {
        "service": "water",
        "title": "Water",
        "amount": 2_500_000,
        "ikpu": "10101001001000000",
        "package_code": "123456",
        "vat_percent": 12,
    }
    created = billing(
        stack, "POST", "/invoices", {"apartment_id": "e2e-ops", "period": "2026-11", "items": [item]}
    )
    assert created.status_code == 201, created.text
    invoice_id = created.json()["invoice_id"]

    # Payme pays the invoice; the password of a ChangePassword and the card in a note are masked too.
    now = int(time.time() * 1000)
    account = {"order_id": invoice_id, "note": f"card {CARD}"}
    assert (
        payme(
            stack, "CreateTransaction", {"id": PAYME_ID, "time": now, "amount": 2_500_000, "account": account}
        )["result"]["state"]
        == 1
    )
    assert payme(stack, "PerformTransaction", {"id": PAYME_ID})["result"]["state"] == 2

    # Click tops the apartment up.
    prepared = click(stack, "/click/prepare", prepare_form("7700000001", "e2e-ops", "5000.00"))
    assert prepared["error"] == 0
    done = click(
        stack,
        "/click/complete",
        complete_form("7700000001", "e2e-ops", "5000.00", prepared["merchant_prepare_id"]),
    )
    assert done["error"] == 0

    invoice_audit = billing(stack, "GET", f"/invoices/{invoice_id}/audit")
    assert invoice_audit.status_code == 200
    entries = invoice_audit.json()["entries"]
    assert [e["operation"] for e in entries] == ["CreateTransaction", "PerformTransaction"]
    assert entries[0]["request"]["params"]["account"]["note"] == "card 860049******6478"
    click_audit = billing(stack, "GET", "/transactions/click/7700000001/audit")
    assert [e["operation"] for e in click_audit.json()["entries"]] == ["prepare", "complete"]
    assert all(e["request"]["sign_string"] == "***" for e in click_audit.json()["entries"])
    apartment_audit = billing(stack, "GET", "/apartments/e2e-ops/audit")
    assert [e["provider"] for e in apartment_audit.json()["entries"]] == ["payme", "payme", "click", "click"]
    for text in (invoice_audit.text, click_audit.text, apartment_audit.text):
        assert not any(secret in text for secret in secrets(stack))

    # A Prepare Click never completed, and Click says the payment failed: reconciliation cancels it.
    stuck = click(stack, "/click/prepare", prepare_form("7700000002", "e2e-ops", "7000.00"))
    assert stuck["error"] == 0
    paydoc = int(prepare_form("7700000002", "e2e-ops", "7000.00")["click_paydoc_id"])
    simulated = requests.post(
        stack.click_url.removesuffix("/v2/merchant") + "/_sim/payment",
        json={"payment_id": paydoc, "status": -1},
        timeout=10,
    )
    assert simulated.ok

    day = tashkent_date(int(time.time() * 1000)).isoformat()
    assert billing(stack, "GET", f"/reports/{day}").status_code in (200, 404)
    run = billing(stack, "POST", f"/reports/{day}/run")
    assert (run.status_code, run.json()) == (202, {"date": day})
    assert billing(stack, "POST", f"/reports/{day}/run").json() == {"date": day}  # safe to repeat
    late = click(
        stack,
        "/click/complete",
        complete_form("7700000002", "e2e-ops", "7000.00", stuck["merchant_prepare_id"]),
    )
    assert late["error"] == -9  # the attempt was cancelled by the reconciliation

    report = billing(stack, "GET", f"/reports/{day}")
    assert report.status_code == 200 and report.headers["Content-Type"].startswith("application/json")
    body = report.json()
    assert body["matches"] is True, body["mismatches"]
    assert body["providers"]["payme"]["amount"] == body["providers"]["payme"]["ledger_amount"] >= 2_500_000
    assert body["providers"]["click"]["amount"] == body["providers"]["click"]["ledger_amount"] >= 500_000
    keys = {p["payment_key"] for p in body["payments"]}
    assert {f"payme#{PAYME_ID}", "click#7700000001"} <= keys
    as_csv = billing(stack, "GET", f"/reports/{day}?format=csv")
    assert as_csv.status_code == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    assert f"payment,payme,{PAYME_ID},payme#{PAYME_ID},2,2500000,2500000,posted" in as_csv.text
    assert billing(stack, "GET", "/reports/2026-02-30").status_code == 422
    assert billing(stack, "GET", "/reports/2001-01-01").status_code == 404
    out = os.environ.get("TOLOV_RECON_REPORT_OUT")
    if out:  # the closing note's sample
        with open(out, "w") as handle:
            handle.write(json.dumps(body, indent=2) + "\n\n" + as_csv.text)
