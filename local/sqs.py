"""The template's SQS event sources, run in-process: Lambda's poller for each ``Type: SQS`` event.

For each event source (local.template.SqsEventSource) a few threads poll the queue in moto, each invoking
the consumer with an SQS event of up to ``BatchSize`` records, as Lambda's poller does:

- the handler returns: every record is deleted, except, with ``ReportBatchItemFailures``, those named in
  ``batchItemFailures`` (a response naming no record of the batch, or malformed, fails the whole batch);
- the handler raises (or its function is not loaded): nothing is deleted.

What is not deleted becomes visible again after the queue's ``VisibilityTimeout`` and is delivered again;
once a message has been received ``maxReceiveCount`` times, moto's redrive moves it to the dead-letter queue
of the queue's ``RedrivePolicy`` at the next receive, as SQS does (local.template.provision sets both).

Concurrency: ``ScalingConfig.MaximumConcurrency`` pollers, else 2, at most 10 on a laptop. Not modelled:
``MaximumBatchingWindowInSeconds`` (a batch is what one receive returns, up to the batch size), FIFO queues,
filter criteria, and the function's timeout.
"""

import base64
import time
import traceback
from collections.abc import Mapping
from typing import Any

from local.event_sources import BatchOutcome, Invoke, Poller, reported_failures
from local.template import LOCAL_REGION, SqsEventSource

DEFAULT_CONCURRENCY = 2
MAX_CONCURRENCY = 10
WAIT_SECONDS = 1  # long poll: an idle poller asks moto once a second
MAX_MESSAGES_PER_RECEIVE = 10  # SQS's own limit

__all__ = ["BatchOutcome", "SqsPoller", "start_pollers"]


class SqsPoller(Poller):
    """One event source mapping: ``poll_once()`` runs a batch, ``start()`` polls until ``stop()``."""

    def __init__(
        self, source: SqsEventSource, sqs: Any, invoke: Invoke, *, wait_seconds: int = WAIT_SECONDS
    ) -> None:
        super().__init__()
        self.source = source
        self.name = f"sqs-{source.queue}"
        self._sqs = sqs
        self._invoke = invoke
        self._wait_seconds = wait_seconds
        self._queue_url: str | None = None

    @property
    def concurrency(self) -> int:
        return min(self.source.maximum_concurrency or DEFAULT_CONCURRENCY, MAX_CONCURRENCY)

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = str(self._sqs.get_queue_url(QueueName=self.source.queue)["QueueUrl"])
        return self._queue_url

    # ------------------------------------------------------------------ one batch

    def poll_once(self) -> BatchOutcome | None:
        """Receive one batch and hand it to the function; None when the queue had nothing."""
        messages = self._receive()
        if not messages:
            return None
        started = time.monotonic()
        event = {"Records": [self._record(message) for message in messages]}
        failed, error = self._run(event)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), MAX_MESSAGES_PER_RECEIVE):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + MAX_MESSAGES_PER_RECEIVE])
            ]
            self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return BatchOutcome(
            len(messages), len(messages) - len(done), (time.monotonic() - started) * 1000, error
        )

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        wait = self._wait_seconds
        while len(messages) < self.source.batch_size:
            reply = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_MESSAGES_PER_RECEIVE, self.source.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = reply.get("Messages", [])
            messages += got
            if len(got) < MAX_MESSAGES_PER_RECEIVE:
                break
            wait = 0  # more may be waiting: take them now, without another long poll
        return messages

    def _run(self, event: dict[str, Any]) -> tuple[set[str], str | None]:
        """The ids of the records to keep, and why when it is the whole batch."""
        everything = {record["messageId"] for record in event["Records"]}
        try:
            response = self._invoke(event)
        except Exception as failure:
            print(
                f"!! {self.source.function} raised while handling a batch of {self.source.queue}:", flush=True
            )
            traceback.print_exc()
            return everything, f"{type(failure).__name__}: {failure}"
        if not self.source.report_batch_item_failures:
            return set(), None
        return reported_failures(response, everything)

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """An SQS message as Lambda puts it in the event (lower camel case, message attributes re-shaped)."""
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": LOCAL_REGION,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def describe(self, outcome: BatchOutcome) -> str:
        return _describe(self.source, outcome)


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def _describe(source: SqsEventSource, outcome: BatchOutcome) -> str:
    line = f"SQS {source.queue} → {source.function}: {outcome.received} received"
    if outcome.failed:
        line += f", {outcome.failed} left for redelivery"
        if outcome.error:
            line += f" ({outcome.error})"
    return f"{line}, {outcome.elapsed_ms:.0f} ms"


def start_pollers(sources: list[SqsEventSource], sqs: Any, invokers: Mapping[str, Invoke]) -> list[SqsPoller]:
    """A started poller per enabled event source whose function the stack serves."""
    pollers = []
    for source in sources:
        if not source.enabled or source.function not in invokers:
            continue
        poller = SqsPoller(source, sqs, invokers[source.function])
        poller.start()
        pollers.append(poller)
    return pollers
