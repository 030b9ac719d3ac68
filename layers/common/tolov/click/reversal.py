"""Reversals of debited Click payments we could not post: queued on SQS, refunded through the Merchant API.

The queue message carries ids and the amount only (ReversalRequest.message), never a credential.
"""

import json
from typing import Any

from tolov.click.repository import ReversalRequest


class SqsReversalQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3  # the shop's decision path never needs SQS; import on first reversal

            self._client = boto3.client("sqs")
        return self._client

    def enqueue(self, request: ReversalRequest) -> None:
        if not self.queue_url:
            raise RuntimeError("CLICK_REVERSAL_QUEUE_URL is not configured")
        self._sqs().send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(request.message()))
