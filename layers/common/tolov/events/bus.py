"""EventBridge PutEvents onto the template's bus (TolovEventBus): the one place tolov emits events."""

import json
from collections.abc import Sequence
from typing import Any

from tolov.events.changes import SOURCE, DomainEvent
from tolov.wiring import AwsClient

MAX_ENTRIES = 10  # PutEvents' limit per call


class EventBusError(RuntimeError):
    """EventBridge refused some entries: the stream record is retried whole (consumers dedupe by id)."""


class EventBus:
    def __init__(self, bus_name: str, client: Any | None = None) -> None:
        if not bus_name:
            raise RuntimeError("EVENT_BUS_NAME is not set")
        self.bus_name = bus_name
        self._events = AwsClient("events", client)

    def put(self, events: Sequence[DomainEvent]) -> None:
        for start in range(0, len(events), MAX_ENTRIES):
            batch = events[start : start + MAX_ENTRIES]
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": event.type,
                    "Detail": json.dumps(event.detail, separators=(",", ":")),
                    "EventBusName": self.bus_name,
                    "Resources": [],
                }
                for event in batch
            ]
            reply = self._events().put_events(Entries=entries)
            if reply.get("FailedEntryCount"):
                codes = sorted(
                    {e.get("ErrorCode", "?") for e in reply.get("Entries", []) if e.get("ErrorCode")}
                )
                raise EventBusError(
                    f"EventBridge refused {reply['FailedEntryCount']} event(s): {', '.join(codes)}"
                )
