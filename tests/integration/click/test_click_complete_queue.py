"""A Click Complete with error 0 is the one answer that must not fail after a debit (issue 13 §2).

When DynamoDB does not answer (down at the read, throttled at the write, or gone after a write whose
reply was lost) ClickShopFunction queues the verified Complete on ClickCompleteQueue and answers 0 with
the merchant_confirm_id every later answer gives; -7 only when that queue fails too. ClickCompleteFunction
then posts it exactly once (a redelivery, a duplicate Complete from Click, a webhook retry racing it: one
posting), or hands it to ClickReversalQueue when the attempt was cancelled or superseded meanwhile.
Faults come from tests.faults (botocore hooks on every DynamoDB client; SQS is untouched).
"""

import json

import pytest

from tests.click_support import (
    NO_QUEUE,
    SECRET,
    ClickStack,
    click_stack,
    complete_form,
    metric_names,
    next_trans_id,
    prepare_form,
)
from tests.faults import Faults, inject
from tests.support import together
from tolov.billing.keys import PaymentKey
from tolov.click.attempt import ReversalRequest
from tolov.click.dynamo import DynamoClickRepository
from tolov.click.reversal import ReversalOutcome, ReversalWorker
from tolov.store.click_models import ClickTransaction
from tolov.store.models import Invoice, Posting


def prepared(stack: ClickStack, amount: int = 1_500_000) -> tuple[str, str, int, dict[str, str]]:
    """An open invoice, a prepared Click attempt for it, and the Complete (error 0) Click sends next."""
    invoice_id = stack.invoice(amount)
    ctid = next_trans_id()
    amount_sum = f"{amount // 100}.00"
    reply = stack.prepare(prepare_form(ctid, invoice_id, amount_sum))
    assert reply["error"] == 0
    pid = reply["merchant_prepare_id"]
    return invoice_id, ctid, pid, complete_form(ctid, invoice_id, amount_sum, pid)


def postings(ctid: str) -> list[int]:
    try:
        return [int(Posting.get(f"click#{ctid}", consistent_read=True).amount)]
    except Posting.DoesNotExist:
        return []


def store_down(faults: Faults, where: str) -> None:
    if where == "read":
        faults.outage(3600)  # every DynamoDB call, from the first read
    elif where == "write":
        faults.throttle("TransactWriteItems")  # reads answer, every write is throttled
    else:  # the confirm lands, its reply is lost, and then the store is gone
        faults.reply_lost("TransactWriteItems", retried=False, on_drop=lambda: faults.outage(3600))


