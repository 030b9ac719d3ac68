"""The billing API's resolver: Powertools' REST resolver reading request bodies as the API documents
them, UTF-8 JSON and nothing else, so that a body it cannot read is a client error and never a crash."""

import binascii
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType
from aws_lambda_powertools.event_handler.types import EventHandlerInstance

JSON = "application/json"


class MalformedBody(Exception):
    """The body is not UTF-8 JSON: bad base64, bad UTF-8, bad JSON or nested deeper than we parse."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _reason(error: BaseException) -> str:
    if isinstance(error, binascii.Error):
        return "not valid base64"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error.msg} at position {error.pos}"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return f"not JSON: {error}"


class _JsonBodies(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, whose body reader also takes forms and multipart and lets
    base64, UTF-8 and recursion errors escape as exceptions (a 502 from API Gateway)."""

    def _get_body(self, app: EventHandlerInstance) -> Any:
        event = app.current_event
        content_type = event.headers.get("content-type") or ""
        if content_type.partition(";")[0].strip().lower() not in ("", JSON):
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[
                    {
                        "type": "unsupported_content_type",
                        "loc": ("header", "Content-Type"),
                        "msg": f"must be {JSON}, not {content_type[:100]}",
                        "input": content_type,
                    }
                ],
            )
        try:
            return event.json_body
        except (ValueError, RecursionError) as error:  # binascii, Unicode and JSON errors are ValueErrors
            raise MalformedBody(_reason(error)) from error


class JsonResolver(APIGatewayRestResolver):
    """APIGatewayRestResolver with validation on, reading bodies as UTF-8 JSON only (NaN and Infinity
    are not JSON either). A bad body raises MalformedBody, a wrong Content-Type
    RequestUnsupportedContentType: the function maps both to its documented error shape."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=_loads)
        # The one place Powertools reads bodies; its validation middleware is built in the constructor.
        self._request_validation_middleware = _JsonBodies()  # type: ignore[no-untyped-call]
