"""The billing API handler in-process under mock_aws, with events shaped like events/billing/."""

import base64
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support import invoke, replies_lost, rest_event, sample_event, together

ITEMS = [
    {
        "service": "cold_water",
        "title": "Cold water",
        "amount": 420000,
        "ikpu": "10305001001000000",
        "package_code": "1503617",
        "vat_percent": 12,
    },
    {
        "service": "electricity",
        "title": "Electricity",
        "amount": 90000,
        "count": 3,
        "ikpu": "10201001001000000",
        "package_code": "1499386",
        "vat_percent": 12,
    },
]


def call(
    method: str, resource: str, params: dict[str, str] | None = None, body: Any = None
) -> tuple[int, Any]:
    return invoke("billing_api", rest_event(method, resource, params, body))


def put_apartment(apartment_id: str = "apt-12") -> tuple[int, Any]:
    return call(
        "PUT",
        "/apartments/{apartment_id}",
        {"apartment_id": apartment_id},
        {"label": "Flat 12", "resident_id": "res-1"},
    )


def create_invoice(
    apartment_id: str = "apt-12", period: str = "2026-11", items: Any = None
) -> tuple[int, Any]:
    return call(
        "POST", "/invoices", None, {"apartment_id": apartment_id, "period": period, "items": items or ITEMS}
    )


def test_sample_events_drive_the_handler(aws: None) -> None:
    status, body = invoke("billing_api", sample_event("billing/put_apartment.json"))
    assert (status, body["apartment_id"], body["credit"]) == (201, "apt-12", 0)
    status, body = invoke("billing_api", sample_event("billing/create_invoice.json"))
    assert status == 201 and body["amount"] == 420000 + 3 * 90000 and body["due_date"] == "2026-12-10"
    # The sample carries an Idempotency-Key: sent again, it gets the first reply again.
    assert invoke("billing_api", sample_event("billing/create_invoice.json")) == (201, body)


def test_put_apartment_creates_then_updates(aws: None) -> None:
    assert put_apartment()[0] == 201
    status, body = call(
        "PUT",
        "/apartments/{apartment_id}",
        {"apartment_id": "apt-12"},
        {"label": "Flat 12A", "resident_id": "res-2"},
    )
    assert status == 200 and body == {
        "apartment_id": "apt-12",
        "label": "Flat 12A",
        "resident_id": "res-2",
        "credit": 0,
    }


def test_invoice_amount_links_and_ledger(aws: None, local_config: dict[str, str]) -> None:
    put_apartment()
    status, invoice = create_invoice()
    assert status == 201
    assert invoice["amount"] == 690000 and invoice["paid_amount"] == 0 and invoice["status"] == "open"
    assert [i["count"] for i in invoice["items"]] == [1, 3]
    payme = invoice["payment_links"]["payme"]
    decoded = base64.b64decode(payme.rsplit("/", 1)[1]).decode()
    assert decoded == f"m=5e730e8e0b852a417aa49ceb;ac.order_id={invoice['invoice_id']};a=690000"
    click = urlparse(invoice["payment_links"]["click"])
    assert (click.scheme, click.netloc, click.path) == ("https", "my.click.uz", "/services/pay")
    assert parse_qs(click.query) == {
        "service_id": ["12345"],
        "merchant_id": ["54321"],
        "amount": ["6900.00"],
        "transaction_param": [invoice["invoice_id"]],
    }
    status, balance = call("GET", "/apartments/{apartment_id}/balance", {"apartment_id": "apt-12"})
    assert status == 200 and balance["debt"] == 690000 and balance["credit"] == 0
    assert [(c["service"], c["debt"]) for c in balance["charges"]] == [
        ("cold_water", 420000),
        ("electricity", 270000),
    ]
    status, fetched = call("GET", "/invoices/{invoice_id}", {"invoice_id": invoice["invoice_id"]})
    assert status == 200 and fetched == invoice


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"period": "2026-11", "items": ITEMS}, "apartment_id"),
        ({"apartment_id": "apt-12", "period": "2026-13", "items": ITEMS}, "period"),
        ({"apartment_id": "apt-12", "period": "2026-11", "items": []}, "items"),
        (
            {"apartment_id": "apt-12", "period": "2026-11", "items": [{**ITEMS[0], "amount": 10.5}]},
            "items.0.amount",
        ),
        (
            {"apartment_id": "apt-12", "period": "2026-11", "items": [{**ITEMS[0], "amount": "100"}]},
            "items.0.amount",
        ),
        (
            {"apartment_id": "apt-12", "period": "2026-11", "items": [{**ITEMS[0], "amount": 0}]},
            "items.0.amount",
        ),
        (
            {"apartment_id": "apt-12", "period": "2026-11", "items": [{**ITEMS[0], "ikpu": "123"}]},
            "items.0.ikpu",
        ),
        ({"apartment_id": "a;b", "period": "2026-11", "items": ITEMS}, "apartment_id"),
    ],
)
def test_bad_input_names_the_field(aws: None, body: dict[str, Any], field: str) -> None:
    put_apartment()
    status, reply = call("POST", "/invoices", None, body)
    assert status == 422
    assert field in reply["message"]


