"""After Click has debited the payer (Complete, error 0, live attempt) we never answer with an error of ours.

- a posting the ledger refuses for good: success, the attempt records why, a reversal is queued on SQS
  (ids and amount only), a metric and a structured log event say so;
- a store failure (throttling, contention): -7 only when nothing of ours was written and the Complete
  could not be queued either (test_click_complete_queue.py: queued, answered 0); when our write landed
  but its reply was lost, success.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from tests.click_support import (
    NO_QUEUE,
    ClickStack,
    click_stack,
    complete_form,
    metric_names,
    next_trans_id,
    prepare_form,
)
from tolov.billing.errors import LedgerContention
from tolov.billing.keys import PaymentKey
from tolov.billing.ledger import Ledger
from tolov.money import sum_str_to_tiyin
from tolov.store import models as store_models
from tolov.store.click_models import ClickTransaction
from tolov.store.models import Invoice, Posting

SECRET = "local-click-secret"


@pytest.fixture
def unqueued(
    aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ClickStack]:
    """The Click function whose ClickCompleteQueue does not answer either: nothing can be recorded."""
    with click_stack(local_config, monkeypatch, CLICK_COMPLETE_QUEUE_URL=NO_QUEUE) as stack:
        yield stack


def log_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The function's log records with their structured fields (what Powertools writes as JSON)."""
    return [{"message": r.getMessage(), "level": r.levelname, **r.__dict__} for r in caplog.records]


def invoice_whose_unpaid_amount_changes_under_the_reservation(stack: ClickStack) -> tuple[str, str, int]:
    """An invoice partly paid by an apartment payment that is reversed after Click reserved the rest:
    the reserved amount no longer matches when Click's Complete arrives."""
    invoice_id = stack.invoice(1_500_000)
    ledger = Ledger()
    ledger.post_to_apartment(PaymentKey("payme", "partial-1"), "apt-1", 500_000)
    ctid = next_trans_id()
    prepared = stack.prepare(prepare_form(ctid, invoice_id, "10000.00"))
    assert prepared["error"] == 0
    ledger.reverse(PaymentKey("payme", "partial-1"), reason="refund")
    return invoice_id, ctid, prepared["merchant_prepare_id"]


