"""What the Payme merchant does on DynamoDB itself (moto): a failing DynamoDB is -32400 and leaves nothing
half-written, and GetStatement is served by the by_day index. The protocol's own rules are tested on the
in-memory fakes in tests/unit/payme."""

import json
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError
from pynamodb.connection.base import Connection

from tests.payme_harness import Harness, auth_header, ms, populate_statement
from tolov.billing.ledger import Ledger
from tolov.payme.merchant_api import PaymeRequest

PID = "5305e3bab097f420a62ced0b"


# ---------------------------------------------------------------------- system errors
@pytest.fixture
def failing_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Operations put in the returned set fail the way DynamoDB fails when it is having a bad day."""
    failing: set[str] = set()
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb" and operation_name in failing:
            error = {"Error": {"Code": "InternalServerError", "Message": "injected"}}
            raise ClientError(error, operation_name)  # type: ignore[arg-type]
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    yield failing


def test_create_during_a_dynamodb_failure_is_32400_and_leaves_nothing(
    harness: Harness, failing_dynamodb: set[str]
) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    failing_dynamodb.add("TransactWriteItems")
    assert h.create(PID, amount, {"order_id": invoice_id})["error"]["code"] == -32400
    failing_dynamodb.clear()
    assert h.repo.get(PID) is None
    assert h.repo.invoice(invoice_id).holder is None
    # Payme's retry starts clean and succeeds.
    assert h.create(PID, amount, {"order_id": invoice_id})["result"]["state"] == 1


def test_perform_during_a_dynamodb_failure_is_32400_and_posts_nothing(
    harness: Harness, failing_dynamodb: set[str]
) -> None:
    h = harness
    invoice_id, amount = h.invoice()
    h.create(PID, amount, {"order_id": invoice_id})
    failing_dynamodb.add("TransactWriteItems")
    assert h.call("PerformTransaction", {"id": PID})["error"]["code"] == -32400
    failing_dynamodb.clear()
    assert h.repo.get(PID).state == 1  # type: ignore[union-attr]
    assert Ledger.posting(f"payme#{PID}") is None
    assert h.repo.invoice(invoice_id).status == "open"
    assert h.result("PerformTransaction", {"id": PID})["state"] == 2


@pytest.mark.parametrize(
    ("operation", "method"),
    [("GetItem", "CheckTransaction"), ("Query", "GetStatement"), ("UpdateItem", "SetFiscalData")],
)
def test_read_and_write_failures_are_32400(
    harness: Harness, failing_dynamodb: set[str], operation: str, method: str
) -> None:
    params = {
        "CheckTransaction": {"id": PID},
        "GetStatement": {"from": harness.clock.now, "to": harness.clock.now},
        "SetFiscalData": {"id": PID, "type": "CANCEL", "fiscal_data": {"receipt_id": 1}},
    }[method]
    failing_dynamodb.add(operation)
    reply = harness.call(method, params)
    assert reply["error"]["code"] == -32400
    assert set(reply["error"]["message"]) == {"ru", "uz", "en"}


def test_outcome_carries_the_failure_for_the_log(harness: Harness, failing_dynamodb: set[str]) -> None:
    failing_dynamodb.add("GetItem")
    body = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": PID}})
    outcome = harness.merchant.handle(PaymeRequest(body, auth_header()))
    assert outcome.error_code == -32400 and outcome.method == "CheckTransaction"
    assert outcome.failure is not None


# ---------------------------------------------------------------------- GetStatement
@pytest.fixture
def populated(harness: Harness) -> Iterator[tuple[Harness, dict[str, int]]]:
    """Transactions on both sides of two midnights, in every state."""
    yield harness, populate_statement(harness)


def test_served_by_the_day_index_one_query_per_day(
    populated: tuple[Harness, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, _ = populated
    calls: list[tuple[str, dict[str, Any]]] = []
    original = Connection._make_api_call

    def record(self: Connection, operation: str, kwargs: dict[str, Any]) -> Any:
        calls.append((operation, kwargs))
        return original(self, operation, kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", record)
    h.result("GetStatement", {"from": ms(1, 12), "to": ms(3, 12)})
    assert [op for op, _ in calls] == ["Query", "Query", "Query"]
    assert {kw["IndexName"] for _, kw in calls} == {"by_day"}