def test_malformed_json_is_a_client_error(aws: None) -> None:
    status, reply = invoke("billing_api", rest_event("POST", "/invoices", raw_body="{not json"))
    assert status in (400, 422) and "message" in reply


def test_repeated_service_in_one_invoice_is_refused(aws: None) -> None:
    put_apartment()
    status, reply = create_invoice(items=[ITEMS[0], ITEMS[0]])
    assert status == 422 and "items" in reply["message"]
    assert "once per invoice" in reply["errors"][0]["error"]


def test_unknown_ids_are_404(aws: None) -> None:
    assert create_invoice(apartment_id="nobody")[0] == 404
    assert call("GET", "/invoices/{invoice_id}", {"invoice_id": "404404"})[0] == 404
    assert call("GET", "/apartments/{apartment_id}/balance", {"apartment_id": "nobody"})[0] == 404
    assert call("POST", "/invoices/{invoice_id}/cancel", {"invoice_id": "404404"})[0] == 404


def test_cancel_unpaid_invoice_removes_its_debt(aws: None) -> None:
    put_apartment()
    _, invoice = create_invoice()
    status, cancelled = call("POST", "/invoices/{invoice_id}/cancel", {"invoice_id": invoice["invoice_id"]})
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["payment_links"] is None
    _, balance = call("GET", "/apartments/{apartment_id}/balance", {"apartment_id": "apt-12"})
    assert balance["debt"] == 0 and balance["charges"] == []
    assert call("POST", "/invoices/{invoice_id}/cancel", {"invoice_id": invoice["invoice_id"]})[0] == 200


def test_cancel_is_refused_while_a_payment_holds_or_has_paid(aws: None) -> None:
    from tolov.billing.keys import PaymentKey
    from tolov.billing.ledger import Ledger

    put_apartment()
    _, held = create_invoice(period="2026-10")
    Ledger().lock_invoice(PaymentKey("payme", "t-held"), held["invoice_id"], held["amount"])
    assert call("POST", "/invoices/{invoice_id}/cancel", {"invoice_id": held["invoice_id"]})[0] == 409
    _, paid = create_invoice(period="2026-11")
    Ledger().post_to_invoice(PaymentKey("click", "c-1"), paid["invoice_id"], paid["amount"])
    assert call("POST", "/invoices/{invoice_id}/cancel", {"invoice_id": paid["invoice_id"]})[0] == 409
    _, fetched = call("GET", "/invoices/{invoice_id}", {"invoice_id": paid["invoice_id"]})
    assert fetched["status"] == "paid" and fetched["payment_links"] is None
    assert [(p["provider"], p["transaction_id"], p["amount"]) for p in fetched["payments"]] == [
        ("click", "c-1", paid["amount"])
    ]


def test_openapi_document_lists_the_routes(aws: None) -> None:
    status, doc = call("GET", "/openapi.json")
    assert status == 200
    assert {"/invoices", "/invoices/{invoice_id}", "/apartments/{apartment_id}/balance"} <= set(doc["paths"])


def test_openapi_document_describes_the_replies(aws: None) -> None:
    """The replies are TypedDicts (resident_schemas says why): documented as models, with their field
    descriptions, and pay_url the one field a reply may leave out."""
    status, doc = call("GET", "/openapi.json")
    assert status == 200
    ok = doc["paths"]["/invoices/{invoice_id}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/InvoiceOut"}
    schemas = doc["components"]["schemas"]
    invoice = schemas["InvoiceOut"]
    assert set(invoice["properties"]) - set(invoice["required"]) == {"pay_url"}
    assert invoice["properties"]["payment_links"] == {
        "anyOf": [{"$ref": "#/components/schemas/PaymentLinks"}, {"type": "null"}],
        "description": "null once nothing is left to pay",
    }
    attempts = schemas["AutopayOut"]["properties"]["attempts"]
    assert attempts["items"] == {"$ref": "#/components/schemas/AttemptOut"}
    assert schemas["PaymentLinks"]["required"] == ["payme", "click"]


# ---------------------------------------------------------------------------------------------- retries


def invoices_in_table() -> list[str]:
    from tolov.store.models import Invoice

    return [invoice.invoice_id for invoice in Invoice.scan()]


