"""Click Completes answered 0 while the store was down: kept on ClickCompleteQueue, settled later.

A Complete with error 0 reports a debit: Click's protocol allows no error of ours after it (only -4 and
-9 for what we already settled), so when DynamoDB does not answer we keep the verified request durably
and answer 0 with the merchant_confirm_id every later answer gives (our confirm id is the attempt's
prepare id, and a Complete is only ever matched to the attempt of its merchant_prepare_id).
ClickCompleteFunction then redoes it through the shop's own Complete (tolov.click.shop_api) with the
webhook's request token, so a write of the webhook's that landed before the store went away is
recognised as this request's own.

The message carries the signed fields without sign_string (with the known fields, an MD5 over the secret
is a guessing oracle for it) and never the secret: the webhook verified the signature before queueing, and
only ClickShopFunction may send to the queue.
"""

import json
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from tolov.click.request import FIELD_NAMES, ClickRequest, validate_fields
from tolov.wiring import AwsClient

KIND = "click.complete"
# What the message carries of the request; the consumer validates them again as ClickRequest fields.
FIELDS = tuple(name for name in FIELD_NAMES if name != "sign_string")
# ClickRequest requires a sign_string; a queued request's was checked by the webhook and is not carried.
VERIFIED = "verified-before-queueing"


class QueuedComplete(NamedTuple):
    """A verified Complete with error 0 the store could not settle, and the webhook's request token."""

    fields: Mapping[str, str]
    token: str
    received_at: int  # ms

    @classmethod
    def of(cls, request: ClickRequest, token: str, now: int) -> "QueuedComplete":
        values = request._asdict()
        kept = {name: str(values[name]) for name in FIELDS if values.get(name) is not None}
        return cls(fields=kept, token=token, received_at=now)

    @property
    def click_trans_id(self) -> str:
        return self.fields["click_trans_id"]

    @property
    def merchant_trans_id(self) -> str:
        return self.fields["merchant_trans_id"]

    @property
    def prepare_id(self) -> int:
        """merchant_prepare_id, which the answer gives as merchant_confirm_id now and later."""
        return int(self.fields["merchant_prepare_id"])

    def request(self) -> ClickRequest:
        request = validate_fields({**self.fields, "sign_string": VERIFIED}, complete=True)
        if request is None:
            raise ValueError("a queued Click Complete with missing or malformed fields")
        return request

    def message(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "fields": dict(self.fields),
            "token": self.token,
            "received_at": self.received_at,
        }

    def summary(self) -> dict[str, Any]:
        """For logs: ids and the amount, never the token (it would let a reader forge our own success)."""
        return {
            "click_trans_id": self.click_trans_id,
            "merchant_trans_id": self.merchant_trans_id,
            "merchant_prepare_id": self.fields.get("merchant_prepare_id"),
            "click_paydoc_id": self.fields.get("click_paydoc_id"),
            "amount_sum": self.fields.get("amount"),
        }

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> "QueuedComplete":
        if data.get("kind") != KIND:
            raise ValueError("not a queued Click Complete")
        fields = {str(name): str(value) for name, value in dict(data["fields"]).items() if name in FIELDS}
        queued = cls(fields=fields, token=str(data["token"]), received_at=int(data["received_at"]))
        queued.request()  # malformed fields fail here, before anything is read or written
        return queued


class CompleteQueue(Protocol):
    def enqueue(self, queued: QueuedComplete) -> None: ...


class SqsCompleteQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        # The last resort after a debit: tolov.aws's fallback client, with time kept for it.
        self._sqs = AwsClient("sqs", client, fallback=True)

    def enqueue(self, queued: QueuedComplete) -> None:
        if not self.queue_url:
            raise RuntimeError("CLICK_COMPLETE_QUEUE_URL is not configured")
        self._sqs().send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(queued.message()))
