"""ClickShopFunction's edge: the shop over DynamoDB, SQS and Secrets Manager, API Gateway's event in and
Click's JSON reply out (HTTP 200 whatever happened: Click reads the `error` field, never the status), and
what each request leaves in the logs and metrics.

The endpoint's path says which action it takes; a request to any other path is dispatched on its
`action` field. Logs carry ids, codes and states; never sign_string or the secret.
"""

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from tolov.audit.masking import mask
from tolov.audit.trail import AuditEntry, AuditTrail, keep
from tolov.click.complete_queue import SqsCompleteQueue
from tolov.click.dynamo import DynamoClickRepository
from tolov.click.errors import ShopError
from tolov.click.request import Action, parse_body
from tolov.click.reversal import SqsReversalQueue
from tolov.click.shop_api import IN_PROGRESS_NOTE, ClickResult, ClickShop, reply
from tolov.observability import correlate, count_alarmed, logger, metrics
from tolov.settings import Settings, get_secret, secrets_provider
from tolov.store.models import connect
from tolov.wiring import Wiring, at_init

ENDPOINTS = {"/click/prepare": Action.PREPARE, "/click/complete": Action.COMPLETE}
HEADERS = {"Content-Type": "application/json; charset=UTF-8"}
LOGGED_ID_CHARS = 128


def build_shop(settings: Settings) -> ClickShop:
    click = settings.click
    # At init, not on the first request: the DynamoDB and Secrets Manager clients every request uses.
    connect()
    secrets_provider()
    at_init(lambda: get_secret(click.secret_key_secret_arn))  # read by every request, then cached
    return ClickShop(
        DynamoClickRepository(),
        SqsReversalQueue(click.reversal_queue_url),
        service_id=click.service_id,
        secret_key=lambda: get_secret(click.secret_key_secret_arn),
        cancel_after_confirm=click.cancel_after_confirm_error,
        apartment_limits=settings.limits,  # the top-up limits, shared with Payme
        completes=SqsCompleteQueue(click.complete_queue_url),
    )


def answer(
    shop: Wiring[ClickShop], event: dict[str, Any], trail: Wiring[AuditTrail] | None = None
) -> dict[str, Any]:
    """One API Gateway event in, Click's HTTP 200 JSON reply out, whatever happened; the exchange kept in
    the audit trail (tolov.audit: never changes the reply)."""
    endpoint: Action | None = None
    fields: dict[str, str] | None = None
    try:
        endpoint = _endpoint(event)
        body = event.get("body")
        fields = parse_body(
            body if isinstance(body, str) else None,
            content_type=_content_type(event),
            base64_encoded=event.get("isBase64Encoded") is True,
        )
        if fields is not None:  # every later line of this request names Click's transaction
            correlate(
                click_trans_id=fields.get("click_trans_id"), merchant_trans_id=fields.get("merchant_trans_id")
            )
            # What Click sent, for DEBUG, masked as the audit trail keeps it (sign_string never written).
            logger.debug("click fields", extra={"fields": mask(fields)})
        result = shop.get().handle(fields, endpoint)
    except Exception:
        # Never a traceback to Click: -7 asks it to retry; our own writes are all conditional.
        logger.exception("click request failed")
        metrics.add_metric(name="ClickInternalError", unit=MetricUnit.Count, value=1)
        label = "unknown" if endpoint is None else endpoint.name.lower()
        result = ClickResult(reply(fields, endpoint, ShopError.FAILED_TO_UPDATE_USER), label)
    record(result)
    keep(trail, lambda: audit_entry(event, fields, result))
    return {"statusCode": 200, "headers": HEADERS, "body": json.dumps(result.reply)}


def audit_entry(event: dict[str, Any], fields: dict[str, str] | None, result: ClickResult) -> AuditEntry:
    """The form fields as read (sign_string masked by the trail), or the raw body when unreadable."""
    request: Any = fields if fields is not None else event.get("body")
    ids = fields or {}
    trans_id = ids.get("click_trans_id") or None
    ref = ids.get("merchant_trans_id") or None
    identity = (event.get("requestContext") or {}).get("identity") or {}
    source_ip = identity.get("sourceIp")
    return AuditEntry(
        provider="click",
        operation=result.action,
        request=request,
        reply=result.reply,
        error_code=result.error,
        transaction_id=trans_id,
        invoice_id=ref if result.account == "invoice" else None,
        apartment_id=ref if result.account == "apartment" else None,
        account_ref=ref,
        source_ip=source_ip if isinstance(source_ip, str) else None,
    )


def _endpoint(event: dict[str, Any]) -> Action | None:
    return ENDPOINTS.get(event.get("resource") or "") or ENDPOINTS.get(event.get("path") or "")


def _content_type(event: dict[str, Any]) -> str | None:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "content-type" and isinstance(value, str):
            return value
    return None


def record(result: ClickResult) -> None:
    answer = result.reply
    logger.info(
        "click reply",
        extra={
            "action": result.action,
            "click_trans_id": answer["click_trans_id"],
            # Echoed as received in the reply; bounded here so garbage cannot flood the logs.
            "merchant_trans_id": (answer["merchant_trans_id"] or "")[:LOGGED_ID_CHARS] or None,
            "error": answer["error"],
            "state": result.state,
            "reason": result.reason,
        },
    )
    outcome = "Ok" if result.error == 0 else "Error"
    if result.error == ShopError.SIGN_CHECK_FAILED:  # a wrong secret, or a forged request
        count_alarmed("ClickSignFailed")
    metrics.add_metric(name=f"Click{result.action.title()}{outcome}", unit=MetricUnit.Count, value=1)
    # -7 for an invoice another provider's payment holds is a business answer, not our failure.
    if result.error == ShopError.FAILED_TO_UPDATE_USER and result.reason != IN_PROGRESS_NOTE:
        metrics.add_metric(name="ClickSystemError", unit=MetricUnit.Count, value=1)
    record_queued(result)
    record_reversal(result)


def record_queued(result: ClickResult) -> None:
    if result.queued is None:
        return
    details = result.queued.summary()
    if result.queue_error is None:
        metrics.add_metric(name="ClickCompleteQueued", unit=MetricUnit.Count, value=1)
        logger.warning(
            "click complete answered while the store was down; queued for ClickCompleteFunction",
            extra={"event": "ClickCompleteQueued", **details},
        )
        return
    metrics.add_metric(name="ClickCompleteQueueFailed", unit=MetricUnit.Count, value=1)
    logger.error(
        "click complete: store down and complete queue failed; answered -7, Click will retry",
        extra={"event": "ClickCompleteQueueFailed", "queue_error": result.queue_error, **details},
    )


def record_reversal(result: ClickResult) -> None:
    """A debit we will not post: its reversal queued, or (loudly) not."""
    if result.reversal is None:
        return
    details = result.reversal.message()
    if result.reversal_queued:
        metrics.add_metric(name="ClickReversalQueued", unit=MetricUnit.Count, value=1)
        logger.warning(
            "click payment debited but not posted; reversal queued",
            extra={"event": "ClickReversalQueued", **details},
        )
    else:
        metrics.add_metric(name="ClickReversalQueueFailed", unit=MetricUnit.Count, value=1)
        logger.error(
            "click payment debited but not posted; reversal NOT queued, refund it by hand",
            extra={"event": "ClickReversalQueueFailed", "queue_error": result.reversal_error, **details},
        )
