"""ClickReversalFunction's edge: refund debited Click payments the ledger refused (ClickReversalQueue)
through the Merchant API reversal.

Partial batch failure: a message whose reversal failed (Click error, timeout) is retried by SQS and ends in
the dead-letter queue after maxReceiveCount; the others are acknowledged. Logs and messages carry ids and
amounts only, never the secret.
"""

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tolov.click.attempt import ReversalRequest
from tolov.click.dynamo import DynamoClickRepository
from tolov.click.merchant_api import ClickMerchantClient
from tolov.click.reversal import ReversalOutcome, ReversalWorker
from tolov.observability import correlate, logger, metrics
from tolov.settings import Settings, get_secret
from tolov.wiring import Wiring

# Every record failing is reported like any partial failure (each is retried), not as a crashed invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

WorkerFactory = Callable[[], ReversalWorker]


def build_workers(settings: Settings) -> WorkerFactory:
    """A worker per batch over one store: the secret comes from the 5-minute cache, so a rotated key is
    picked up without a new container."""
    store = DynamoClickRepository()
    click = settings.click

    def worker() -> ReversalWorker:
        client = ClickMerchantClient(
            service_id=int(click.service_id),
            merchant_user_id=click.merchant_user_id,
            secret_key=get_secret(click.secret_key_secret_arn),
            base_url=click.merchant_api_url,
        )
        return ReversalWorker(store, client)

    return worker


def answer(
    workers: Wiring[WorkerFactory], event: dict[str, Any], context: LambdaContext
) -> PartialItemFailureResponse:
    worker = workers.get()()
    return process_partial_response(
        event=event,
        record_handler=lambda record: _reverse(worker, record),
        processor=processor,
        context=context,
    )


def _reverse(worker: ReversalWorker, record: SQSRecord) -> None:
    request = ReversalRequest.from_message(json.loads(record.body))
    details = request.message()
    correlate(click_trans_id=request.click_trans_id, merchant_trans_id=request.merchant_trans_id)
    try:
        outcome, note = worker.process(request)
    except Exception:
        metrics.add_metric(name="ClickReversalFailed", unit=MetricUnit.Count, value=1)
        failed = {"event": "ClickReversalFailed", **details}
        logger.exception("click reversal failed; SQS will retry", extra=failed)
        raise
    if outcome is ReversalOutcome.REFUSED:
        metrics.add_metric(name="ClickReversalRefused", unit=MetricUnit.Count, value=1)
        refused = {"event": "ClickReversalRefused", "note": note, **details}
        logger.error("click reversal refused; check by hand", extra=refused)
        return
    if outcome is ReversalOutcome.REVERSED:
        metrics.add_metric(name="ClickReversed", unit=MetricUnit.Count, value=1)
    logger.info("click reversal", extra={"event": f"Click{outcome.name.title().replace('_', '')}", **details})
