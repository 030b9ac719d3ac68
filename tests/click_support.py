"""Helpers for the Click tests: signed SHOP-API forms, API Gateway events, a configured ClickShopFunction
on moto, and the SHOP-API core on the in-memory fakes.

Forms are signed with the conformance runner's click_sign (Click's formula, not tolov.click.sign), so
that the tests check the production code against the specification rather than against itself.
"""

import itertools
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from local.template import function_environment
from tests.fakes import FakeClickRepository, FakeLedger, FakeReversalQueue
from tests.support import FakeContext, load_handler, sqs_event
from tolov.billing.invoices import Billing, NewItem
from tolov.click.request import Action
from tolov.click.shop_api import ClickShop
from tolov_conformance import click_tester

SECRET = "local-click-secret"
SERVICE_ID = "12345"
SIGN_TIME = "2026-05-01 12:00:00"
# A queue URL no queue answers at: the SQS send fails.
NO_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/NoSuchQueue"
_ids = itertools.count(7_000_000_001)


def next_trans_id() -> str:
    return str(next(_ids))


def trans_ids() -> Iterator[int]:
    """click_trans_ids from the same counter, for click_tester.Tester."""
    while True:
        yield next(_ids)


def form(
    action: str,
    click_trans_id: str,
    merchant_trans_id: str,
    amount: str,
    *,
    service_id: str = SERVICE_ID,
    secret: str = SECRET,
    sign_time: str = SIGN_TIME,
    **kw: Any,
) -> dict[str, str]:
    """The fields Click posts, signed with the local secret unless told otherwise (click_tester.form)."""
    return click_tester.form(
        action, click_trans_id, merchant_trans_id, amount, service_id=service_id, secret=secret,
        sign_time=sign_time, **kw,
    )


def prepare_form(click_trans_id: str, merchant_trans_id: str, amount: str, **kw: Any) -> dict[str, str]:
    return form("0", click_trans_id, merchant_trans_id, amount, **kw)


def complete_form(
    click_trans_id: str, merchant_trans_id: str, amount: str, prepare_id: str | int | None, **kw: Any
) -> dict[str, str]:
    return form("1", click_trans_id, merchant_trans_id, amount, prepare_id=prepare_id, **kw)


FORM = "application/x-www-form-urlencoded"


def metric_names(output: str) -> set[str]:
    """Metric names in the function's stdout (Powertools prints CloudWatch EMF there)."""
    names: set[str] = set()
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            record = json.loads(line)
            names |= {m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    return names


def api_event(path: str, body: str | None, content_type: str | None = FORM) -> dict[str, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"resourcePath": path, "httpMethod": "POST", "path": "/dev" + path, "stage": "dev"},
        "body": body,
        "isBase64Encoded": False,
    }


def item(service: str, amount: int, count: int = 1) -> NewItem:
    return NewItem(service, service.title(), amount, count, "10101001001000000", "123456", 12)


@dataclass
class ClickStack:
    """ClickShopFunction in-process on moto: post forms, read the reversal queue."""

    queue_url: str
    billing: Billing

    def call(self, path: str, body: str | None, content_type: str | None = FORM) -> tuple[int, Any]:
        reply = load_handler("click_shop").lambda_handler(api_event(path, body, content_type), FakeContext())
        return reply["statusCode"], json.loads(reply["body"])

    def post(self, path: str, fields: dict[str, str]) -> dict[str, Any]:
        status, body = self.call(path, urlencode(fields))
        assert status == 200
        return body  # type: ignore[no-any-return]

    def prepare(self, fields: dict[str, str]) -> dict[str, Any]:
        return self.post("/click/prepare", fields)

    def complete(self, fields: dict[str, str]) -> dict[str, Any]:
        return self.post("/click/complete", fields)

    def credit(self, apartment_id: str) -> int:
        return self.billing.balance(apartment_id).credit

    def reversal_messages(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return messages
            messages.extend(json.loads(m["Body"]) for m in got)

    def apartment(self, apartment_id: str = "apt-1") -> str:
        self.billing.put_apartment(apartment_id, "Flat", "resident-1")
        return apartment_id

    def invoice(self, amount: int = 1_500_000, apartment_id: str = "apt-1") -> str:
        self.apartment(apartment_id)
        return self.billing.create_invoice(apartment_id, "2026-05", [item("water", amount)]).invoice_id

    def queued_completes(self) -> list[dict[str, Any]]:
        """The messages on ClickCompleteQueue as SQS gives them (received: hidden from another receive)."""
        sqs, url = boto3.client("sqs"), os.environ["CLICK_COMPLETE_QUEUE_URL"]
        messages: list[dict[str, Any]] = []
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            messages.extend(got)
        return messages

    def settle(self, messages: list[dict[str, Any]]) -> list[str]:
        """ClickCompleteFunction on these messages; the ids of the messages it failed (SQS redelivers)."""
        event = sqs_event(messages, queue="ClickCompleteQueue")
        reply = load_handler("click_complete").lambda_handler(event, FakeContext())
        return [failure["itemIdentifier"] for failure in reply["batchItemFailures"]]


@contextmanager
def click_stack(
    local_config: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    unset: Sequence[str] = (),
    **overrides: str,
) -> Iterator[ClickStack]:
    """Inside mock_aws: the function's environment from template.yaml with `overrides` and without the
    `unset` variables, the reversal queue, fresh caches and new containers wired with that environment."""
    from tolov.settings import get_settings

    env = function_environment("ClickShopFunction", local_config)
    queue_url = boto3.client("sqs").create_queue(QueueName="ClickReversalQueue")["QueueUrl"]
    env["CLICK_REVERSAL_QUEUE_URL"] = queue_url
    env.update(overrides)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    load_handler("click_shop", fresh=True)  # new containers, wired with this environment
    load_handler("click_reversal", fresh=True)
    load_handler("click_complete", fresh=True)
    try:
        yield ClickStack(queue_url=queue_url, billing=Billing())
    finally:
        get_settings.cache_clear()


@dataclass
class ClickCore:
    """The SHOP-API core on the in-memory fakes: what ClickStack does, without the handler or moto."""

    shop: ClickShop
    ledger: FakeLedger
    repository: FakeClickRepository
    queue: FakeReversalQueue

    def prepare(self, fields: dict[str, str]) -> dict[str, Any]:
        return self.shop.handle(fields, Action.PREPARE).reply

    def complete(self, fields: dict[str, str]) -> dict[str, Any]:
        return self.shop.handle(fields, Action.COMPLETE).reply

    def apartment(self, apartment_id: str = "apt-1") -> str:
        self.ledger.put_apartment(apartment_id, "Flat", "resident-1")
        return apartment_id

    def credit(self, apartment_id: str) -> int:
        return self.ledger.balance(apartment_id).credit

    def reversal_messages(self) -> list[dict[str, Any]]:
        return self.queue.messages()


def click_core(cancel_after_confirm: int = -4) -> ClickCore:
    """The shop as ClickShopFunction builds it (the local secret and service id), on the fakes."""
    ledger = FakeLedger()
    repository, queue = FakeClickRepository(ledger), FakeReversalQueue()
    shop = ClickShop(
        repository,
        queue,
        service_id=SERVICE_ID,
        secret_key=lambda: SECRET,
        cancel_after_confirm=cancel_after_confirm,
    )
    return ClickCore(shop, ledger, repository, queue)
