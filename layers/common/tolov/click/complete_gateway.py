"""ClickCompleteFunction's edge: settle the Completes ClickShopFunction answered 0 while DynamoDB was down
(ClickCompleteQueue), through the shop's own Complete (ClickShop.redo).

Per message: posted once (the webhook's token recognises a write of its own that landed; Click's retry
of the same Complete that got there first leaves -4, a posting that is not ours to repeat), or, when the
attempt was cancelled or superseded meanwhile or the amount is not the Prepare's, marked unposted and
handed to ClickReversalQueue. A store that still does not answer, or a reversal that could not be
queued, fails the message: SQS delivers it again and parks it in the dead-letter queue after
maxReceiveCount (alarmed). A Complete naming no attempt of ours is acknowledged with an alarmed metric:
redelivering cannot help, a human refunds it. Partial batch failure, as for the reversal queue.
"""

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tolov.click.complete_queue import QueuedComplete
from tolov.click.errors import ShopError
from tolov.click.gateway import record_reversal
from tolov.click.shop_api import ClickShop
from tolov.observability import correlate, count_alarmed, logger, metrics
from tolov.wiring import Wiring

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

ORPHANED = "ClickQueuedCompleteOrphaned"


class NotSettled(Exception):
    """The Complete's debit is not settled yet (its reversal could not be queued): deliver it again."""


def answer(
    shop: Wiring[ClickShop], event: dict[str, Any], context: LambdaContext
) -> PartialItemFailureResponse:
    core = shop.get()
    return process_partial_response(
        event=event,
        record_handler=lambda record: settle(core, record),
        processor=processor,
        context=context,
    )


def settle(shop: ClickShop, record: SQSRecord) -> None:
    queued = QueuedComplete.from_message(json.loads(record.body))
    details = queued.summary()
    correlate(click_trans_id=queued.click_trans_id, merchant_trans_id=queued.merchant_trans_id)
    try:
        result = shop.redo(queued)
    except Exception:  # the store still down (or contended): SQS delivers the message again
        metrics.add_metric(name="ClickQueuedCompleteRetried", unit=MetricUnit.Count, value=1)
        logger.warning(
            "queued click complete not settled; SQS will retry",
            extra={"event": "ClickQueuedCompleteRetried", **details},
            exc_info=True,
        )
        raise
    record_reversal(result)
    if result.reversal is not None and not result.reversal_queued:
        raise NotSettled(queued.click_trans_id)  # the redelivery recognises the unposted mark as its own
    outcome = {
        ShopError.SUCCESS: "ClickQueuedCompleteReversed" if result.reversal else "ClickQueuedCompletePosted",
        ShopError.ALREADY_PAID: "ClickQueuedCompleteSettledBefore",
    }.get(ShopError(result.error))
    if outcome is None:
        count_alarmed(ORPHANED)
        logger.error(
            "queued click complete names no attempt it can settle; refund it by hand",
            extra={"event": ORPHANED, "error": result.error, "state": result.state, **details},
        )
        return
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    logger.info("queued click complete settled", extra={"event": outcome, "state": result.state, **details})
