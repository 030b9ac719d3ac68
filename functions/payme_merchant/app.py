"""POST /payme: the Payme Merchant API. API Gateway event -> tolov.payme.merchant_api -> HTTP 200 JSON-RPC."""

from typing import TYPE_CHECKING, Any

from tolov.audit.dynamo import build_trail
from tolov.aws import within_budget
from tolov.observability import logger, metrics
from tolov.payme.gateway import answer, build_merchant
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

merchant = Wiring(lambda: build_merchant(get_settings()))
trail = Wiring(lambda: build_trail(get_settings()))


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@within_budget
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return answer(merchant, event, trail)
