"""The Lambda handler with the sample events of events/payme, against moto (the `aws` fixture)."""

import base64
import json
import time
from typing import Any

import boto3
import pytest

from tests.payme_harness import EVENTS, LOCAL_KEY, SECRET_ID, Handler, gas, load_event, served_methods, water
from tolov.billing.invoices import Billing

PID = "5305e3bab097f420a62ced0b"


def seed_invoice() -> tuple[str, int]:
    billing = Billing()
    billing.put_apartment("apt-1", "Yunusobod 4-18-7", "resident-1")
    invoice = billing.create_invoice("apt-1", "2026-09", [water(), gas()])
    return invoice.invoice_id, int(invoice.amount)


def test_every_method_has_a_sample_event() -> None:
    """One sample per method the core's method table serves, and no sample of a method it does not."""
    names = sorted(p.stem for p in EVENTS.glob("*.json"))
    assert names == served_methods()
    for path in EVENTS.glob("*.json"):
        event = json.loads(path.read_text())
        assert event["httpMethod"] == "POST" and event["path"] == "/payme"
        credential = base64.b64decode(event["headers"]["Authorization"].removeprefix("Basic "))
        assert credential == b"Paycom:local-payme-key"
        assert json.loads(event["body"])["method"] == path.stem


def test_sample_events_drive_a_whole_payment(handler: Handler) -> None:
    invoice_id, amount = seed_invoice()
    account = {"order_id": invoice_id}
    now = int(time.time() * 1000)
    replies: dict[str, dict[str, Any]] = {}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("CheckPerformTransaction", {"amount": amount, "account": account}),
        ("CreateTransaction", {"id": PID, "time": now, "amount": amount, "account": account}),
        ("CheckTransaction", {}),
        ("PerformTransaction", {}),
        ("SetFiscalData", {}),
        ("GetStatement", {"from": now - 1000, "to": now + 1000}),
        ("CancelTransaction", {}),
        ("ChangePassword", {}),
    ]
    for method, params in steps:
        reply = handler.invoke(load_event(method, **params))
        assert "result" in reply, (method, reply)
        sample = json.loads((EVENTS / f"{method}.json").read_text())
        assert reply["id"] == json.loads(sample["body"])["id"]
        replies[method] = reply["result"]
    assert replies["CheckPerformTransaction"]["allow"] is True
    assert len(replies["CheckPerformTransaction"]["detail"]["items"]) == 2
    assert replies["CreateTransaction"]["state"] == 1
    assert replies["PerformTransaction"]["state"] == 2
    assert [t["id"] for t in replies["GetStatement"]["transactions"]] == [PID]
    assert replies["CancelTransaction"]["state"] == -2
    assert replies["ChangePassword"] == {"success": True}
    # The sample ChangePassword sets the key it already has: nothing changes, the key still works.
    assert handler.invoke(load_event("CheckTransaction"))["result"]["state"] == -2


def test_request_id_is_echoed(handler: Handler) -> None:
    event = load_event("CheckTransaction")
    body = json.loads(event["body"])
    for request_id in (7, "abc-1"):
        body["id"] = request_id
        event["body"] = json.dumps(body)
        assert handler.invoke(event)["id"] == request_id


def test_base64_encoded_body(handler: Handler) -> None:
    event = load_event("CheckTransaction")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert handler.invoke(event)["error"]["code"] == -31003


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda ev: ev.update(body=None), -32700),
        (lambda ev: ev.update(body="{not json"), -32700),
        (lambda ev: ev.update(headers=None, multiValueHeaders=None), -32504),
        (lambda ev: ev.update(requestContext=None), -31003),  # no address check outside prod
        (lambda ev: ev.update(body="AAAA", isBase64Encoded=True), -32700),
        (lambda ev: ev.clear(), -32700),
    ],
)
def test_broken_events_still_get_a_json_rpc_reply(handler: Handler, mutate: Any, code: int) -> None:
    event = load_event("CheckTransaction")
    mutate(event)
    assert handler.invoke(event)["error"]["code"] == code


