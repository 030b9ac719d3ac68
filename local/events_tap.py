"""Where the local stack keeps the events put on the template's buses: GET /_local/events, newest first.

A rule on each bus (every event of this account) sends them to a local queue, LocalEventsTap, as a
subscriber in AWS would; a poller drains it into memory. Nothing of this is in the template.
"""

import json
import threading
import time
from collections import deque
from typing import Any

from local.event_sources import BatchOutcome, Poller
from local.template import LOCAL_ACCOUNT_ID

TAP_QUEUE = "LocalEventsTap"
TAP_RULE = "local-events-tap"
PATH = "/_local/events"
KEPT = 1000  # the newest this many


class EventsTap(Poller):
    name = "events-tap"

    def __init__(self, session: Any, buses: list[str]) -> None:
        super().__init__()
        self._sqs = session.client("sqs")
        self._events = session.client("events")
        self._buses = buses
        self._kept: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._lock = threading.Lock()
        self._url = ""

    def subscribe(self) -> None:
        self._url = str(self._sqs.create_queue(QueueName=TAP_QUEUE)["QueueUrl"])
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])
        arn = attributes["Attributes"]["QueueArn"]
        for bus in self._buses:
            pattern = json.dumps({"account": [LOCAL_ACCOUNT_ID]})  # every event on the bus
            self._events.put_rule(Name=TAP_RULE, EventBusName=bus, EventPattern=pattern)
            self._events.put_targets(Rule=TAP_RULE, EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])

    def events(self) -> list[dict[str, Any]]:
        """Newest first, as EventBridge delivered them (id, source, detail-type, time, detail)."""
        with self._lock:
            return list(reversed(self._kept))

    def poll_once(self) -> BatchOutcome | None:
        started = time.monotonic()
        reply = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = reply.get("Messages", [])
        if not messages:
            return None
        with self._lock:
            for message in messages:
                self._kept.append(json.loads(message["Body"]))
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        self._sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)
        return BatchOutcome(len(messages), 0, (time.monotonic() - started) * 1000)

    def describe(self, outcome: BatchOutcome) -> str:
        newest = self.events()[: outcome.received]
        kinds = ", ".join(str(event.get("detail-type")) for event in reversed(newest))
        return f"events: {kinds}"


def start_events_tap(session: Any, buses: list[str]) -> EventsTap:
    tap = EventsTap(session, buses)
    tap.subscribe()
    tap.start()
    return tap