def test_a_refused_posting_is_answered_with_success_and_queued_for_reversal(
    stack: ClickStack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    invoice_id, ctid, pid = invoice_whose_unpaid_amount_changes_under_the_reservation(stack)
    capsys.readouterr()
    caplog.clear()

    fields = complete_form(ctid, invoice_id, "10000.00", pid, paydoc_id="1574969493")
    reply = stack.complete(fields)

    assert (reply["error"], reply["merchant_confirm_id"]) == (0, pid)
    row = ClickTransaction.get(f"click#{ctid}")
    assert row.state == "confirmed_unposted"
    assert row.reason == "amount no longer matches the invoice (unpaid 1500000)"
    assert Invoice.get(invoice_id).active_payment is None  # the invoice is payable again
    with pytest.raises(Posting.DoesNotExist):
        Posting.get(f"click#{ctid}")
    assert stack.reversal_messages() == [
        {
            "click_trans_id": ctid,
            "click_paydoc_id": "1574969493",
            "merchant_trans_id": invoice_id,
            "amount": 1_000_000,
            "amount_sum": "10000.00",
            "reason": "amount no longer matches the invoice (unpaid 1500000)",
        }
    ]
    output = capsys.readouterr().out
    assert "ClickReversalQueued" in metric_names(output)
    event = next(r for r in log_events(caplog) if r.get("event") == "ClickReversalQueued")
    assert (event["click_trans_id"], event["amount"], event["level"]) == (ctid, 1_000_000, "WARNING")
    everything = output + repr(log_events(caplog))
    assert SECRET not in everything and fields["sign_string"] not in everything

    # Click retrying or cancelling the delivered-then-refused payment changes nothing more.
    assert stack.complete(fields)["error"] == -4
    assert stack.complete(complete_form(ctid, invoice_id, "10000.00", pid, error="-5017"))["error"] == -4
    assert stack.reversal_messages() == []
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed_unposted"


def test_a_queue_failure_still_answers_success_and_says_loudly_what_to_refund(
    aws: None,
    local_config: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with click_stack(local_config, monkeypatch, CLICK_REVERSAL_QUEUE_URL=NO_QUEUE) as stack:
        invoice_id, ctid, pid = invoice_whose_unpaid_amount_changes_under_the_reservation(stack)
        capsys.readouterr()
        assert stack.complete(complete_form(ctid, invoice_id, "10000.00", pid))["error"] == 0
    assert "ClickReversalQueueFailed" in metric_names(capsys.readouterr().out)
    event = next(r for r in log_events(caplog) if r.get("event") == "ClickReversalQueueFailed")
    assert event["level"] == "ERROR" and event["click_trans_id"] == ctid
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed_unposted"


def _throttle_transactions(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """DynamoDB throttles the next `times` TransactWriteItems (no write happens)."""
    calls = [0]

    def throttled(**_: Any) -> Any:
        if calls[0] >= times:
            return None
        calls[0] += 1
        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        return AWSResponse("https://dynamodb", 400, {}, None), error

    events = store_models.connection().client.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", throttled, unique_id="click-test-throttle")
    return calls


LOST_REPLY_HOOKS = (
    ("before-call.dynamodb.TransactWriteItems", "click-test-throttle"),
    ("after-call.dynamodb.TransactWriteItems", "click-test-lost-reply"),
    ("before-send", "click-test-lost-reply-in-botocore"),
    ("before-call.dynamodb.TransactWriteItems", "click-test-lost-before-sending"),
)


@pytest.fixture
def unregister() -> Iterator[None]:
    yield
    events = store_models.connection().client.meta.events
    for event, unique_id in LOST_REPLY_HOOKS:
        events.unregister(event, unique_id=unique_id)


def _lose_reply_inside_botocore(landed: Callable[[], bool]) -> list[int]:
    """The ledger's next TransactWriteItems reaches DynamoDB and is applied, then its reply is lost (a read
    timeout inside botocore's send loop): botocore itself sends it again, and that copy fails its conditions.

    moto answers in its own before-send handler, registered when the client was made; this one runs after it,
    so the write has landed when the reply is dropped (checked through another connection)."""
    sends = [0, 0]  # sends seen, replies dropped

    def drop(request: Any, **_: Any) -> None:
        if "TransactWriteItems" not in str(request.headers.get("X-Amz-Target", "")):
            return
        sends[0] += 1
        if sends[1] == 0:
            assert landed(), "the write must have landed before its reply is dropped"
            sends[1] += 1
            raise ReadTimeoutError(endpoint_url="https://dynamodb")

    events = store_models.connection().client.meta.events
    events.register("before-send", drop, unique_id="click-test-lost-reply-in-botocore")
    return sends


def _lose_reply_after_botocore() -> list[int]:
    """The ledger's next TransactWriteItems lands and botocore gives up on its reply: the timeout reaches our
    code as a store failure, and the shop's own second round meets the write."""
    lost = [0]

    def reply_lost(**_: Any) -> None:
        if lost[0] == 0:
            lost[0] += 1
            raise ReadTimeoutError(endpoint_url="https://dynamodb")

    events = store_models.connection().client.meta.events
    events.register("after-call.dynamodb.TransactWriteItems", reply_lost, unique_id="click-test-lost-reply")
    return lost


def test_throttling_answers_minus_7_with_nothing_written_and_the_retry_delivers(
    unqueued: ClickStack, monkeypatch: pytest.MonkeyPatch, unregister: None
) -> None:
    stack = unqueued
    invoice_id = stack.invoice(1_500_000)
    ctid = next_trans_id()
    pid = stack.prepare(prepare_form(ctid, invoice_id, "15000.00"))["merchant_prepare_id"]
    fields = complete_form(ctid, invoice_id, "15000.00", pid)

    calls = _throttle_transactions(monkeypatch, times=10)
    assert stack.complete(fields)["error"] == -7
    assert calls[0] >= 1
    assert ClickTransaction.get(f"click#{ctid}").state == "prepared"
    assert Invoice.get(invoice_id).status == "open"
    with pytest.raises(Posting.DoesNotExist):
        Posting.get(f"click#{ctid}")

    calls[0] = 10**6  # throttling over: Click's retry goes through
    assert stack.complete(fields)["error"] == 0
    assert Invoice.get(invoice_id).status == "paid"


def _posted(ctid: str) -> Callable[[], bool]:
    def posted() -> bool:
        try:
            Posting.get(f"click#{ctid}", consistent_read=True)
        except Posting.DoesNotExist:
            return False
        return True

    return posted


@pytest.mark.parametrize("account_kind", ["invoice", "apartment"])
def test_a_confirm_that_landed_while_botocore_resent_it_is_answered_with_success(
    stack: ClickStack, unregister: None, account_kind: str
) -> None:
    """The resent copy fails its conditions, so the ledger reports the posting as existing already: it is
    this request's own, and the first Complete of a debit answers 0, never -4."""
    invoice_id = stack.invoice(1_500_000)
    account, amount = (invoice_id, "15000.00") if account_kind == "invoice" else ("apt-1", "20000")
    ctid = next_trans_id()
    pid = stack.prepare(prepare_form(ctid, account, amount))["merchant_prepare_id"]
    fields = complete_form(ctid, account, amount, pid)
    sends = _lose_reply_inside_botocore(_posted(ctid))

    reply = stack.complete(fields)
    assert sends[1] == 1 and sends[0] >= 2  # dropped once, and botocore sent it again
    assert (reply["error"], reply["merchant_confirm_id"]) == (0, pid)
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed"
    assert int(Posting.get(f"click#{ctid}").amount) == sum_str_to_tiyin(amount)
    # Click's own retry of the same Complete is a repeat.
    assert stack.complete(fields)["error"] == -4


def test_a_write_that_landed_although_its_reply_was_lost_is_answered_with_success(
    stack: ClickStack, unregister: None
) -> None:
    invoice_id = stack.invoice(1_500_000)
    ctid = next_trans_id()
    pid = stack.prepare(prepare_form(ctid, invoice_id, "15000.00"))["merchant_prepare_id"]
    lost = _lose_reply_after_botocore()

    reply = stack.complete(complete_form(ctid, invoice_id, "15000.00", pid))
    assert lost[0] == 1
    assert (reply["error"], reply["merchant_confirm_id"]) == (0, pid)
    assert Invoice.get(invoice_id).status == "paid"
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed"


@pytest.mark.parametrize("where", ["inside botocore", "after botocore"])
def test_an_unposted_mark_that_landed_although_its_reply_was_lost_still_queues_the_reversal(
    stack: ClickStack, unregister: None, where: str
) -> None:
    invoice_id, ctid, pid = invoice_whose_unpaid_amount_changes_under_the_reservation(stack)
    if where == "inside botocore":

        def marked() -> bool:
            return bool(
                ClickTransaction.get(f"click#{ctid}", consistent_read=True).state == "confirmed_unposted"
            )

        _lose_reply_inside_botocore(marked)
    else:
        _lose_reply_after_botocore()

    reply = stack.complete(complete_form(ctid, invoice_id, "10000.00", pid))
    assert (reply["error"], reply["merchant_confirm_id"]) == (0, pid)
    assert ClickTransaction.get(f"click#{ctid}").state == "confirmed_unposted"
    assert [m["click_trans_id"] for m in stack.reversal_messages()] == [ctid]


def test_a_lost_reply_is_not_mistaken_for_a_concurrent_duplicates_success(
    stack: ClickStack, unregister: None
) -> None:
    """Our confirm fails before it is sent (the error looks like a lost reply) while Click's duplicate of the
    same Complete confirms the attempt: that success is the duplicate's; ours is a repeat."""
    invoice_id = stack.invoice(1_500_000)
    ctid = next_trans_id()
    pid = stack.prepare(prepare_form(ctid, invoice_id, "15000.00"))["merchant_prepare_id"]
    fields = complete_form(ctid, invoice_id, "15000.00", pid)
    duplicate: list[dict[str, Any]] = []

    def duplicate_wins_then_we_time_out(**_: Any) -> None:
        if not duplicate:
            duplicate.append({})  # the duplicate's own write goes through
            duplicate[0] = stack.complete(fields)
            raise ReadTimeoutError(endpoint_url="https://dynamodb")

    events = store_models.connection().client.meta.events
    events.register(
        "before-call.dynamodb.TransactWriteItems",
        duplicate_wins_then_we_time_out,
        unique_id="click-test-lost-before-sending",
    )

    ours = stack.complete(fields)
    assert duplicate[0]["error"] == 0
    assert (ours["error"], ours["merchant_confirm_id"]) == (-4, pid)
    assert list(Invoice.get(invoice_id).payments.as_dict()) == [f"click#{ctid}"]


def test_ledger_contention_answers_minus_7_without_partial_state(
    unqueued: ClickStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = unqueued
    invoice_id = stack.invoice(1_500_000)
    ctid = next_trans_id()
    pid = stack.prepare(prepare_form(ctid, invoice_id, "15000.00"))["merchant_prepare_id"]

    def contended(self: Ledger, key: PaymentKey, *args: Any, **kwargs: Any) -> Any:
        raise LedgerContention(str(key))

    monkeypatch.setattr(Ledger, "post_to_invoice", contended)
    assert stack.complete(complete_form(ctid, invoice_id, "15000.00", pid))["error"] == -7
    assert ClickTransaction.get(f"click#{ctid}").state == "prepared"
    assert Invoice.get(invoice_id).active_payment == f"click#{ctid}"


def test_an_unexpected_failure_is_still_a_json_reply(
    stack: ClickStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.support import load_handler
    from tolov.settings import get_settings

    monkeypatch.setenv("CLICK_SECRET_KEY_SECRET_ARN", "NoSuchSecret")
    get_settings.cache_clear()
    load_handler("click_shop", fresh=True)  # a new container, wired with the broken setting
    account = stack.apartment()
    ctid = next_trans_id()
    status, body = stack.call("/click/prepare", _encode(prepare_form(ctid, account, "1000")))
    assert status == 200
    assert body == {
        "click_trans_id": int(ctid),
        "merchant_trans_id": account,
        "merchant_prepare_id": None,
        "error": -7,
        "error_note": "Failed to update user",
    }
    assert "ClickInternalError" in metric_names(capsys.readouterr().out)
    assert any(r["message"] == "click request failed" and r["level"] == "ERROR" for r in log_events(caplog))


def _encode(fields: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(fields)