def test_wrong_key_is_refused_for_every_sample(handler: Handler) -> None:
    bad = "Basic " + base64.b64encode(b"Paycom:not-the-key").decode()
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text())
        event["headers"]["Authorization"] = bad
        reply = handler.invoke(event)
        assert reply["error"]["code"] == -32504, path.stem
        assert reply["id"] == json.loads(event["body"])["id"]


def test_logs_carry_the_method_but_never_the_credentials(
    handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    handler.invoke(load_event("CheckTransaction"))
    handler.invoke(load_event("ChangePassword", password="another-key-123"))
    handler.invoke(load_event("CheckTransaction"))  # the old key, inside its overlap window
    out = capsys.readouterr().out
    token = load_event("CheckTransaction")["headers"]["Authorization"].removeprefix("Basic ")
    assert '"method":"CheckTransaction"' in out.replace(" ", "")
    for secret in (LOCAL_KEY, token, "another-key-123", base64.b64encode(b"Paycom:another-key-123").decode()):
        assert secret not in out
    assert '"Requests"' in out  # the EMF metrics blob


def test_change_password_persists_the_new_key(handler: Handler) -> None:
    reply = handler.invoke(load_event("ChangePassword", password="rotated-key-0001"))
    assert reply["result"] == {"success": True}
    stored = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=SECRET_ID)["SecretString"])
    assert stored["key"] == "rotated-key-0001" and stored["previous"] == LOCAL_KEY
    event = load_event("CheckTransaction")
    event["headers"]["Authorization"] = "Basic " + base64.b64encode(b"Paycom:rotated-key-0001").decode()
    assert handler.invoke(event)["error"]["code"] == -31003  # authenticated: the transaction is just unknown


@pytest.mark.parametrize(
    ("source_ip", "code"),
    [("185.234.113.1", -31003), ("185.234.113.15", -31003), ("185.234.113.16", -32504), ("10.0.0.1", -32504)],
)
def test_prod_lets_in_only_payme_addresses(
    handler: Handler, monkeypatch: pytest.MonkeyPatch, source_ip: str, code: int
) -> None:
    from tolov.settings import get_settings

    monkeypatch.setenv("TOLOV_ENV", "prod")
    get_settings.cache_clear()
    handler = Handler.new_container()
    event = load_event("CheckTransaction")
    event["requestContext"]["identity"]["sourceIp"] = source_ip
    event["headers"]["X-Forwarded-For"] = "185.234.113.1"  # a header anyone can send; not trusted
    assert handler.invoke(event)["error"]["code"] == code


def test_dev_does_not_check_the_address(handler: Handler) -> None:
    event = load_event("CheckTransaction")
    event["requestContext"]["identity"]["sourceIp"] = "127.0.0.1"
    assert handler.invoke(event)["error"]["code"] == -31003


def test_missing_configuration_is_a_system_error_reply(
    handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tolov.settings import get_settings

    monkeypatch.delenv("PAYME_KEY_SECRET_ARN")
    get_settings.cache_clear()
    handler = Handler.new_container()
    assert handler.invoke(load_event("CheckTransaction"))["error"]["code"] == -32400


def test_the_handler_loads_no_click_code() -> None:
    """What the function imports when Lambda loads it: the Payme and billing cores, nothing of Click."""
    from tests.support import modules_at_load

    modules = modules_at_load("payme_merchant")
    assert "tolov.payme.merchant_api" in modules
    assert not [m for m in modules if m.startswith("tolov.click")], modules


def test_a_non_dict_event_still_gets_a_reply(handler: Handler) -> None:
    response = handler.respond(["not", "an", "event"])
    assert response["statusCode"] == 200 and json.loads(response["body"])["error"]["code"] == -32700


@pytest.mark.parametrize("http_method", ["GET", "PUT", "DELETE", "HEAD"])
def test_a_request_that_is_not_a_post_is_answered_32300_with_http_200(
    handler: Handler, http_method: str
) -> None:
    event = load_event("CheckTransaction")
    event["httpMethod"] = http_method
    event["requestContext"]["httpMethod"] = http_method
    reply = handler.invoke(event)  # asserts HTTP 200 and a JSON-RPC body
    assert reply["error"]["code"] == -32300 and set(reply["error"]["message"]) == {"ru", "uz", "en"}
    event.update(body=None)
    assert handler.invoke(event)["error"]["code"] == -32300
