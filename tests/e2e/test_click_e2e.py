"""Click's acceptance runs over HTTP against the local stack (python -m local.stack in a subprocess).

Accounts are made through the billing API, exactly as the platform would; Click's requests are
form-encoded posts to /click/prepare and /click/complete, as Click sends them.
"""

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.template import DEFAULT_CONFIG
from local.testing import StackProcess, running_stack
from tests.click_support import SIGN_TIME, complete_form, prepare_form, trans_ids
from tolov_conformance import http
from tolov_conformance.click_tester import ClickRun, legacy_tester, postman_suite

pytestmark = pytest.mark.e2e

_ids = itertools.count(8_000_000_001)


def ctid() -> str:
    return str(next(_ids))


@pytest.fixture(scope="module")
def legacy() -> Iterator[StackProcess]:
    with running_stack() as stack:  # CLICK_CANCEL_AFTER_CONFIRM_ERROR: the template's default, -4
        yield stack


@pytest.fixture(scope="module")
def postman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    config = tmp_path_factory.mktemp("click") / "local.env"
    config.write_text(Path(DEFAULT_CONFIG).read_text() + "\nCLICK_CANCEL_AFTER_CONFIRM_ERROR=-9\n")
    with running_stack(config=config) as stack:
        yield stack


def post(stack: StackProcess, path: str, fields: dict[str, str]) -> dict[str, Any]:
    response = requests.post(stack.url(path), data=fields, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def apartment(stack: StackProcess, apartment_id: str) -> str:
    key = {"x-api-key": stack.config["BILLING_API_KEY"]}
    body = {"label": "Flat", "resident_id": "resident-1"}
    response = requests.put(stack.url(f"/apartments/{apartment_id}"), json=body, headers=key, timeout=10)
    assert response.status_code in (200, 201), response.text
    return apartment_id


def invoice(stack: StackProcess, apartment_id: str, amount: int) -> str:
    key = {"x-api-key": stack.config["BILLING_API_KEY"]}
    item = {"service": "water", "title": "Water", "amount": amount, "ikpu": "10101001001000000",
            "package_code": "123456", "vat_percent": 12}
    body = {"apartment_id": apartment_id, "period": "2026-05", "items": [item]}
    response = requests.post(stack.url("/invoices"), json=body, headers=key, timeout=10)
    assert response.status_code == 201, response.text
    invoice_id: str = response.json()["invoice_id"]
    return invoice_id


def balance(stack: StackProcess, apartment_id: str) -> dict[str, Any]:
    key = {"x-api-key": stack.config["BILLING_API_KEY"]}
    response = requests.get(stack.url(f"/apartments/{apartment_id}/balance"), headers=key, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def click_run(stack: StackProcess, account: str, cancel_after_confirm: int) -> ClickRun:
    """Over HTTP as the conformance runner sends (its transport, python's urllib)."""
    return ClickRun(
        http.click(stack.api_url),
        account,
        100_000,
        service_id=stack.config["CLICK_SERVICE_ID"],
        secret=stack.config["CLICK_SECRET_KEY"],
        sign_time=SIGN_TIME,
        trans_ids=trans_ids(),
        cancel_after_confirm=cancel_after_confirm,
    )


def test_legacy_tester_over_http(legacy: StackProcess) -> None:
    account = apartment(legacy, "E2E-LEGACY")
    run = click_run(legacy, account, -4)
    legacy_tester(run)
    assert run.codes == [-1, 0, -1, -2, 0, -4, -4, -5, 0, -6, 0, 0, -9, -9, -9]
    assert balance(legacy, account)["credit"] == 200_000


def test_postman_suite_over_http(postman: StackProcess) -> None:
    account = apartment(postman, "E2E-POSTMAN")
    run = click_run(postman, account, -9)
    postman_suite(run)
    assert run.codes == [-1, -5, 0, -1, -2, 0, -4, -9, 0, -6, 0, 0, -9, -9, -9]
    assert balance(postman, account)["credit"] == 200_000


def test_an_invoice_paid_through_click_over_http(legacy: StackProcess) -> None:
    account = apartment(legacy, "E2E-INVOICE")
    invoice_id = invoice(legacy, account, 1_234_567)
    trans_id = ctid()
    prepared = post(legacy, "/click/prepare", prepare_form(trans_id, invoice_id, "12345.67"))
    assert prepared["error"] == 0
    assert post(legacy, "/click/prepare", prepare_form(ctid(), invoice_id, "12345.00"))["error"] == -2
    done = post(legacy, "/click/complete",
                complete_form(trans_id, invoice_id, "12345.67", prepared["merchant_prepare_id"]))
    assert done["error"] == 0
    assert post(legacy, "/click/prepare", prepare_form(ctid(), invoice_id, "12345.67"))["error"] == -4
    key = {"x-api-key": legacy.config["BILLING_API_KEY"]}
    got = requests.get(legacy.url(f"/invoices/{invoice_id}"), headers=key, timeout=10).json()
    assert got["status"] == "paid"


def test_json_bodies_and_garbage_over_http(legacy: StackProcess) -> None:
    account = apartment(legacy, "E2E-JSON")
    fields = prepare_form(ctid(), account, "1000")
    response = requests.post(legacy.url("/click/prepare"), json=fields, timeout=10)
    assert (response.status_code, response.json()["error"]) == (200, 0)
    for body in [b"", b"\xff\xfe", b"{", b"click_trans_id=1&click_trans_id=2"]:
        response = requests.post(legacy.url("/click/complete"), data=body, timeout=10,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200
        assert response.json()["error"] == -8
