"""The resident pages: the bill (GET /pay/{invoice_id}) and the autopay card form (GET and POST
/autopay/enrol). No API key: a signed link is what lets a resident in."""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from tolov.aws import within_budget
from tolov.observability import logger, metrics
from tolov.pages.routes import build_pages
from tolov.settings import get_settings
from tolov.wiring import Wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

pages = Wiring(lambda: build_pages(get_settings()))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@within_budget
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    result: dict[str, Any] = pages.get().resolve(event, context)
    return result
