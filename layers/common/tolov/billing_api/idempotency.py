"""Idempotency-Key on the billing API's POSTs, with the Powertools Idempotency utility over DynamoDB.

The same key on the same method and path with a JSON-equal body gets the first reply again; another
body raises IdempotencyValidationError; a repeat while the first is still running raises
IdempotencyAlreadyInProgressError. Only 2xx replies are remembered, for 24 hours: anything else leaves
no record, so a corrected retry with the same key runs. Requests without the header run as before.
"""

from collections.abc import Callable
from functools import cached_property
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import BaseMiddlewareHandler, NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from tolov.billing_api import replies

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REMEMBER_SECONDS = 24 * 60 * 60


class _NotRemembered(Exception):
    """Carries a non-2xx reply out of the idempotent function: Powertools then deletes the record."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__(response.status_code)
        self.response = response


def _reply(*, request: dict[str, Any], route: Callable[[], Response[Any]]) -> dict[str, Any]:
    """The route's reply as Powertools stores it; `request` is what Powertools keys and validates on."""
    response = route()
    if not 200 <= response.status_code < 300:
        raise _NotRemembered(response)
    return {"status_code": response.status_code, "headers": response.headers, "body": response.body}


def _body(event: Any) -> Any:
    """The body as JSON when it parses (so that JSON-equal bodies match), else as sent."""
    try:
        return event.json_body
    except (ValueError, RecursionError):
        return {"unparsed": event.body}


class IdempotentPosts(BaseMiddlewareHandler[APIGatewayRestResolver]):
    """A resolver middleware (app.use) making every POST that carries an Idempotency-Key idempotent."""

    def __init__(self, table_name: str) -> None:
        super().__init__()
        self.table_name = table_name
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=REMEMBER_SECONDS,
        )

    @cached_property
    def _idempotent_reply(self) -> Callable[..., dict[str, Any]]:
        # Built on first use: requests without the header never need the persistence layer.
        from tolov.store.models import connection  # the container's one DynamoDB client (tolov.aws)

        store = DynamoDBPersistenceLayer(table_name=self.table_name, boto3_client=connection().client)
        run: Callable[..., dict[str, Any]] = idempotent_function(
            _reply,
            data_keyword_argument="request",
            persistence_store=store,
            config=self.config,
            key_prefix="billing",
        )
        return run

    def handler(self, app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        event = app.current_event
        key = event.headers.get(HEADER)  # a case-insensitive mapping: API Gateway keeps the sender's case
        if event.http_method.upper() != "POST" or key is None:
            return next_middleware(app)
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            reason = f"must be 1 to {MAX_KEY_LENGTH} characters"
            raise RequestValidationError([{"loc": (HEADER,), "msg": reason, "type": "value_error"}])
        if app.lambda_context is not None:  # lets a record left by a timed-out invocation expire with it
            self.config.register_lambda_context(app.lambda_context)
        identity = event.request_context.identity
        request = {
            # Scoped to the caller's API key, the method and the path: one key per operation.
            "key": [identity.api_key_id, event.http_method.upper(), event.path, key],
            "body": _body(event),
        }
        try:
            reply = self._idempotent_reply(request=request, route=lambda: next_middleware(app))
        except _NotRemembered as refused:
            return refused.response
        return Response(status_code=reply["status_code"], headers=reply["headers"], body=reply["body"])


def key_reused(failure: IdempotencyValidationError) -> Response[dict[str, Any]]:
    reason = "was used with another body on this route"
    return replies.error(HTTPStatus.UNPROCESSABLE_ENTITY, f"{HEADER} {reason}", (HEADER, reason))


def key_in_flight(failure: IdempotencyAlreadyInProgressError) -> Response[dict[str, Any]]:
    reason = "a request with this key is still in progress; retry later"
    return replies.error(HTTPStatus.CONFLICT, f"{HEADER}: {reason}", (HEADER, reason))


def register(app: APIGatewayRestResolver, table: str) -> None:
    """The middleware on every POST, and its failures' replies (the rest: replies.register)."""
    app.use(middlewares=[IdempotentPosts(table)])
    app.exception_handler(IdempotencyValidationError)(key_reused)
    app.exception_handler(IdempotencyAlreadyInProgressError)(key_in_flight)
    app.exception_handler(IdempotencyPersistenceLayerError)(replies.storage_unavailable)