def test_a_repeated_invoice_answers_200_with_the_first(aws: None) -> None:
    put_apartment()
    status, first = create_invoice()
    assert status == 201
    status, again = create_invoice()
    assert status == 200 and again == first
    assert invoices_in_table() == [first["invoice_id"]]
    _, balance = call("GET", "/apartments/{apartment_id}/balance", {"apartment_id": "apt-12"})
    assert balance["debt"] == first["amount"] == 690000


def test_billing_a_billed_service_again_with_other_content_is_409_naming_the_invoice(aws: None) -> None:
    put_apartment()
    _, first = create_invoice()
    changed = [ITEMS[0], {**ITEMS[1], "count": 4}]
    status, reply = create_invoice(items=changed)
    assert status == 409
    assert reply["invoice_id"] == first["invoice_id"]
    assert first["invoice_id"] in reply["message"]
    assert reply["errors"] == [
        {"field": "items.0.service", "error": "cold_water is already billed for 2026-11"},
        {"field": "items.1.service", "error": "electricity is already billed for 2026-11"},
    ]
    new_service = {**ITEMS[1], "service": "gas"}
    status, reply = create_invoice(items=[new_service, ITEMS[0]])
    assert status == 409 and reply["invoice_id"] == first["invoice_id"]
    assert [e["field"] for e in reply["errors"]] == ["items.1.service"]
    assert invoices_in_table() == [first["invoice_id"]]


def test_a_cancelled_invoice_can_be_billed_again(aws: None) -> None:
    put_apartment()
    _, first = create_invoice()
    call("POST", "/invoices/{invoice_id}/cancel", {"invoice_id": first["invoice_id"]})
    status, again = create_invoice()
    assert status == 201 and again["invoice_id"] != first["invoice_id"]
    _, balance = call("GET", "/apartments/{apartment_id}/balance", {"apartment_id": "apt-12"})
    assert balance["debt"] == 690000
    assert {c["invoice_id"] for c in balance["charges"]} == {again["invoice_id"]}


def test_two_identical_posts_at_once_make_one_invoice(aws: None) -> None:
    put_apartment()
    replies = together([create_invoice] * 6)
    assert sorted(status for status, _ in replies) == [200] * 5 + [201]
    assert len({body["invoice_id"] for _, body in replies}) == 1
    assert len(invoices_in_table()) == 1


def test_a_lost_reply_to_a_write_that_landed_answers_with_that_invoice(aws: None) -> None:
    """botocore resends the TransactWriteItems whose reply timed out; the resend meets the invoice the
    first one wrote, which is ours (201), and nothing is written twice."""
    from tolov.store.models import connection as _connection

    put_apartment()
    landed: list[list[str]] = []
    with replies_lost(
        _connection().client, "TransactWriteItems", on_drop=lambda: landed.append(invoices_in_table())
    ) as dropped:
        status, invoice = create_invoice()
    assert dropped == [1] and len(landed[0]) == 1  # the invoice was written before its reply was lost
    assert status == 201 and invoice["invoice_id"] == landed[0][0]
    assert invoices_in_table() == [invoice["invoice_id"]]


def test_a_reply_lost_for_good_answers_503_and_the_platforms_retry_gets_the_invoice(aws: None) -> None:
    from tolov.store.models import connection as _connection

    put_apartment()
    with replies_lost(_connection().client, "TransactWriteItems", retried=False) as dropped:
        status, reply = create_invoice()
    assert dropped == [1]
    assert status == 503 and set(reply) == {"message", "errors"}
    (written,) = invoices_in_table()
    status, invoice = create_invoice()
    assert status == 200 and invoice["invoice_id"] == written
    assert invoices_in_table() == [written]


def test_the_cold_start_loads_no_autopay_enrolment_or_subscribe_client() -> None:
    """Invoices and balances are most requests: autopay's machinery is imported by its first request."""
    from tests.support import modules_at_load

    modules = modules_at_load("billing_api")
    assert "tolov.billing_api.routes" in modules and "tolov.billing.invoices" in modules
    autopay = {
        "tolov.autopay.enrolment",
        "tolov.autopay.scheduler_gateway",
        "tolov.payme.subscribe_api",
        "tolov.autopay.links",  # the card-page links: POST /apartments/{id}/autopay-links only
    }
    assert not autopay & set(modules), modules


def test_the_cold_start_loads_no_audit_store() -> None:
    """The audit routes are support's reads in a dispute: their store is imported by the first of them."""
    from tests.support import modules_at_load

    modules = modules_at_load("billing_api")
    assert "tolov.billing_api.audit_routes" in modules
    assert not {"tolov.audit.dynamo", "tolov.store.audit_models", "tolov.audit.trail"} & set(modules), modules
