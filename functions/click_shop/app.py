"""Click SHOP-API callbacks: POST /click/prepare and POST /click/complete."""

from typing import TYPE_CHECKING, Any

from tolov.audit.dynamo import build_trail
from tolov.aws import keeping_fallback_time, within_budget
from tolov.click.gateway import answer, build_shop
from tolov.observability import logger, metrics
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

shop = Wiring(lambda: build_shop(get_settings()))
trail = Wiring(lambda: build_trail(get_settings()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@within_budget
@keeping_fallback_time  # a Complete after a debit is queued when the store does not answer
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return answer(shop, event, trail)