@pytest.mark.parametrize("where", ["read", "write", "reply lost"])
def test_a_complete_the_store_cannot_take_is_answered_0_queued_and_posted_once_later(
    stack: ClickStack, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    invoice_id, ctid, pid, fields = prepared(stack)
    capsys.readouterr()
    with inject() as faults:
        store_down(faults, where)
        reply = stack.complete(fields)
    assert (reply["error"], reply["merchant_confirm_id"]) == (0, pid)
    assert reply["click_trans_id"] == int(ctid) and reply["merchant_trans_id"] == invoice_id
    assert "ClickCompleteQueued" in metric_names(capsys.readouterr().out)
    expected_state = "confirmed" if where == "reply lost" else "prepared"  # the lost reply's write landed
    assert ClickTransaction.get(f"click#{ctid}").state == expected_state

    [message] = stack.queued_completes()
    body = json.loads(message["Body"])
    assert body["fields"]["click_trans_id"] == ctid and body["fields"]["merchant_prepare_id"] == str(pid)
    assert "sign_string" not in body["fields"] and fields["sign_string"] not in message["Body"]
    assert SECRET not in message["Body"]

    # DynamoDB is back: the consumer posts it, and a redelivery of the same message changes nothing.
    capsys.readouterr()
    assert stack.settle([message]) == []
    assert "ClickQueuedCompletePosted" in metric_names(capsys.readouterr().out)
    assert stack.settle([message]) == []
    assert postings(ctid) == [1_500_000]
    assert Invoice.get(invoice_id).status == "paid"
    assert list(Invoice.get(invoice_id).payments.as_dict()) == [f"click#{ctid}"]
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed"
    # Click repeating the Complete afterwards is answered as any repeat, with the same confirm id.
    assert (stack.complete(fields)["error"], stack.complete(fields)["merchant_confirm_id"]) == (-4, pid)
    assert stack.reversal_messages() == []


def test_the_consumer_fails_the_message_while_the_store_is_still_down(stack: ClickStack) -> None:
    _invoice_id, ctid, _pid, fields = prepared(stack)
    with inject() as faults:
        faults.outage(3600)
        assert stack.complete(fields)["error"] == 0
        [message] = stack.queued_completes()
        assert stack.settle([message]) == [message["MessageId"]]  # SQS delivers it again
    assert postings(ctid) == []
    assert stack.settle([message]) == []
    assert postings(ctid) == [1_500_000]


def test_the_attempt_superseded_while_queued_is_reversed_exactly_once(stack: ClickStack) -> None:
    """The payer tried again (a new Prepare for the invoice retires this attempt) while our 0 for the first
    debit was queued: that debit is refunded, the new attempt keeps the reservation."""
    invoice_id, ctid, _pid, fields = prepared(stack)
    with inject() as faults:
        faults.outage(3600)
        assert stack.complete(fields)["error"] == 0
    newer = next_trans_id()
    assert stack.prepare(prepare_form(newer, invoice_id, "15000.00"))["error"] == 0
    assert ClickTransaction.get(f"click#{ctid}").state == "cancelled"

    [message] = stack.queued_completes()
    assert stack.settle([message]) == []
    row = ClickTransaction.get(f"click#{ctid}")
    assert row.state == "confirmed_unposted" and row.reason.startswith("cancelled before the queued Complete")
    assert postings(ctid) == []
    invoice = Invoice.get(invoice_id)
    assert invoice.status == "open" and invoice.active_payment == f"click#{newer}"
    reversals = stack.reversal_messages()
    assert [(r["click_trans_id"], r["amount"], r["click_paydoc_id"]) for r in reversals] == [
        (ctid, 1_500_000, fields["click_paydoc_id"])
    ]

    # A redelivery of the queued Complete may queue the reversal again; the refund still happens once.
    assert stack.settle([message]) == []
    reversals += stack.reversal_messages()
    refunds: list[int] = []

    class Click:
        def reverse_payment(self, payment_id: int) -> None:
            refunds.append(payment_id)

    worker = ReversalWorker(DynamoClickRepository(), Click())
    outcomes = [worker.process(ReversalRequest.from_message(r))[0] for r in reversals]
    assert outcomes[0] is ReversalOutcome.REVERSED
    assert set(outcomes[1:]) <= {ReversalOutcome.ALREADY_REVERSED}
    assert refunds == [int(fields["click_paydoc_id"])]


def test_a_prepared_attempt_whose_invoice_another_provider_took_is_reversed(stack: ClickStack) -> None:
    """Superseded without being cancelled: the invoice's reservation went elsewhere (here the invoice is
    then paid by someone else); the queued debit is refunded, nothing is posted."""
    invoice_id, ctid, _pid, fields = prepared(stack)
    with inject() as faults:
        faults.outage(3600)
        assert stack.complete(fields)["error"] == 0
    other = str(PaymentKey("payme", "someone-else"))
    Invoice.get(invoice_id).update(actions=[Invoice.active_payment.set(other)])

    [message] = stack.queued_completes()
    assert stack.settle([message]) == []
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed_unposted"
    assert postings(ctid) == []
    assert Invoice.get(invoice_id).active_payment == other  # not ours to release
    assert [r["click_trans_id"] for r in stack.reversal_messages()] == [ctid]


def test_minus_7_only_when_the_queue_fails_too(
    aws: None,
    local_config: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with click_stack(local_config, monkeypatch, CLICK_COMPLETE_QUEUE_URL=NO_QUEUE) as stack:
        _invoice_id, ctid, _pid, fields = prepared(stack)
        capsys.readouterr()
        with inject() as faults:
            faults.outage(3600)
            assert stack.complete(fields)["error"] == -7
        output = capsys.readouterr().out
        assert {"ClickCompleteQueueFailed", "ClickSystemError"} <= metric_names(output)
        assert ClickTransaction.get(f"click#{ctid}").state == "prepared" and postings(ctid) == []
        assert (stack.complete(fields)["error"], postings(ctid)) == (0, [1_500_000])  # Click's retry


def test_a_duplicate_complete_while_queued_answers_the_same_and_never_posts_twice(stack: ClickStack) -> None:
    invoice_id, ctid, pid, fields = prepared(stack)
    with inject() as faults:
        faults.outage(3600)
        first = stack.complete(fields)
        again = stack.complete(fields)  # still down: queued again, the same answer
    assert first == again and (first["error"], first["merchant_confirm_id"]) == (0, pid)
    # Back up: Click's next duplicate is answered live, with the same confirm id, before any consumer ran.
    live = stack.complete(fields)
    assert (live["error"], live["merchant_confirm_id"]) == (0, pid)
    messages = stack.queued_completes()
    assert len(messages) == 2
    assert stack.settle(messages) == []
    assert postings(ctid) == [1_500_000]
    assert list(Invoice.get(invoice_id).payments.as_dict()) == [f"click#{ctid}"]
    assert stack.reversal_messages() == []


def test_a_webhook_retry_and_the_consumer_at_once_post_once(stack: ClickStack) -> None:
    invoice_id, ctid, pid, fields = prepared(stack)
    with inject() as faults:
        faults.outage(3600)
        assert stack.complete(fields)["error"] == 0
    [message] = stack.queued_completes()

    webhook, failed = together([lambda: stack.complete(fields), lambda: stack.settle([message])])
    assert failed == [] or stack.settle([message]) == []  # a lost race is redelivered and then settles
    assert webhook["error"] in (0, -4) and webhook["merchant_confirm_id"] == pid
    assert postings(ctid) == [1_500_000]
    assert list(Invoice.get(invoice_id).payments.as_dict()) == [f"click#{ctid}"]
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed"


def test_a_queued_complete_naming_no_attempt_is_acknowledged_and_alarmed(
    stack: ClickStack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Signed by Click but for a prepare id we never gave: nothing to post or reverse automatically."""
    invoice_id = stack.invoice(1_500_000)
    ctid = next_trans_id()
    with inject() as faults:
        faults.outage(3600)
        assert stack.complete(complete_form(ctid, invoice_id, "15000.00", 999_999_999))["error"] == 0
    [message] = stack.queued_completes()
    capsys.readouterr()
    assert stack.settle([message]) == []
    assert "ClickQueuedCompleteOrphaned" in metric_names(capsys.readouterr().out)
    [event] = [r for r in caplog.records if getattr(r, "event", None) == "ClickQueuedCompleteOrphaned"]
    assert event.levelname == "ERROR" and event.click_trans_id == ctid
