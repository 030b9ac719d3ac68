"""PaymeMerchantFunction's edge: the merchant over DynamoDB and Secrets Manager, API Gateway's envelope
in and out, and what each request leaves in the logs and metrics.

The event is never logged whole: it carries the Authorization header (the Payme key).
"""

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from tolov.audit.trail import AuditEntry, AuditTrail, keep, parse_json
from tolov.clock import Clock, now_ms
from tolov.observability import count_alarmed, logger, metrics
from tolov.payme.dynamo import DynamoRepository
from tolov.payme.errors import INSUFFICIENT_PRIVILEGE, SYSTEM_ERROR, PaymeError
from tolov.payme.keys import SecretKeyStore
from tolov.payme.merchant_api import Merchant, Outcome, PaymeRequest
from tolov.settings import PaymeSettings, Settings, secrets_provider
from tolov.store.models import connect
from tolov.wiring import Wiring, at_init

JSON_HEADERS = {"Content-Type": "application/json; charset=UTF-8"}


def build_merchant(settings: Settings, clock: Clock = now_ms) -> Merchant:
    if not settings.payme.key_secret_arn:
        raise RuntimeError("PAYME_KEY_SECRET_ARN is not set")
    keys = SecretKeyStore(settings.payme.key_secret_arn)
    # At init, not on the first request: the DynamoDB and Secrets Manager clients every request uses.
    connect()
    secrets_provider()
    at_init(keys.ring)  # the key secret: read by every request, cached for SECRET_MAX_AGE_SECONDS
    return Merchant(DynamoRepository(clock), keys, settings.payme, settings.limits, clock=clock)


def answer(
    merchant: Wiring[Merchant], event: Any, trail: Wiring[AuditTrail] | None = None
) -> dict[str, Any]:
    """One API Gateway event in, the HTTP 200 JSON-RPC reply out, whatever happened; the exchange kept
    in the audit trail (tolov.audit: never changes the reply)."""
    request = request_from_api_gateway(event)
    try:
        outcome = merchant.get().handle(request)
    except Exception as failure:  # configuration or wiring: still a reply Payme can read
        error = PaymeError(SYSTEM_ERROR)
        outcome = Outcome(
            {"jsonrpc": "2.0", "id": None, "error": error.to_json()}, None, SYSTEM_ERROR, failure
        )
    record(outcome, request.source_ip)
    keep(trail, lambda: audit_entry(request, outcome, merchant.get().config))
    return api_gateway_reply(outcome)


def audit_entry(request: PaymeRequest, outcome: Outcome, config: PaymeSettings) -> AuditEntry:
    """The body only (the Authorization header carries the key), with the ids support looks it up by:
    the transaction id of Create/Perform/Cancel/CheckTransaction, the account of CheckPerform/Create."""
    body = parse_json(request.body)
    params = body.get("params") if isinstance(body, dict) else None
    params = params if isinstance(params, dict) else {}
    tx_id = params.get("id")
    account = params.get("account")
    account = account if isinstance(account, dict) else {}
    invoice = account.get(config.invoice_field) if config.invoice_field else None
    apartment = None if invoice is not None else account.get(config.apartment_field or "")
    ref = invoice if invoice is not None else apartment
    return AuditEntry(
        provider="payme",
        operation=outcome.method or "invalid",
        request=body,
        reply=outcome.reply,
        error_code=outcome.error_code,
        transaction_id=tx_id if isinstance(tx_id, str) and tx_id else None,
        invoice_id=None if invoice is None else str(invoice),
        apartment_id=None if apartment is None else str(apartment),
        account_ref=None if ref is None else str(ref),
        source_ip=request.source_ip,
    )


def record(outcome: Outcome, source_ip: str | None) -> None:
    method = outcome.method or "invalid"
    metrics.add_dimension(name="method", value=method)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if outcome.error_code is not None:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
        metrics.add_metadata(key="error_code", value=outcome.error_code)
    if outcome.error_code == SYSTEM_ERROR:
        metrics.add_metric(name="SystemErrors", unit=MetricUnit.Count, value=1)
    if outcome.error_code == INSUFFICIENT_PRIVILEGE:  # a wrong key, or an address outside the allow list
        count_alarmed("PaymeAuthFailed")
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


def request_from_api_gateway(event: Mapping[str, Any]) -> PaymeRequest:
    """REST API proxy event -> request. The source IP is API Gateway's view of the TCP peer
    (requestContext.identity.sourceIp), never a client-supplied X-Forwarded-For."""
    if not isinstance(event, Mapping):
        return PaymeRequest(None)
    body = event.get("body")
    if isinstance(body, str) and event.get("isBase64Encoded") is True:
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            body = None
    headers = event.get("headers")
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, Mapping) else None
    source_ip = identity.get("sourceIp") if isinstance(identity, Mapping) else None
    http_method = event.get("httpMethod")
    return PaymeRequest(
        body=body if isinstance(body, str | bytes) else None,
        headers={k: v for k, v in headers.items() if isinstance(v, str)}
        if isinstance(headers, Mapping)
        else None,
        source_ip=source_ip if isinstance(source_ip, str) else None,
        http_method=http_method if isinstance(http_method, str) else None,
    )


def api_gateway_reply(outcome: Outcome) -> dict[str, Any]:
    """Always HTTP 200: Payme reads any other status as a system error."""
    return {
        "statusCode": 200,
        "headers": dict(JSON_HEADERS),
        "body": json.dumps(outcome.reply, ensure_ascii=False),
    }
