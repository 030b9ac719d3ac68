"""The template's SQS event sources run in-process (local/sqs.py): the poller against moto in this process,
then the whole stack over moto's server with the fixture template and with the real one."""

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.sqs import SqsPoller
from local.template import LOCAL_REGION, SamTemplate, SqsEventSource, load_config
from local.testing import StackProcess, running_stack

FIXTURES = Path(__file__).parent / "fixtures"
QUEUES_TEMPLATE = FIXTURES / "queues.yaml"
QUEUES_CONFIG = FIXTURES / "local.env"


@pytest.fixture
def queues() -> Iterator[tuple[SqsEventSource, Any]]:
    """The fixture template's queues in moto: WorkQueue (visibility 1 s, DLQ after 2 receives)."""
    template = SamTemplate.load(QUEUES_TEMPLATE)
    with mock_aws():
        template.provision({})
        (source,) = template.sqs_event_sources({})
        yield source, boto3.client("sqs", region_name=LOCAL_REGION)


class Consumer:
    """A stand-in for the function: records the events, fails the records whose body says so."""

    def __init__(self, respond: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.respond = respond or _report_failures

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        return self.respond(event)

    def bodies(self) -> list[tuple[Any, str]]:
        return [
            (json.loads(r["body"]), r["attributes"]["ApproximateReceiveCount"])
            for e in self.events
            for r in e["Records"]
        ]


def _report_failures(event: dict[str, Any]) -> dict[str, Any]:
    failed = [r["messageId"] for r in event["Records"] if json.loads(r["body"]).get("fail")]
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def url(sqs: Any, name: str) -> str:
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def depth(sqs: Any, name: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url(sqs, name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


# ---------------------------------------------------------------------------------------------- template


def test_the_event_sources_are_read_from_the_template() -> None:
    (fixture,) = SamTemplate.load(QUEUES_TEMPLATE).sqs_event_sources({})
    assert (fixture.function, fixture.queue, fixture.batch_size) == ("ConsumerFunction", "WorkQueue", 5)
    assert fixture.report_batch_item_failures and fixture.maximum_concurrency == 2 and fixture.enabled
    sources = SamTemplate.load().sqs_event_sources(load_config())
    reversal = next(s for s in sources if s.function == "ClickReversalFunction")
    assert (reversal.queue, reversal.batch_size, reversal.report_batch_item_failures) == (
        "ClickReversalQueue",
        10,
        True,
    )
    assert reversal.queue_arn == f"arn:aws:sqs:{LOCAL_REGION}:123456789012:ClickReversalQueue"


def test_queues_are_provisioned_with_their_visibility_timeout_and_redrive_policy() -> None:
    with mock_aws():
        SamTemplate.load().provision(load_config())
        sqs = boto3.client("sqs", region_name=LOCAL_REGION)
        attributes = sqs.get_queue_attributes(QueueUrl=url(sqs, "ClickReversalQueue"), AttributeNames=["All"])
        assert attributes["Attributes"]["VisibilityTimeout"] == "180"
        assert json.loads(attributes["Attributes"]["RedrivePolicy"]) == {
            "deadLetterTargetArn": f"arn:aws:sqs:{LOCAL_REGION}:123456789012:ClickReversalDeadLetterQueue",
            "maxReceiveCount": 5,
        }


# ---------------------------------------------------------------------------------------------- the poller


def test_a_message_reaches_the_function_as_lambda_sends_it_and_is_deleted(
    queues: tuple[SqsEventSource, Any],
) -> None:
    source, sqs = queues
    sqs.send_message(
        QueueUrl=url(sqs, "WorkQueue"),
        MessageBody='{"n": 1}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )
    consumer = Consumer()
    outcome = SqsPoller(source, sqs, consumer, wait_seconds=0).poll_once()
    assert outcome is not None and (outcome.received, outcome.failed) == (1, 0)
    (record,) = consumer.events[0]["Records"]
    assert record["body"] == '{"n": 1}'
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == source.queue_arn
    assert record["awsRegion"] == LOCAL_REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= record["attributes"].keys()
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert record["messageId"] and record["receiptHandle"] and record["md5OfBody"]
    assert depth(sqs, "WorkQueue") == 0


def test_a_reported_failure_is_redelivered_then_moved_to_the_dead_letter_queue(
    queues: tuple[SqsEventSource, Any],
) -> None:
    source, sqs = queues
    for body in ({"n": 1}, {"n": 2, "fail": True}):
        sqs.send_message(QueueUrl=url(sqs, "WorkQueue"), MessageBody=json.dumps(body))
    consumer = Consumer()
    poller = SqsPoller(source, sqs, consumer, wait_seconds=0)
    first = poller.poll_once()
    assert first is not None and (first.received, first.failed) == (2, 1)
    assert poller.poll_once() is None  # the failure is invisible for the visibility timeout
    time.sleep(1.1)
    again = poller.poll_once()
    assert again is not None and (again.received, again.failed) == (1, 1)
    time.sleep(1.1)
    assert poller.poll_once() is None  # received twice = maxReceiveCount: moto's redrive takes it
    assert consumer.bodies() == [
        ({"n": 1}, "1"),
        ({"n": 2, "fail": True}, "1"),
        ({"n": 2, "fail": True}, "2"),
    ]
    assert depth(sqs, "WorkQueue") == 0
    parked = sqs.receive_message(QueueUrl=url(sqs, "WorkDeadLetterQueue"))["Messages"]
    assert [json.loads(m["Body"]) for m in parked] == [{"n": 2, "fail": True}]


def test_a_function_that_raises_leaves_the_whole_batch(queues: tuple[SqsEventSource, Any]) -> None:
    source, sqs = queues
    for n in range(3):
        sqs.send_message(QueueUrl=url(sqs, "WorkQueue"), MessageBody=json.dumps({"n": n}))

    def boom(event: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    outcome = SqsPoller(source, sqs, Consumer(boom), wait_seconds=0).poll_once()
    assert outcome is not None and (outcome.received, outcome.failed) == (3, 3)
    assert outcome.error == "RuntimeError: boom"
    assert depth(sqs, "WorkQueue") == 3


@pytest.mark.parametrize(
    "response",
    [{"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}, {"batchItemFailures": "all"}],
    ids=["unknown record", "malformed"],
)
def test_a_failure_report_lambda_cannot_read_fails_the_whole_batch(
    queues: tuple[SqsEventSource, Any], response: Any
) -> None:
    source, sqs = queues
    sqs.send_message(QueueUrl=url(sqs, "WorkQueue"), MessageBody="{}")
    outcome = SqsPoller(source, sqs, Consumer(lambda event: response), wait_seconds=0).poll_once()
    assert outcome is not None and outcome.failed == 1
    assert depth(sqs, "WorkQueue") == 1


def test_without_report_batch_item_failures_a_returned_batch_counts_as_done(
    queues: tuple[SqsEventSource, Any],
) -> None:
    source, sqs = queues
    sqs.send_message(QueueUrl=url(sqs, "WorkQueue"), MessageBody='{"fail": true}')
    plain = dataclasses.replace(source, report_batch_item_failures=False)
    outcome = SqsPoller(plain, sqs, Consumer(), wait_seconds=0).poll_once()
    assert outcome is not None and outcome.failed == 0
    assert depth(sqs, "WorkQueue") == 0


def test_a_batch_is_at_most_the_batch_size(queues: tuple[SqsEventSource, Any]) -> None:
    source, sqs = queues
    for n in range(12):
        sqs.send_message(QueueUrl=url(sqs, "WorkQueue"), MessageBody=json.dumps({"n": n}))
    consumer = Consumer()
    poller = SqsPoller(source, sqs, consumer, wait_seconds=0)
    sizes = []
    while (outcome := poller.poll_once()) is not None:
        sizes.append(outcome.received)
    assert sum(sizes) == 12 and max(sizes) == 5
    big = dataclasses.replace(source, batch_size=25)
    for n in range(25):
        sqs.send_message(QueueUrl=url(sqs, "WorkQueue"), MessageBody=json.dumps({"n": n}))
    outcome = SqsPoller(big, sqs, consumer, wait_seconds=0).poll_once()
    assert outcome is not None and outcome.received > 10  # several receives make one batch


# ---------------------------------------------------------------------------------------------- the stack


def wait_for(condition: Callable[[], bool], explain: Callable[[], str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, explain()
        time.sleep(0.1)


def stack_sqs(stack: StackProcess) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=stack.moto_url,
        region_name=LOCAL_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.e2e
def test_the_stack_runs_the_event_source_redelivers_and_parks_in_the_dead_letter_queue() -> None:
    with running_stack(template=QUEUES_TEMPLATE, config=QUEUES_CONFIG) as stack:
        assert "SQS WorkQueue → ConsumerFunction (batch 5, partial batch failures, 2 pollers)" in stack.text()
        sqs = stack_sqs(stack)
        sqs.send_message(QueueUrl=url(sqs, "WorkQueue"), MessageBody='{"n": 1}')
        sqs.send_message(QueueUrl=url(sqs, "WorkQueue"), MessageBody='{"n": 2, "fail": true}')

        def parked() -> bool:
            return depth(sqs, "WorkDeadLetterQueue") == 1

        wait_for(parked, lambda: stack.text() + stack.log_text())
        consumed = [json.loads(line) for line in stack.log_text().splitlines() if '"consumed"' in line]
        seen = sorted((c["consumed"].get("n"), c["receive_count"]) for c in consumed)
        assert seen == [(1, "1"), (2, "1"), (2, "2")]
        assert depth(sqs, "WorkQueue") == 0
        assert "SQS WorkQueue → ConsumerFunction: " in stack.text()
        assert "left for redelivery" in stack.text()


@pytest.mark.e2e
def test_click_reversal_function_consumes_its_queue_in_the_local_stack() -> None:
    with running_stack() as stack:
        sqs = stack_sqs(stack)
        request = {
            "click_trans_id": "no-such-attempt",
            "click_paydoc_id": "1",
            "merchant_trans_id": "inv-1",
            "amount": 100_000,
            "reason": "test",
        }
        sqs.send_message(QueueUrl=url(sqs, "ClickReversalQueue"), MessageBody=json.dumps(request))
        wait_for(lambda: "ClickReversalRefused" in stack.log_text(), lambda: stack.text() + stack.log_text())
        wait_for(lambda: depth(sqs, "ClickReversalQueue") == 0, stack.text)
        assert "SQS ClickReversalQueue → ClickReversalFunction: 1 received" in stack.text()
