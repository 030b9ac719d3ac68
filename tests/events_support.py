"""The outbox in tests: the template's stream event sources (local.streams) feeding EventPublisherFunction
on moto, and a rule on TolovEventBus that keeps what was published in a queue the test reads."""

import json
from typing import Any

import boto3

from local.streams import StreamPoller
from local.template import LOCAL_ACCOUNT_ID, SamTemplate
from tests.support import FakeContext, load_handler

BUS = "TolovEventBus"
TAP = "test-events-tap"


class Outbox:
    """Drains the tables' streams through the real publisher handler; published() reads the bus's events."""

    def __init__(self, template: SamTemplate | None = None) -> None:
        template = template or SamTemplate.load()
        handler = load_handler("event_publisher", fresh=True)
        self.responses: list[Any] = []

        def invoke(event: dict[str, Any]) -> Any:
            response = handler.lambda_handler(event, FakeContext("EventPublisherFunction"))
            self.responses.append(response)
            return response

        dynamodb, streams, sqs = (
            boto3.client("dynamodb"),
            boto3.client("dynamodbstreams"),
            boto3.client("sqs"),
        )
        self.pollers = [
            StreamPoller(source, dynamodb, streams, sqs, invoke) for source in template.stream_event_sources()
        ]
        self._sqs = sqs
        self._url = str(sqs.create_queue(QueueName=TAP)["QueueUrl"])
        arn = sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = boto3.client("events")
        events.put_rule(Name=TAP, EventBusName=BUS, EventPattern=json.dumps({"account": [LOCAL_ACCOUNT_ID]}))
        events.put_targets(Rule=TAP, EventBusName=BUS, Targets=[{"Id": "tap", "Arn": arn}])
        self._seen: list[dict[str, Any]] = []

    def drain(self) -> int:
        """Every stream read to its end (failed batches retried as the template says); records handled."""
        handled = 0
        for poller in self.pollers:
            while (outcome := poller.poll_once()) is not None:
                handled += outcome.received - outcome.failed
        return handled

    def published(self) -> list[dict[str, Any]]:
        """Every event the bus received so far, oldest first, as EventBridge delivers them."""
        while messages := self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            self._seen += [json.loads(m["Body"]) for m in messages]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            self._sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)
        return list(self._seen)

    def details(self) -> list[dict[str, Any]]:
        self.drain()
        return [event["detail"] for event in self.published()]
