"""Autopay's events on the template's EventBridge bus (TolovEventBus): ids and reasons, never a card."""

import json
from typing import Any, Protocol

from tolov.wiring import AwsClient

SOURCE = "tolov.autopay"
FAILED = "autopay.failed"


class Events(Protocol):
    def publish(self, detail_type: str, detail: dict[str, Any]) -> None: ...


class EventBridgeEvents:
    def __init__(self, bus_name: str, client: Any | None = None, source: str = SOURCE) -> None:
        """`source`: who the events are from (autopay's own by default; reconciliation names itself)."""
        if not bus_name:
            raise RuntimeError("EVENT_BUS_NAME is not set")
        self.bus_name = bus_name
        self.source = source
        self._events = AwsClient("events", client)

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        entry = {
            "Source": self.source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "EventBusName": self.bus_name,
        }
        reply = self._events().put_events(Entries=[entry])
        if reply.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused {detail_type}: {reply['Entries'][0].get('ErrorCode')}")
