"""ClickReversalQueue consumer: refunds debited Click payments the ledger refused."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from tolov.aws import within_budget
from tolov.click.reversal_gateway import answer, build_workers
from tolov.observability import logger, metrics
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

workers = Wiring(lambda: build_workers(get_settings()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@within_budget
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> PartialItemFailureResponse:
    return answer(workers, event, context)
