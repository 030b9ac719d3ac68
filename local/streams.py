"""The template's DynamoDB stream event sources, run in-process: Lambda's poller for each ``Type: DynamoDB``
event, over moto's DynamoDB Streams, as ``local.sqs`` is for queues.

For each event source (local.template.StreamEventSource) one thread reads the table's stream in order and
invokes the consumer with a DynamoDB stream event of up to ``BatchSize`` records, as Lambda does:

- the handler returns: the batch is done, except, with ``ReportBatchItemFailures``, from the first record
  named in ``batchItemFailures`` on, which is delivered again (a response naming no record of the batch,
  or malformed, fails the whole batch);
- the handler raises: the whole batch is delivered again, halved first with
  ``BisectBatchOnFunctionError``;
- after ``MaximumRetryAttempts`` retries of a batch its description (shard, sequence numbers, Lambda's
  on-failure record) goes to the ``DestinationConfig.OnFailure`` queue and the stream moves past it.

Not modelled: more than one shard (moto has one a table), ``LATEST`` (the local tables start empty, so it
reads from the start as ``TRIM_HORIZON`` does), batching windows, parallelisation factor, record age.
A fresh shard iterator is taken for every read: moto replaces a table's stream shard object when it rolls
a failed transaction back, and an old iterator would read the replaced one.
"""

import base64
import json
import time
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from local.event_sources import BatchOutcome, Invoke, Poller, reported_failures
from local.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, StreamEventSource

IDLE_SECONDS = 0.2  # how often an idle poller reads its stream again
RETRY_SECONDS = 0.5  # the pause before a failed batch is delivered again


class StreamPoller(Poller):
    idle_seconds = IDLE_SECONDS

    def __init__(
        self, source: StreamEventSource, dynamodb: Any, streams: Any, sqs: Any, invoke: Invoke
    ) -> None:
        super().__init__()
        self.source = source
        self.name = f"stream-{source.table}"
        self._dynamodb, self._streams, self._sqs = dynamodb, streams, sqs
        self._invoke = invoke
        self._after: str | None = None  # the last sequence number done
        self._limit = source.batch_size
        self._retries = 0
        self._stream: tuple[str, str] | None = None

    @property
    def stream(self) -> tuple[str, str]:
        """The stream's ARN and its one shard's id."""
        if self._stream is None:
            arn = self._dynamodb.describe_table(TableName=self.source.table)["Table"]["LatestStreamArn"]
            shard = self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            self._stream = (str(arn), str(shard))
        return self._stream

    def poll_once(self) -> BatchOutcome | None:
        records = self._read()
        if not records:
            return None
        started = time.monotonic()
        event = {"Records": [self._record(record) for record in records]}
        done, error = self._run(event)
        failed = len(records) - done
        if failed:
            self._failed(records, done)
        else:
            self._after = records[-1]["dynamodb"]["SequenceNumber"]
            self._limit, self._retries = self.source.batch_size, 0
        return BatchOutcome(len(records), failed, (time.monotonic() - started) * 1000, error)

    def _read(self) -> list[dict[str, Any]]:
        arn, shard = self.stream
        position: dict[str, str] = (
            {"ShardIteratorType": "TRIM_HORIZON"}
            if self._after is None
            else {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._after}
        )
        iterator = self._streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **position)["ShardIterator"]
        return list(self._streams.get_records(ShardIterator=iterator, Limit=self._limit).get("Records", []))

    def _run(self, event: dict[str, Any]) -> tuple[int, str | None]:
        """How many records from the start of the batch are done, and why the rest failed."""
        records = event["Records"]
        try:
            response = self._invoke(event)
        except Exception as failure:
            print(f"!! {self.source.function} raised on a batch of {self.source.table}'s stream:", flush=True)
            traceback.print_exc()
            if self.source.bisect_on_error and len(records) > 1:
                self._limit = max(1, len(records) // 2)
            return 0, f"{type(failure).__name__}: {failure}"
        if not self.source.report_batch_item_failures:
            return len(records), None
        sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
        failed, error = reported_failures(response, set(sequences))
        if not failed:
            return len(records), None
        return min(sequences.index(s) for s in failed), error  # Lambda goes on from the first failure

    def _failed(self, records: Sequence[Mapping[str, Any]], done: int) -> None:
        if done:
            self._after = records[done - 1]["dynamodb"]["SequenceNumber"]
            self._retries = 0
            return
        self._retries += 1
        limit = self.source.maximum_retry_attempts
        if limit >= 0 and self._retries > limit:
            self._give_up(records)
            return
        self._stopping.wait(RETRY_SECONDS)

    def _give_up(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Lambda's on-failure record: where the batch is in the stream, not the records themselves."""
        arn, shard = self.stream
        function = self.source.function
        if self.source.on_failure_queue:
            message = {
                "requestContext": {
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": self._retries,
                    "functionArn": f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function}",
                },
                "DDBStreamBatchInfo": {
                    "shardId": shard,
                    "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                    "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                    "batchSize": len(records),
                    "streamArn": arn,
                },
            }
            url = self._sqs.get_queue_url(QueueName=self.source.on_failure_queue)["QueueUrl"]
            self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
        print(
            f"!! {self.source.function}: gave up on {len(records)} record(s) of {self.source.table}'s stream "
            f"after {self._retries - 1} retries → {self.source.on_failure_queue or 'dropped'}",
            flush=True,
        )
        self._after = records[-1]["dynamodb"]["SequenceNumber"]
        self._limit, self._retries = self.source.batch_size, 0

    def _record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A stream record as Lambda puts it in the event: the stream's ARN, times in epoch seconds."""
        change = {
            key: _as_json(value) if key in IMAGES else value for key, value in record["dynamodb"].items()
        }
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            change["ApproximateCreationDateTime"] = created.timestamp()
        return {**record, "dynamodb": change, "eventSourceARN": self.stream[0], "awsRegion": LOCAL_REGION}

    def describe(self, outcome: BatchOutcome) -> str:
        line = f"stream {self.source.table} → {self.source.function}: {outcome.received} records"
        if outcome.failed:
            line += f", {outcome.failed} to retry"
            if outcome.error:
                line += f" ({outcome.error})"
        return f"{line}, {outcome.elapsed_ms:.0f} ms"


IMAGES = ("Keys", "NewImage", "OldImage")


def _as_json(value: Any) -> Any:
    """boto3 gives binary attributes as bytes; Lambda's JSON event has them in base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return value


def start_stream_pollers(
    sources: list[StreamEventSource], session: Any, invokers: Mapping[str, Invoke]
) -> list[StreamPoller]:
    """A started poller per enabled stream event source whose function the stack serves."""
    pollers = []
    for source in sources:
        if not source.enabled or source.function not in invokers:
            continue
        poller = StreamPoller(
            source,
            session.client("dynamodb"),
            session.client("dynamodbstreams"),
            session.client("sqs"),
            invokers[source.function],
        )
        poller.start()
        pollers.append(poller)
    return pollers
