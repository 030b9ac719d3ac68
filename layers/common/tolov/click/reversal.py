"""Reversals of debited Click payments we could not post: queued on SQS, refunded through the Merchant API.

The queue message carries ids and the amount only (ReversalRequest.message), never a credential.
"""

import contextlib
import json
from enum import StrEnum
from typing import Any, Protocol

from tolov.billing.errors import StateChanged
from tolov.click.attempt import ClickTx, ReversalRequest, TxState
from tolov.clock import Clock, now_ms
from tolov.wiring import AwsClient


class SqsReversalQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._sqs = AwsClient("sqs", client)

    def enqueue(self, request: ReversalRequest) -> None:
        if not self.queue_url:
            raise RuntimeError("CLICK_REVERSAL_QUEUE_URL is not configured")
        self._sqs().send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(request.message()))


class Reverser(Protocol):
    """The Merchant API call that refunds a whole payment (tolov.click.merchant_api.ClickMerchantClient)."""

    def reverse_payment(self, payment_id: int) -> Any: ...


class ReversalLedger(Protocol):
    def get(self, click_trans_id: str) -> ClickTx | None: ...

    def mark_reversed(self, click_trans_id: str, now: int) -> None:
        """Raises StateChanged when the attempt is no longer debited-but-unposted."""
        ...


class ReversalOutcome(StrEnum):
    REVERSED = "reversed"
    ALREADY_REVERSED = "already_reversed"
    REFUSED = "refused"  # the attempt is not one we may refund: never retried, logged for a human


class ReversalWorker:
    """Refunds one queued payment. Only an attempt recorded as debited-but-unposted is ever reversed:
    a delivered payment is never refunded from here, whatever a message says.

    Click's `payment_id` for the reversal is the click_paydoc_id of the callbacks (how integrators use
    it; Click's docs do not say so explicitly). A Click or network failure raises, so the message is
    retried and, after the queue's maxReceiveCount, parked in the dead-letter queue for a manual refund."""

    def __init__(self, store: ReversalLedger, click: Reverser, clock: Clock = now_ms) -> None:
        self.store = store
        self.click = click
        self.clock = clock

    def process(self, request: ReversalRequest) -> tuple[ReversalOutcome, str]:
        tx = self.store.get(request.click_trans_id)
        if tx is None:
            return ReversalOutcome.REFUSED, "no such Click attempt"
        if tx.state is TxState.REVERSED:
            return ReversalOutcome.ALREADY_REVERSED, "reversed earlier"
        if tx.state is not TxState.CONFIRMED_UNPOSTED:
            return ReversalOutcome.REFUSED, f"the attempt is {tx.state.value}, not debited-but-unposted"
        if tx.amount != request.amount or tx.merchant_trans_id != request.merchant_trans_id:
            return ReversalOutcome.REFUSED, "the message does not match the recorded attempt"
        self.click.reverse_payment(int(request.click_paydoc_id))
        with contextlib.suppress(StateChanged):  # another delivery of this message marked it first
            self.store.mark_reversed(tx.click_trans_id, self.clock())
        return ReversalOutcome.REVERSED, tx.reason or ""
