"""ReconciliationFunction's handler on moto: the report routes in the billing API's shape, and the
schedule's run of yesterday."""

from collections.abc import Iterator
from typing import Any

import pytest

from local.template import function_environment
from tests.support import FakeContext, invoke, load_handler, rest_event


@pytest.fixture
def function(aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tolov.settings import get_settings

    for name, value in function_environment("ReconciliationFunction", local_config).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    load_handler("reconciliation", fresh=True)
    yield
    get_settings.cache_clear()


def get(day: str, **query: str) -> tuple[int, Any, dict[str, str]]:
    event = rest_event("GET", "/reports/{date}", {"date": day})
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    reply = load_handler("reconciliation").lambda_handler(event, FakeContext())
    headers = {k: v[0] for k, v in (reply.get("multiValueHeaders") or {}).items()}
    return reply["statusCode"], reply.get("body"), {**headers, **(reply.get("headers") or {})}


def run(day: str) -> tuple[int, Any]:
    return invoke("reconciliation", rest_event("POST", "/reports/{date}/run", {"date": day}))


def test_404_before_the_run_then_json_and_csv(function: None) -> None:
    status, body, _ = get("2026-11-30")
    assert status == 404 and "2026-11-30" in body
    assert run("2026-11-30") == (202, {"date": "2026-11-30"})
    assert run("2026-11-30") == (202, {"date": "2026-11-30"})  # safe to repeat
    status, body, headers = get("2026-11-30")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert '"date": "2026-11-30"' in body and '"matches": true' in body
    status, body, headers = get("2026-11-30", format="csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body.splitlines()[0].startswith("row,provider,transaction_id")
    assert "total,payme" in body and "total,click" in body


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "2026-02-30"])
def test_a_bad_date_is_422_in_the_billing_shape(function: None, day: str) -> None:
    status, body = run(day)
    assert status == 422 and body["errors"] and body["message"]
    status, raw, _ = get(day)
    assert status == 422 and '"errors"' in raw


def test_a_bad_format_is_422(function: None) -> None:
    status, raw, _ = get("2026-11-30", format="xml")
    assert status == 422 and "format" in raw


def test_the_schedule_reconciles_yesterday(function: None) -> None:
    reply = load_handler("reconciliation").lambda_handler({}, FakeContext())
    assert reply["matches"] is True and reply["mismatches"] == 0
    status, body, _ = get(reply["date"])
    assert status == 200 and f'"date": "{reply["date"]}"' in body
