"""AutopaySchedulerFunction: daily (EventBridge Scheduler, 09:00 Tashkent) or by hand with {"date"}:
one AutopayChargeQueue message per autopay due on or before the run date."""

from typing import TYPE_CHECKING, Any

from tolov.autopay.scheduler_gateway import answer, build_scheduler
from tolov.aws import within_budget
from tolov.observability import logger, metrics
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

scheduler = Wiring(lambda: build_scheduler(get_settings()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@within_budget
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return answer(scheduler, event)
