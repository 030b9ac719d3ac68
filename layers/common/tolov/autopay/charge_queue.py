"""The charge queue on SQS: SendMessageBatch of up to 10, entries SQS refused sent again a few times."""

import json
from collections.abc import Sequence
from typing import Any

from tolov.observability import logger
from tolov.wiring import AwsClient

SEND_ROUNDS = 3


class SqsChargeQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        if not queue_url:
            raise RuntimeError("AUTOPAY_QUEUE_URL is not set")
        self.queue_url = queue_url
        self._sqs = AwsClient("sqs", client)

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message for `seconds` more: the backoff before its next delivery."""
        self._sqs().change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

    def send(self, messages: Sequence[dict[str, str]]) -> int:
        if len(messages) > 10:
            raise ValueError("SendMessageBatch takes at most 10 messages")
        waiting = {str(i): json.dumps(m) for i, m in enumerate(messages)}
        for _ in range(SEND_ROUNDS):
            if not waiting:
                break
            entries = [{"Id": i, "MessageBody": body} for i, body in waiting.items()]
            reply = self._sqs().send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for sent in reply.get("Successful", []):
                waiting.pop(sent["Id"], None)
        if waiting:
            # Not sent: these stay due, and the next run (or a repeat of this one) sends them.
            ids = [json.loads(body)["autopay_id"] for body in waiting.values()]
            logger.error("autopay messages not sent", extra={"autopay_ids": ids})
        return len(messages) - len(waiting)
