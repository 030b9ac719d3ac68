"""AutopayChargerFunction's edge: one SQS message per autopay and period, Powertools batch processing
with partial failures, a metric per outcome, and a backoff for what must be tried again.

A TryLater (a receipt in flight, Payme unavailable, our own billing or credentials refused) fails its
record after hiding the message for an exponential backoff (30 s doubling, at most 15 min); after the
queue's maxReceiveCount the message goes to the dead-letter queue, whose alarm calls ops, and the
autopay stays due, so the next daily run sends it again. Logs carry ids and codes, never a card token.

A record is started only while the invocation has time left for the longest charge: at most
SUBSCRIBE_CALLS_PER_CHARGE Subscribe calls of at most CALL_LIMIT_S each (the client's own bound; it never
repeats a call), and the AWS calls. The charger's Timeout (90 s) covers one such charge with room to spare,
so the first record of a batch always ends inside it; a later record without that time is handed back to
the queue at once, never cut off by Lambda between receipts.pay and its record (which would still be
exactly once, by the stored receipt id, but a lease's wait late).
"""

import json
import random
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tolov.autopay.charge_queue import SqsChargeQueue
from tolov.autopay.charger import Charger, TryLater
from tolov.autopay.dynamo import DynamoAutopayStore
from tolov.autopay.schedule import ChargeRequest
from tolov.autopay.vault import CardVault
from tolov.billing.ledger import Ledger
from tolov.observability import correlate, logger, metrics
from tolov.payme.subscribe_api import CALL_LIMIT_S, build_subscribe_client
from tolov.settings import Settings
from tolov.wiring import Wiring

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 900
# Alarmed in the template: our Merchant API endpoint or our credentials refused by Payme.
OUR_SIDE_METRIC = "AutopayOurSideRefused"
# The most a charge calls Payme: receipts.create (or .check), .pay, cards.check (-31630), then the
# declined receipt's receipts.check and .cancel.
SUBSCRIBE_CALLS_PER_CHARGE = 5
AWS_ALLOWANCE_S = 5  # a charge's DynamoDB and KMS calls, generously
LONGEST_CHARGE_MS = int((SUBSCRIBE_CALLS_PER_CHARGE * CALL_LIMIT_S + AWS_ALLOWANCE_S) * 1000)


class OutOfTime(Exception):
    """Not started: the invocation has less time left than the longest charge."""


class ChargerEdge(NamedTuple):
    charger: Charger
    queue: SqsChargeQueue


def build_charger(settings: Settings) -> ChargerEdge:
    charger = Charger(
        DynamoAutopayStore(),
        build_subscribe_client(settings),
        CardVault(settings.autopay.kms_key_id),
        Ledger(),
        settings.payme,
        settings.limits,
        settings.autopay,
    )
    return ChargerEdge(charger, SqsChargeQueue(settings.autopay.queue_url))


def metric_name(word: str) -> str:
    """card_failed -> AutopayCardFailed"""
    return "Autopay" + "".join(part.title() for part in word.split("_"))


def backoff_seconds(receive_count: int) -> int:
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, receive_count - 1))
    return int(random.uniform(ceiling / 2, ceiling))  # jitter: in-flight receipts of one run spread out


def answer(
    edge: Wiring[ChargerEdge], event: dict[str, Any], context: LambdaContext
) -> PartialItemFailureResponse:
    built = edge.get()
    return process_partial_response(
        event=event,
        record_handler=lambda record: charge_record(built, record, context),
        processor=processor,
        context=context,
    )


def charge_record(edge: ChargerEdge, record: SQSRecord, context: LambdaContext) -> None:
    if context.get_remaining_time_in_millis() < LONGEST_CHARGE_MS:
        metrics.add_metric(name="AutopayOutOfTime", unit=MetricUnit.Count, value=1)
        edge.queue.delay(record.receipt_handle, 0)  # visible again now, for another invocation
        raise OutOfTime(record.message_id)
    try:
        request = ChargeRequest.from_message(json.loads(record.body))
    except ValueError:  # never readable: retried until the DLQ keeps it for a look
        metrics.add_metric(name="AutopayBadMessage", unit=MetricUnit.Count, value=1)
        logger.error("autopay charge message unreadable", extra={"message_id": record.message_id})
        raise
    fields = {"autopay_id": request.autopay_id, "period": request.period, "run_date": str(request.run_date)}
    correlate(**fields)  # also on the Subscribe client's lines (the receipt id, Payme's codes)
    try:
        outcome = edge.charger.charge(request)
    except TryLater as later:
        metrics.add_metric(name=metric_name(later.kind), unit=MetricUnit.Count, value=1)
        if later.kind == "our_side":
            metrics.add_metric(name=OUR_SIDE_METRIC, unit=MetricUnit.Count, value=1)
            logger.error("Payme refused our side; autopay kept", extra={**fields, "error_code": later.code})
        delay = backoff_seconds(int(record.attributes.approximate_receive_count or 1))
        logger.info(
            "autopay charge later", extra={**fields, "kind": later.kind, "code": later.code, "delay": delay}
        )
        edge.queue.delay(record.receipt_handle, delay)
        raise
    except Exception:
        metrics.add_metric(name="AutopayChargeFailed", unit=MetricUnit.Count, value=1)
        logger.exception("autopay charge failed; SQS will retry", extra=fields)
        raise
    metrics.add_metric(name=metric_name(outcome.value), unit=MetricUnit.Count, value=1)
    logger.info("autopay charge", extra={**fields, "outcome": outcome.value})
