"""Billing API for the housing platform: apartments, invoices, balances. API Gateway checks the API key."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from tolov.aws import within_budget
from tolov.billing_api.routes import build_api
from tolov.observability import logger, metrics
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

api = Wiring(lambda: build_api(get_settings()))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@within_budget
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    result: dict[str, Any] = api.get().resolve(event, context)
    return result
