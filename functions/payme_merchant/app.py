"""POST /payme: the Payme Merchant API. API Gateway event -> tolov.payme.merchant -> HTTP 200 JSON-RPC.

The event is never logged whole: it carries the Authorization header (the Payme key).
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tolov.payme.errors import SYSTEM_ERROR, PaymeError
from tolov.payme.merchant import Merchant, Outcome
from tolov.payme.service import api_gateway_reply, build_merchant, request_from_api_gateway

logger = Logger()
metrics = Metrics()
tracer = Tracer()

_merchant: Merchant | None = None


def merchant() -> Merchant:
    global _merchant
    if _merchant is None:
        _merchant = build_merchant()
    return _merchant


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = request_from_api_gateway(event)
    try:
        outcome = merchant().handle(request)
    except Exception as failure:  # configuration or wiring: still a reply Payme can read
        error = PaymeError(SYSTEM_ERROR)
        outcome = Outcome(
            {"jsonrpc": "2.0", "id": None, "error": error.to_json()}, None, SYSTEM_ERROR, failure
        )
    _record(outcome, request.source_ip)
    return api_gateway_reply(outcome)


def _record(outcome: Outcome, source_ip: str | None) -> None:
    method = outcome.method or "invalid"
    metrics.add_dimension(name="method", value=method)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if outcome.error_code is not None:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
        metrics.add_metadata(key="error_code", value=outcome.error_code)
    if outcome.error_code == SYSTEM_ERROR:
        metrics.add_metric(name="SystemErrors", unit=MetricUnit.Count, value=1)
    tracer.put_annotation(key="method", value=method)
    fields = {
        "method": method,
        "rpc_id": outcome.reply.get("id"),
        "error_code": outcome.error_code,
        "source_ip": source_ip,
    }
    if outcome.failure is not None:
        logger.error("payme request failed", extra=fields, exc_info=outcome.failure)
    else:
        logger.info("payme request", extra=fields)
