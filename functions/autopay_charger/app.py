"""AutopayChargerFunction: AutopayChargeQueue consumer, charging one autopay for one period per message."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from tolov.autopay.charger_gateway import answer, build_charger
from tolov.aws import within_budget
from tolov.observability import logger, metrics
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

charger = Wiring(lambda: build_charger(get_settings()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@within_budget
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> PartialItemFailureResponse:
    return answer(charger, event, context)
