"""DynamoDB calls per Payme and Click request, counted at botocore: a change that adds a read to a hot
path fails here (the figures and why each call stays: bench/payme_merchant.py, bench/click_shop.py)."""

from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest

from tests.click_support import next_trans_id
from tests.payme_harness import Harness, make_harness
from tests.unit.click.test_click_decisions import DYNAMODB
from tests.unit.click.test_click_decisions import Harness as ClickHarness
from tolov.click.errors import ShopError


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The DynamoDB operations botocore is asked to make, in order (cleared by the test when it starts
    the request it counts)."""
    seen: list[str] = []
    make_api_call = botocore.client.BaseClient._make_api_call

    def recorded(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            seen.append(operation)
        return make_api_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
    yield seen


@pytest.fixture
def payme(aws: None) -> Harness:
    return make_harness()


def counted(calls: list[str], request: Any) -> list[str]:
    calls.clear()
    request()
    return sorted(calls)


# ---------------------------------------------------------------------- Payme
def test_payme_invoice_create_perform_cancel(payme: Harness, calls: list[str]) -> None:
    invoice_id, amount = payme.invoice()
    order = {"order_id": invoice_id}
    assert counted(calls, lambda: payme.create("a1", amount, order)) == ["GetItem", "TransactWriteItems"]
    perform = counted(calls, lambda: payme.result("PerformTransaction", {"id": "a1"}))
    assert perform == ["GetItem", "GetItem", "TransactWriteItems"]  # the transaction, its invoice
    cancel = counted(calls, lambda: payme.result("CancelTransaction", {"id": "a1", "reason": 5}))
    assert cancel == ["GetItem", "GetItem", "TransactWriteItems"]  # the transaction, its posting


def test_payme_new_id_on_a_busy_invoice_reads_twice(payme: Harness, calls: list[str]) -> None:
    invoice_id, amount = payme.invoice()
    order = {"order_id": invoice_id}
    assert "result" in payme.create("a1", amount, order)
    busy = counted(calls, lambda: payme.error("CreateTransaction", _create("a2", amount, order, payme)))
    assert busy == ["BatchGetItem", "GetItem"]  # the invoice; the holder and this id together


def test_payme_cancel_before_perform_writes_without_reading_the_invoice(
    payme: Harness, calls: list[str]
) -> None:
    invoice_id, amount = payme.invoice()
    assert "result" in payme.create("a1", amount, {"order_id": invoice_id})
    cancel = counted(calls, lambda: payme.result("CancelTransaction", {"id": "a1", "reason": 3}))
    assert cancel == ["GetItem", "TransactWriteItems"]


def test_payme_apartment_check_create_perform(payme: Harness, calls: list[str]) -> None:
    payme.invoice()
    flat = {"apartment_id": "apt-1"}
    check = counted(
        calls, lambda: payme.result("CheckPerformTransaction", {"amount": 1_000_000, "account": flat})
    )
    assert check == ["GetItem", "Query"]  # the apartment once, its open charges
    assert counted(calls, lambda: payme.create("b1", 1_000_000, flat)) == ["GetItem", "PutItem"]
    # A part of the oldest charge: its invoice stays open, so it is added to without being read.
    perform = counted(calls, lambda: payme.result("PerformTransaction", {"id": "b1"}))
    assert perform == ["GetItem", "Query", "TransactWriteItems"]


def _create(payme_id: str, amount: int, account: dict[str, Any], h: Harness) -> dict[str, Any]:
    return {"id": payme_id, "time": h.clock.now, "amount": amount, "account": account}


# ---------------------------------------------------------------------- Click
def test_click_invoice_prepare_complete(aws: None, calls: list[str]) -> None:
    click = ClickHarness(DYNAMODB)
    ctid = next_trans_id()
    prepare = counted(calls, lambda: _ok(click.prepare(ctid)))
    assert prepare == ["GetItem", "GetItem", "TransactWriteItems"]  # the attempt, the invoice; no counter
    pid = _ok(click.prepare(ctid)).reply["merchant_prepare_id"]
    complete = counted(calls, lambda: _ok(click.complete(ctid, pid)))
    assert complete == ["GetItem", "GetItem", "TransactWriteItems"]  # the attempt, the invoice


def test_click_cancel_drops_the_reservation_without_reading_the_invoice(
    aws: None, calls: list[str]
) -> None:
    click = ClickHarness(DYNAMODB)
    ctid, pid = click.prepared()
    cancel = counted(calls, lambda: click.complete(ctid, pid, error="-5017"))
    assert cancel == ["GetItem", "GetItem", "TransactWriteItems"]


def test_click_apartment_complete(aws: None, calls: list[str]) -> None:
    click = ClickHarness(DYNAMODB)
    ctid, pid = click.prepared("apt-1", "1000")
    complete = counted(calls, lambda: _ok(click.complete(ctid, pid, "apt-1", "1000")))
    assert complete == ["GetItem", "GetItem", "Query", "TransactWriteItems"]  # attempt, apartment


def _ok(result: Any) -> Any:
    assert result.error == ShopError.SUCCESS, result.reply
    return result

