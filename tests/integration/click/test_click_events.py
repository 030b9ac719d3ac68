"""The sample events in events/click/ stay valid: signed with the local secret, and handled as described."""

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from tests.click_support import SECRET, ClickStack, click_stack
from tests.support import FakeContext, load_handler, sample_event
from tolov.click import dynamo
from tolov_conformance.click_tester import click_sign

EVENTS = sorted(p.name for p in (Path(__file__).parents[3] / "events" / "click").glob("*.json"))


@pytest.fixture
def stack(aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ClickStack]:
    with click_stack(local_config, monkeypatch) as stack:
        stack.apartment("apt-chilonzor-12-45")  # from local/seed.json
        yield stack


def fields_of(name: str) -> dict[str, str]:
    event = sample_event(f"click/{name}")
    if "json" in event["headers"]["Content-Type"]:
        return dict(json.loads(event["body"]))
    return dict(parse_qsl(event["body"], keep_blank_values=True))


@pytest.mark.parametrize("name", EVENTS)
def test_sample_events_are_signed_with_the_local_secret(name: str) -> None:
    f = fields_of(name)
    assert f["service_id"] == "12345"
    expected = click_sign(f, SECRET)
    assert (f["sign_string"] == expected) is ("bad_sign" not in name)


def reply(name: str) -> dict[str, object]:
    response = load_handler("click_shop").lambda_handler(sample_event(f"click/{name}"), FakeContext())
    assert response["statusCode"] == 200
    body: dict[str, object] = json.loads(response["body"])
    return body


def test_sample_events_in_order(stack: ClickStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # The samples' Complete carries merchant_prepare_id 1 under its signature: the id the Prepare draws
    # at random is made that one here (the first draw; later ones random again).
    first, drawn = iter([1]), dynamo.random_prepare_id
    monkeypatch.setattr(dynamo, "random_prepare_id", lambda: next(first, None) or drawn())
    assert reply("prepare_bad_sign.json")["error"] == -1
    prepared = reply("prepare.json")
    assert (prepared["error"], prepared["merchant_prepare_id"]) == (0, 1)
    completed = reply("complete.json")
    assert (completed["error"], completed["merchant_confirm_id"]) == (0, 1)
    assert reply("complete.json")["error"] == -4
    assert reply("complete_cancel.json")["error"] == -4
    assert reply("prepare_json_body.json")["error"] == 0
    assert stack.billing.balance("apt-chilonzor-12-45").credit == 50_000_00
