"""ClickReversalFunction: queued reversals refunded through a fake Click Merchant API on 127.0.0.1."""

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.click_support import SECRET, ClickStack, click_stack, complete_form, next_trans_id, prepare_form
from tests.support import FakeContext, load_handler
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.store.click_models import ClickTransaction


@dataclass
class FakeClick:
    """Answers DELETE /payment/reversal/{service_id}/{payment_id} like Click; records what it got."""

    status: int = 200
    error_code: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def serve(self) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_DELETE(self) -> None:
                fake.requests.append({"path": self.path, "auth": self.headers.get("Auth")})
                payment_id = int(self.path.rstrip("/").split("/")[-1])
                reply = {"error_code": fake.error_code, "error_note": "x", "payment_id": payment_id}
                body = json.dumps(reply)
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}/v2/merchant"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def click() -> Iterator[FakeClick]:
    fake = FakeClick()
    server = fake.serve()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def stack(
    aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch, click: FakeClick
) -> Iterator[ClickStack]:
    with click_stack(local_config, monkeypatch, CLICK_MERCHANT_API_URL=click.url) as stack:
        yield stack


def queued_reversal(stack: ClickStack) -> tuple[str, dict[str, Any]]:
    """A Complete the ledger refuses (the invoice's unpaid amount changed under the reservation)."""
    invoice_id = stack.invoice(1_500_000)
    ledger = Ledger()
    ledger.post_to_apartment(PaymentKey("payme", "partial"), "apt-1", 500_000)
    ctid = next_trans_id()
    pid = stack.prepare(prepare_form(ctid, invoice_id, "10000"))["merchant_prepare_id"]
    ledger.reverse(PaymentKey("payme", "partial"), reason="refund")
    assert stack.complete(complete_form(ctid, invoice_id, "10000", pid, paydoc_id="1574969493"))["error"] == 0
    [message] = stack.reversal_messages()
    return ctid, message


def sqs_event(*bodies: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"r-{i}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ClickReversalQueue",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def run(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = load_handler("click_reversal").lambda_handler(event, FakeContext())
    return result


def test_a_queued_reversal_is_refunded_through_click_once(stack: ClickStack, click: FakeClick) -> None:
    ctid, message = queued_reversal(stack)
    assert run(sqs_event(message)) == {"batchItemFailures": []}

    [request] = click.requests
    assert request["path"] == "/v2/merchant/payment/reversal/12345/1574969493"
    user, digest, timestamp = request["auth"].split(":")
    assert user == "777" and digest == hashlib.sha1(f"{timestamp}{SECRET}".encode()).hexdigest()
    row = ClickTransaction.get(f"click#{ctid}")
    assert row.state == "reversed" and row.reversed_at is not None

    # SQS delivers at least once: a second delivery does not call Click again.
    assert run(sqs_event(message)) == {"batchItemFailures": []}
    assert len(click.requests) == 1


def test_a_click_failure_is_retried_by_sqs(stack: ClickStack, click: FakeClick) -> None:
    ctid, message = queued_reversal(stack)
    click.status = 500
    assert run(sqs_event(message)) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed_unposted"
    click.status, click.error_code = 200, -5
    assert run(sqs_event(message)) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    click.error_code = 0
    assert run(sqs_event(message)) == {"batchItemFailures": []}
    assert ClickTransaction.get(f"click#{ctid}").state == "reversed"


def test_a_delivered_payment_is_never_reversed_whatever_the_message_says(
    stack: ClickStack, click: FakeClick
) -> None:
    account = stack.apartment("apt-2")
    ctid = next_trans_id()
    pid = stack.prepare(prepare_form(ctid, account, "1000"))["merchant_prepare_id"]
    assert stack.complete(complete_form(ctid, account, "1000", pid))["error"] == 0
    forged = {"click_trans_id": ctid, "click_paydoc_id": "1", "merchant_trans_id": account, "amount": 100_000}
    unknown = {**forged, "click_trans_id": next_trans_id()}
    _, real = queued_reversal(stack)
    wrong_amount = {**real, "amount": real["amount"] + 1}

    assert run(sqs_event(forged, unknown, wrong_amount)) == {"batchItemFailures": []}
    assert click.requests == []
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed"


def test_a_malformed_message_fails_alone(stack: ClickStack, click: FakeClick) -> None:
    _, message = queued_reversal(stack)
    result = run(sqs_event({"amount": "10000.00"}, message))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert len(click.requests) == 1
