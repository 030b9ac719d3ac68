"""AutopaySchedulerFunction's edge (EventBridge Scheduler, daily 09:00 Tashkent; or invoked by hand with
{"date": "YYYY-MM-DD"}); POST /autopay/runs runs the same run() in the billing API."""

from datetime import date
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from tolov.autopay.charge_queue import SqsChargeQueue
from tolov.autopay.dynamo import DynamoAutopayStore
from tolov.autopay.schedule import Scheduler, run_date
from tolov.clock import Clock, now_ms
from tolov.observability import logger, metrics
from tolov.settings import Settings
from tolov.wiring import Wiring


def build_scheduler(settings: Settings) -> Scheduler:
    return Scheduler(
        DynamoAutopayStore(), SqsChargeQueue(settings.autopay.queue_url), settings.autopay.shards
    )


def run(scheduler: Scheduler, day: date) -> dict[str, Any]:
    queued = scheduler.run(day)
    metrics.add_metric(name="AutopayQueued", unit=MetricUnit.Count, value=queued)
    logger.info("autopay run", extra={"date": day.isoformat(), "queued": queued})
    return {"date": day.isoformat(), "queued": queued}


def answer(scheduler: Wiring[Scheduler], event: Any, clock: Clock = now_ms) -> dict[str, Any]:
    given = event.get("date") if isinstance(event, dict) else None
    return run(scheduler.get(), run_date(given, clock()))
