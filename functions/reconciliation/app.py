"""The daily reconciliation (EventBridge Scheduler, Asia/Tashkent) and its report routes:
GET /reports/{date} and POST /reports/{date}/run (API key)."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from tolov.aws import within_budget
from tolov.observability import logger, metrics
from tolov.reconciliation.gateway import answer, build_api, build_reconciliation
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

reconciliation = Wiring(lambda: build_reconciliation(get_settings()))
api = build_api(reconciliation)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@within_budget
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return answer(reconciliation, api, event, context)
