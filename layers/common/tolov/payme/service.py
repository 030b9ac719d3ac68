"""Wiring for the Lambda: the merchant over DynamoDB and Secrets Manager, and API Gateway's envelope."""

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from tolov.clock import Clock, now_ms
from tolov.payme.config import PaymeConfig, get_payme_config
from tolov.payme.keys import SecretKeyStore
from tolov.payme.merchant import Merchant, Outcome, PaymeRequest
from tolov.payme.store import DynamoRepository

JSON_HEADERS = {"Content-Type": "application/json; charset=UTF-8"}


def build_merchant(config: PaymeConfig | None = None, clock: Clock = now_ms) -> Merchant:
    config = config or get_payme_config()
    if not config.key_secret_arn:
        raise RuntimeError("PAYME_KEY_SECRET_ARN is not set")
    return Merchant(DynamoRepository(clock), SecretKeyStore(config.key_secret_arn), config, clock=clock)


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
