"""EventPublisherFunction's edge: DynamoDB stream batches (TransactionsTable, InvoicesTable, AutopayTable)
in, domain events on the bus out, through Powertools batch processing with partial failures.

A record that fails (EventBridge refused or did not answer) is reported by its sequence number: Lambda
retries from there (bisecting the batch, MaximumRetryAttempts in the template) and then sends the batch's
description to the on-failure destination, the publisher's DLQ, whose alarm calls ops (docs/runbook.md:
replaying it). Every event goes out at least once; its event_id is the same on every retry.
"""

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tolov.autopay.dynamo import DynamoAutopayStore
from tolov.events.bus import EventBus
from tolov.events.changes import (
    ApartmentOf,
    DomainEvent,
    autopay_events,
    invoice_events,
    transaction_events,
)
from tolov.observability import correlate, logger, metrics
from tolov.settings import Settings, Tables
from tolov.wiring import Wiring

processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


@dataclass(frozen=True)
class Publisher:
    bus: EventBus
    tables: Tables
    apartment_of: ApartmentOf

    def events_of(self, record: DynamoDBRecord) -> list[DomainEvent]:
        table = table_of(record.event_source_arn or "")
        change = record.dynamodb
        old = None if change is None else change.old_image or None
        new = None if change is None else change.new_image or None
        if table == self.tables.transactions:
            return transaction_events(old, new)
        if table == self.tables.invoices:
            created = change.approximate_creation_date_time if change is not None else None
            return invoice_events(old, new, int((created or 0) * 1000))
        if table == self.tables.autopay:
            return autopay_events(old, new, self.apartment_of)
        return []


def table_of(stream_arn: str) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label> -> <name>"""
    _, _, rest = stream_arn.partition(":table/")
    return rest.split("/", 1)[0]


def build_publisher(settings: Settings) -> Publisher:
    store = DynamoAutopayStore()

    def apartment_of(autopay_id: str) -> str | None:
        autopay = store.get(autopay_id)
        return None if autopay is None else autopay.apartment_id

    return Publisher(EventBus(settings.event_bus), settings.tables, apartment_of)


def answer(
    publisher: Wiring[Publisher], event: dict[str, Any], context: LambdaContext
) -> PartialItemFailureResponse:
    built = publisher.get()
    return process_partial_response(
        event=event,
        record_handler=lambda record: publish_record(built, record),
        processor=processor,
        context=context,
    )


def publish_record(publisher: Publisher, record: DynamoDBRecord) -> None:
    events = publisher.events_of(record)
    if not events:
        return
    fields = {"events": [e.event_id for e in events]}
    correlate(stream_event_id=record.event_id)
    try:
        publisher.bus.put(events)
    except Exception:
        metrics.add_metric(name="EventPublishFailed", unit=MetricUnit.Count, value=1)
        logger.exception("events not published; the stream retries the record", extra=fields)
        raise
    for event in events:
        metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=1)
        count_business(event)
    logger.info("events published", extra={**fields, "types": [e.type for e in events]})


def count_business(event: DomainEvent) -> None:
    """Business metrics off the events, one place for every path, per provider with amounts:
    payment.completed by Payme -> PaymentCompletedPayme (count) and PaymentCompletedPaymeTiyin (sum).
    At least once, like the events: a retried record counts again (rare; the events dedupe, sums may not)."""
    name = "".join(part.title() for part in event.type.replace(".", "_").split("_"))
    provider = str(event.detail.get("provider", "")).title()
    metrics.add_metric(name=f"{name}{provider}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name=f"{name}{provider}Tiyin", unit=MetricUnit.Count, value=int(event.detail["amount"])
    )
