"""EventPublisherFunction: the tables' DynamoDB streams in, payment.*, invoice.paid and autopay.* events
on TolovEventBus out (tolov.events). Traced like every function by the template's active tracing."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from tolov.aws import within_budget
from tolov.events.publisher_gateway import answer, build_publisher
from tolov.observability import logger, metrics
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

publisher = Wiring(lambda: build_publisher(get_settings()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@within_budget
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> PartialItemFailureResponse:
    return answer(publisher, event, context)
