"""A DynamoDB that accepts connections and never answers: every handler still answers its protocol's
retryable reply, before its function's Timeout (tolov.aws: time-outs, two attempts, the deadline)."""

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools.utilities import parameters

from local.template import SamTemplate, function_environment
from tests.click_support import api_event, complete_form, next_trans_id, prepare_form
from tests.payme_harness import HANDLER_ENV, load_event
from tests.support import FakeContext, load_handler, rest_event, stalled_endpoint
from tolov.settings import get_settings
from tolov.store import models

TEMPLATE = SamTemplate.load()


@pytest.fixture
def stalled(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store's endpoint pointed at a stalled server; the real one bound again afterwards."""
    with stalled_endpoint() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        get_settings.cache_clear()
        models.bind(get_settings())
        try:
            yield url
        finally:
            monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
            get_settings.cache_clear()
            models.bind(get_settings())


def run(function: str, directory: str, event: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    """A new container of `function` answers `event` with the whole of its template Timeout left:
    the response, the seconds it took and the Timeout."""
    budget_s = TEMPLATE.function_settings(function).timeout_s
    app = load_handler(directory, fresh=True)
    start = time.monotonic()
    response: dict[str, Any] = app.lambda_handler(event, FakeContext(function, remaining_ms=budget_s * 1000))
    return response, time.monotonic() - start, budget_s


def test_payme_answers_minus_32400_before_its_timeout(
    stalled: str, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**function_environment("PaymeMerchantFunction", local_config), **HANDLER_ENV}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    parameters.clear_caches()
    event = load_event("CheckPerformTransaction", amount=1_500_000, account={"order_id": "1234567890"})
    response, elapsed, budget = run("PaymeMerchantFunction", "payme_merchant", event)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["error"]["code"] == -32400
    assert elapsed < budget


def test_click_prepare_answers_minus_7_before_its_timeout(
    stalled: str, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in function_environment("ClickShopFunction", local_config).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    parameters.clear_caches()
    fields = prepare_form(next_trans_id(), "1234567890", "15000.00")
    event = api_event("/click/prepare", urlencode(fields))
    response, elapsed, budget = run("ClickShopFunction", "click_shop", event)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["error"] == -7
    assert elapsed < budget


def test_the_billing_api_answers_503_before_its_timeout(stalled: str, function_env: dict[str, str]) -> None:
    get_settings.cache_clear()
    event = rest_event("GET", "/invoices/{invoice_id}", {"invoice_id": "1234567890"})
    response, elapsed, budget = run("BillingApiFunction", "billing_api", event)
    assert response["statusCode"] == 503
    body = json.loads(response["body"])
    assert body["message"] == "storage is unavailable, retry" and body["errors"] == []
    assert elapsed < budget


def test_a_click_complete_after_a_debit_is_queued_and_answered_0_before_its_timeout(
    stalled: str, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one reply that must not fail after Click debited: the store's calls leave the queue its time."""
    import boto3

    environment = function_environment("ClickShopFunction", local_config)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    parameters.clear_caches()
    fields = complete_form(next_trans_id(), "1234567890", "15000.00", "987654")
    event = api_event("/click/complete", urlencode(fields))
    response, elapsed, budget = run("ClickShopFunction", "click_shop", event)
    reply = json.loads(response["body"])
    assert (response["statusCode"], reply["error"], reply["merchant_confirm_id"]) == (200, 0, 987654)
    queued = boto3.client("sqs").receive_message(QueueUrl=environment["CLICK_COMPLETE_QUEUE_URL"])
    assert [json.loads(m["Body"])["fields"]["click_trans_id"] for m in queued["Messages"]] == [
        fields["click_trans_id"]
    ]
    assert elapsed < budget
