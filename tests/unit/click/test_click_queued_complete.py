"""The queued Complete on the in-memory fakes: the shop's decisions when the store is down and when a
queued Complete is settled (ClickShop.redo), the consumer's handling of each outcome, the message, and
the send's time bound."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from tests.click_support import SECRET, SERVICE_ID, complete_form, next_trans_id, prepare_form
from tests.fakes import FakeClickRepository, FakeCompleteQueue, FakeLedger, FakeReversalQueue
from tolov.click import complete_gateway
from tolov.click.complete_queue import QueuedComplete, SqsCompleteQueue
from tolov.click.request import Action
from tolov.click.shop_api import ClickShop
from tolov.store.engine import StoreUnavailable


class Core:
    def __init__(self) -> None:
        self.ledger = FakeLedger()
        self.repository = FakeClickRepository(self.ledger)
        self.reversals = FakeReversalQueue()
        self.completes = FakeCompleteQueue()
        self.shop = ClickShop(
            self.repository,
            self.reversals,
            service_id=SERVICE_ID,
            secret_key=lambda: SECRET,
            completes=self.completes,
        )
        self.ledger.put_apartment("apt-1", "Flat", "resident-1")
        self.down = False
        reads = self.repository.get

        def get(click_trans_id: str) -> Any:
            if self.down:
                raise StoreUnavailable("ThrottlingException")
            return reads(click_trans_id)

        self.repository.get = get  # type: ignore[method-assign]

    def prepare(self, fields: dict[str, str]) -> dict[str, Any]:
        return self.shop.handle(fields, Action.PREPARE).reply

    def complete(self, fields: dict[str, str]) -> dict[str, Any]:
        return self.shop.handle(fields, Action.COMPLETE).reply

    def queued_while_down(self, fields: dict[str, str]) -> dict[str, Any]:
        self.down = True
        try:
            reply = self.complete(fields)
        finally:
            self.down = False
        return reply

    def settle(self, message: dict[str, Any]) -> None:
        complete_gateway.settle(self.shop, SQSRecord({"messageId": "m-1", "body": json.dumps(message)}))

    def state(self, click_trans_id: str) -> str:
        row = self.repository.record(click_trans_id)
        assert row is not None
        return row.state


@pytest.fixture
def core() -> Iterator[Core]:
    yield Core()


def test_a_complete_while_the_store_is_down_is_queued_without_its_signature(core: Core) -> None:
    ctid = next_trans_id()
    pid = core.prepare(prepare_form(ctid, "apt-1", "20000"))["merchant_prepare_id"]
    fields = complete_form(ctid, "apt-1", "20000", pid)
    reply = core.queued_while_down(fields)
    assert reply == {
        "click_trans_id": int(ctid),
        "merchant_trans_id": "apt-1",
        "merchant_confirm_id": pid,
        "error": 0,
        "error_note": "Success",
    }
    [message] = core.completes.messages()
    assert message["kind"] == "click.complete" and len(message["token"]) == 32
    assert message["fields"] == {k: v for k, v in fields.items() if k != "sign_string"}
    assert core.state(ctid) == "prepared" and core.ledger.balance("apt-1").credit == 0
    core.settle(message)
    assert core.state(ctid) == "confirmed" and core.ledger.balance("apt-1").credit == 2_000_000


@pytest.mark.parametrize("error", ["-5017", "-1"])
def test_a_cancelling_complete_is_never_queued(core: Core, error: str) -> None:
    """Only a debit (error 0) must not fail; a cancellation meeting a down store is -7, as before."""
    ctid = next_trans_id()
    pid = core.prepare(prepare_form(ctid, "apt-1", "20000"))["merchant_prepare_id"]
    assert core.queued_while_down(complete_form(ctid, "apt-1", "20000", pid, error=error))["error"] == -7
    assert core.completes.messages() == []


def test_prepare_is_never_queued(core: Core) -> None:
    core.down = True
    assert core.prepare(prepare_form(next_trans_id(), "apt-1", "20000"))["error"] == -7
    assert core.completes.messages() == []


def test_a_bad_signature_is_refused_before_anything_is_queued(core: Core) -> None:
    ctid = next_trans_id()
    assert core.queued_while_down(complete_form(ctid, "apt-1", "20000", 5, bad_sign=True))["error"] == -1
    assert core.completes.messages() == []


def test_a_queued_complete_whose_amount_is_not_the_prepares_is_reversed(core: Core) -> None:
    """Live, this Complete would get -2; Click was told 0, so the debit is refunded instead."""
    ctid = next_trans_id()
    pid = core.prepare(prepare_form(ctid, "apt-1", "20000"))["merchant_prepare_id"]
    core.queued_while_down(complete_form(ctid, "apt-1", "30000", pid))
    [message] = core.completes.messages()
    core.settle(message)
    assert core.state(ctid) == "confirmed_unposted"
    assert core.ledger.balance("apt-1").credit == 0
    [reversal] = core.reversals.messages()
    assert (reversal["click_trans_id"], reversal["reason"]) == (ctid, "amount differs from the Prepare's")


def test_a_reversal_the_queue_refused_fails_the_message_and_its_redelivery_queues_it(core: Core) -> None:
    ctid = next_trans_id()
    pid = core.prepare(prepare_form(ctid, "apt-1", "20000"))["merchant_prepare_id"]
    core.queued_while_down(complete_form(ctid, "apt-1", "30000", pid))
    [message] = core.completes.messages()
    core.reversals.failure = ConnectionError("sqs down")
    with pytest.raises(complete_gateway.NotSettled):
        core.settle(message)
    assert core.state(ctid) == "confirmed_unposted" and core.reversals.messages() == []
    core.reversals.failure = None
    core.settle(message)  # the same token: the unposted mark is recognised as this request's own
    assert [r["click_trans_id"] for r in core.reversals.messages()] == [ctid]


def test_a_store_still_down_fails_the_message(core: Core) -> None:
    ctid = next_trans_id()
    pid = core.prepare(prepare_form(ctid, "apt-1", "20000"))["merchant_prepare_id"]
    core.queued_while_down(complete_form(ctid, "apt-1", "20000", pid))
    [message] = core.completes.messages()
    core.down = True
    with pytest.raises(StoreUnavailable):
        core.settle(message)
    assert core.state(ctid) == "prepared"


@pytest.mark.parametrize(
    "message",
    [
        {"kind": "something else", "fields": {}, "token": "t", "received_at": 0},
        {"kind": "click.complete", "fields": {"click_trans_id": "1"}, "token": "t", "received_at": 0},
    ],
)
def test_a_message_that_is_not_a_queued_complete_is_refused_before_any_read(
    core: Core, message: dict[str, Any]
) -> None:
    core.down = True  # nothing may be read: a read would raise StoreUnavailable instead
    with pytest.raises(ValueError):
        core.settle(message)


def test_the_send_is_bounded_to_short_time_outs_and_one_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    queue = SqsCompleteQueue("https://sqs.us-east-1.amazonaws.com/123456789012/ClickCompleteQueue")
    config = queue._sqs().meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 1)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}


def test_an_unconfigured_queue_fails_the_send() -> None:
    queued = QueuedComplete(fields={}, token="t", received_at=0)
    with pytest.raises(RuntimeError):
        SqsCompleteQueue("").enqueue(queued)
