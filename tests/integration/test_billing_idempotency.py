"""Idempotency-Key on the billing API's POSTs (Powertools Idempotency over the template's table)."""

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.integration.test_billing_api import ITEMS
from tests.support import invoke, rest_event
from tolov.billing.invoices import Billing
from tolov.store.models import Invoice

ITEM = ITEMS[0]
INVOICE = {"apartment_id": "apt-7", "period": "2026-11", "items": [ITEM]}


def post(
    resource: str, body: Any = None, key: str | None = None, header: str = "Idempotency-Key", **params: str
) -> tuple[int, Any]:
    headers = {} if key is None else {header: key}
    return invoke("billing_api", rest_event("POST", resource, params or None, body, headers=headers))


def post_raw(raw_body: str, key: str) -> tuple[int, Any]:
    event = rest_event("POST", "/invoices", None, headers={"Idempotency-Key": key}, raw_body=raw_body)
    return invoke("billing_api", event)


@pytest.fixture
def apartment(aws: None) -> str:
    event = rest_event(
        "PUT", "/apartments/{apartment_id}", {"apartment_id": "apt-7"}, {"label": "7", "resident_id": "r"}
    )
    assert invoke("billing_api", event)[0] == 201
    return "apt-7"


def records() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName="IdempotencyTable")["Items"]


def invoices() -> list[str]:
    return [i.invoice_id for i in Invoice.scan()]


def test_the_same_key_and_a_json_equal_body_get_the_first_reply(apartment: str) -> None:
    status, first = post("/invoices", INVOICE, key="k-1")
    assert status == 201
    # The same content in another key order and spacing is the same body: the first reply comes back,
    # 201 and all, where a repeat without the key would be answered 200.
    reordered = json.dumps(
        {"items": [dict(reversed(ITEM.items()))], "period": "2026-11", "apartment_id": "apt-7"}, indent=2
    )
    assert post_raw(reordered, "k-1") == (201, first)
    assert post("/invoices", INVOICE) == (200, first)
    assert invoices() == [first["invoice_id"]]
    assert len(records()) == 1


def test_the_header_name_is_matched_in_any_case(apartment: str) -> None:
    status, first = post("/invoices", INVOICE, key="k-case", header="idempotency-key")
    assert status == 201
    assert post("/invoices", INVOICE, key="k-case", header="IDEMPOTENCY-KEY") == (201, first)
    assert post("/invoices", INVOICE, key="k-case", header="Idempotency-Key") == (201, first)


def test_the_same_key_with_another_body_is_422(apartment: str) -> None:
    assert post("/invoices", INVOICE, key="k-2")[0] == 201
    other = {**INVOICE, "period": "2026-12"}
    status, reply = post("/invoices", other, key="k-2")
    assert status == 422
    assert reply["errors"] == [
        {"field": "Idempotency-Key", "error": "was used with another body on this route"}
    ]
    assert len(invoices()) == 1  # nothing ran for it


def test_only_2xx_replies_are_remembered(aws: None) -> None:
    status, reply = post("/invoices", INVOICE, key="k-3")
    assert status == 404 and reply["errors"] == [{"field": "apartment_id", "error": "not found"}]
    assert records() == []
    event = rest_event(
        "PUT", "/apartments/{apartment_id}", {"apartment_id": "apt-7"}, {"label": "7", "resident_id": "r"}
    )
    invoke("billing_api", event)
    status, created = post("/invoices", INVOICE, key="k-3")  # the same key, now that the apartment exists
    assert status == 201
    assert post("/invoices", INVOICE, key="k-3") == (201, created)
    conflicting = {**INVOICE, "items": [{**ITEM, "count": 3}]}
    assert post("/invoices", conflicting, key="k-4")[0] == 409
    assert post("/invoices", conflicting, key="k-4")[0] == 409  # ran again, not replayed from a record
    assert len(records()) == 1


def test_replies_are_remembered_for_24_hours(apartment: str) -> None:
    post("/invoices", INVOICE, key="k-5")
    (record,) = records()
    assert record["status"]["S"] == "COMPLETED"
    assert 24 * 3600 - 60 <= int(record["expiration"]["N"]) - time.time() <= 24 * 3600


def test_the_key_is_scoped_to_the_route(apartment: str) -> None:
    status, invoice = post("/invoices", INVOICE, key="k-6")
    assert status == 201
    status, cancelled = post("/invoices/{invoice_id}/cancel", key="k-6", invoice_id=invoice["invoice_id"])
    assert status == 200 and cancelled["status"] == "cancelled"
    assert post("/invoices/{invoice_id}/cancel", key="k-6", invoice_id=invoice["invoice_id"]) == (
        200,
        cancelled,
    )
    assert len(records()) == 2


def test_a_cancel_replays_its_first_reply(apartment: str) -> None:
    _, invoice = post("/invoices", INVOICE)
    status, first = post("/invoices/{invoice_id}/cancel", key="c-1", invoice_id=invoice["invoice_id"])
    assert status == 200
    # A different body on a route that takes none is still another body for the key.
    status, _ = post("/invoices/{invoice_id}/cancel", {"x": 1}, key="c-1", invoice_id=invoice["invoice_id"])
    assert status == 422
    assert post("/invoices/{invoice_id}/cancel", key="c-1", invoice_id=invoice["invoice_id"]) == (200, first)


@pytest.mark.parametrize("key", ["", "x" * 256])
def test_an_empty_or_overlong_key_is_422(apartment: str, key: str) -> None:
    status, reply = post("/invoices", INVOICE, key=key)
    assert status == 422 and [e["field"] for e in reply["errors"]] == ["Idempotency-Key"]
    assert invoices() == []


@pytest.fixture
def held_route(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """POST /invoices blocks inside the route until released: a first request that is still in flight."""
    entered, release = threading.Event(), threading.Event()
    original = Billing.put_invoice

    def held(self: Billing, *args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(10)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Billing, "put_invoice", held)
    yield entered, release
    release.set()


def test_a_duplicate_while_the_first_is_in_flight_is_409(
    apartment: str, held_route: tuple[threading.Event, threading.Event]
) -> None:
    entered, release = held_route
    first: list[tuple[int, Any]] = []
    runner = threading.Thread(target=lambda: first.append(post("/invoices", INVOICE, key="k-7")))
    runner.start()
    assert entered.wait(10)
    status, reply = post("/invoices", INVOICE, key="k-7")
    assert status == 409
    assert reply["errors"][0]["field"] == "Idempotency-Key" and "in progress" in reply["message"]
    release.set()
    runner.join(10)
    assert first[0][0] == 201
    assert post("/invoices", INVOICE, key="k-7") == first[0]
    assert len(invoices()) == 1


def test_without_the_header_nothing_is_recorded(apartment: str) -> None:
    assert post("/invoices", INVOICE)[0] == 201
    assert post("/invoices", INVOICE)[0] == 200
    assert records() == []
