"""The JSON-RPC envelope: parse errors, invalid requests, unknown methods, credentials, source addresses.
On the in-memory fakes; a failing DynamoDB's part is in tests/integration/payme/test_payme_dynamo.py."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.payme_harness import Clock, Harness, auth_header, harness_on_fakes, make_harness  # noqa: F401
from tolov.payme.merchant_api import PaymeRequest

PID = "5305e3bab097f420a62ced0b"


def raw(h: Harness, body: str | bytes | None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    reply = h.merchant.handle(PaymeRequest(body, auth_header() if headers is None else headers)).reply
    assert reply["jsonrpc"] == "2.0" and "id" in reply
    assert ("result" in reply) != ("error" in reply)
    return reply


@pytest.mark.parametrize(
    "body",
    ["", "{", "not json", b"\xff\xfe", "NaN", '{"id": 1, "x": Infinity}', "1" * 5000, "[" * 100_000, None],
)
def test_unparseable_body_is_32700_with_null_id(harness: Harness, body: Any) -> None:
    reply = raw(harness, body)
    assert reply["error"]["code"] == -32700 and reply["id"] is None


@pytest.mark.parametrize(
    ("body", "request_id", "data"),
    [
        ([], None, "request"),
        ("text", None, "request"),
        ({}, None, "id"),
        ({"id": {"x": 1}, "method": "CheckTransaction", "params": {}}, None, "id"),
        ({"id": True, "method": "CheckTransaction", "params": {}}, None, "id"),
        ({"id": 5}, 5, "method"),
        ({"id": 5, "method": 7, "params": {}}, 5, "method"),
        ({"id": 5, "method": "CheckTransaction"}, 5, "params"),
        ({"id": 5, "method": "CheckTransaction", "params": [PID]}, 5, "params"),
        ({"id": "s-1", "method": "CheckTransaction", "params": {"id": 12}}, "s-1", "id"),
        ({"id": 5, "method": "CheckTransaction", "params": {"id": ""}}, 5, "id"),
        ({"id": 5, "method": "CheckTransaction", "params": {"id": "x" * 65}}, 5, "id"),
        ({"id": 5, "method": "CheckTransaction", "params": {"id": "a b"}}, 5, "id"),
        (
            {"id": 5, "method": "CreateTransaction", "params": {"id": PID, "amount": 1, "account": {}}},
            5,
            "time",
        ),
        ({"id": 5, "method": "GetStatement", "params": {"from": "1", "to": 2}}, 5, "from"),
        ({"id": 5, "method": "GetStatement", "params": {"from": -1, "to": 2}}, 5, "from"),
        ({"id": 5, "method": "GetStatement", "params": {"from": 1, "to": 10**20}}, 5, "to"),
        ({"id": 5, "method": "CheckPerformTransaction", "params": {"account": {}}}, 5, "amount"),
        ({"id": 5, "method": "CheckPerformTransaction", "params": {"amount": "100"}}, 5, "amount"),
        ({"id": 5, "method": "CheckPerformTransaction", "params": {"amount": True}}, 5, "amount"),
        ({"id": 5, "method": "CheckPerformTransaction", "params": {"amount": 100}}, 5, "account"),
        (
            {"id": 5, "method": "CheckPerformTransaction", "params": {"amount": 100, "account": "1"}},
            5,
            "account",
        ),
    ],
)
def test_invalid_request_is_32600(harness: Harness, body: Any, request_id: Any, data: str) -> None:
    reply = raw(harness, json.dumps(body))
    assert reply["id"] == request_id
    assert reply["error"]["code"] == -32600
    assert reply["error"]["data"] == data


def test_unknown_method_is_32601_with_its_name(harness: Harness) -> None:
    reply = raw(harness, json.dumps({"id": 3, "method": "GetBalance", "params": {}}))
    assert reply["error"] == {"code": -32601, "message": reply["error"]["message"], "data": "GetBalance"}
    assert set(reply["error"]["message"]) == {"ru", "uz", "en"}


def _token(credential: bytes) -> str:
    return base64.b64encode(credential).decode()


BAD_HEADERS: list[dict[str, str]] = [
    {},
    {"Authorization": ""},
    {"Authorization": "Basic"},
    {"Authorization": f"Basic {_token(b'Paycom:wrong-key')}"},
    {"Authorization": f"Basic {_token(b'paycom:local-payme-key')}"},  # the login is exact
    {"Authorization": f"Basic {_token(b'Payme:local-payme-key')}"},
    {"Authorization": f"Basic {_token(b'local-payme-key')}"},
    {"Authorization": f"Basic {_token(b'Paycom:local-payme-key ')}"},
    {"Authorization": f"Basic {_token(b'Paycom:local-payme-ke')}"},
    {"Authorization": f"Bearer {_token(b'Paycom:local-payme-key')}"},
    {"Authorization": "Basic !!!not-base64!!!"},
    {"X-Auth": f"Basic {_token(b'Paycom:local-payme-key')}"},
]


@pytest.fixture
def paid_setup(harness: Harness) -> Iterator[tuple[Harness, str, int]]:
    invoice_id, amount = harness.invoice()
    yield harness, invoice_id, amount


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_bad_credentials_are_32504_for_every_method_and_change_nothing(
    paid_setup: tuple[Harness, str, int], headers: dict[str, str]
) -> None:
    h, invoice_id, amount = paid_setup
    account = {"order_id": invoice_id}
    params = {
        "CheckPerformTransaction": {"amount": amount, "account": account},
        "CreateTransaction": {"id": PID, "time": h.clock.now, "amount": amount, "account": account},
        "PerformTransaction": {"id": PID},
        "CancelTransaction": {"id": PID, "reason": 1},
        "CheckTransaction": {"id": PID},
        "GetStatement": {"from": 0, "to": h.clock.now},
        "SetFiscalData": {"id": PID, "type": "PERFORM", "fiscal_data": {}},
        "ChangePassword": {"password": "stolen"},
        "NoSuchMethod": {},
    }
    for method, p in params.items():
        reply = raw(h, json.dumps({"id": 11, "method": method, "params": p}), headers)
        assert reply["id"] == 11
        assert reply["error"]["code"] == -32504, method
    assert h.repo.get(PID) is None
    assert h.repo.invoice(invoice_id).holder is None
    # The key was not changed by the refused ChangePassword.
    assert h.call("CheckTransaction", {"id": PID})["error"]["code"] == -31003


def test_header_name_is_case_insensitive(harness: Harness) -> None:
    headers = {"authorization": auth_header()["Authorization"]}
    reply = raw(harness, json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": PID}}), headers)
    assert reply["error"]["code"] == -31003


# ---------------------------------------------------------------------- source addresses
@pytest.fixture
def guarded() -> Harness:
    return make_harness(Clock(), fake=True, ip_check_enabled=True)


def handle_from(
    h: Harness, body: str, source_ip: str | None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    reply: dict[str, Any] = h.merchant.handle(
        PaymeRequest(body, auth_header() if headers is None else headers, source_ip)
    ).reply
    return reply


@pytest.mark.parametrize("source_ip", ["10.0.0.1", "185.234.113.16", None, "", "nonsense"])
def test_outside_the_allow_list_everything_is_32504(guarded: Harness, source_ip: str | None) -> None:
    valid = json.dumps({"id": 4, "method": "CheckTransaction", "params": {"id": PID}})
    assert handle_from(guarded, valid, source_ip) == {
        "jsonrpc": "2.0",
        "id": 4,
        "error": {"code": -32504, "message": handle_from(guarded, valid, source_ip)["error"]["message"]},
    }
    assert handle_from(guarded, "{garbage", source_ip)["error"]["code"] == -32504
    unknown = json.dumps({"id": 5, "method": "Nope", "params": {}})
    assert handle_from(guarded, unknown, source_ip)["error"]["code"] == -32504


def test_inside_the_allow_list_the_usual_answers(guarded: Harness) -> None:
    assert handle_from(guarded, "{garbage", "185.234.113.7")["error"]["code"] == -32700
    valid = json.dumps({"id": 4, "method": "CheckTransaction", "params": {"id": PID}})
    assert handle_from(guarded, valid, "185.234.113.7")["error"]["code"] == -31003
    assert handle_from(guarded, valid, "185.234.113.7", headers={})["error"]["code"] == -32504


@pytest.mark.parametrize("http_method", ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get"])
def test_a_request_that_is_not_a_post_is_32300(harness: Harness, http_method: str) -> None:
    valid = json.dumps({"id": 9, "method": "CheckTransaction", "params": {"id": PID}})
    for body, headers, request_id in ((valid, auth_header(), 9), (None, {}, None), ("{garbage", None, None)):
        reply = harness.merchant.handle(PaymeRequest(body, headers, http_method=http_method)).reply
        assert reply["id"] == request_id and "result" not in reply
        assert reply["error"]["code"] == -32300
        assert set(reply["error"]["message"]) == {"ru", "uz", "en"}


def test_a_post_in_any_case_is_served(harness: Harness) -> None:
    valid = json.dumps({"id": 9, "method": "CheckTransaction", "params": {"id": PID}})
    for http_method in ("POST", "post", None):
        reply = harness.merchant.handle(PaymeRequest(valid, auth_header(), http_method=http_method)).reply
        assert reply["error"]["code"] == -31003  # the transaction is unknown: the request was read


def test_outside_the_allow_list_a_get_is_32504_too(guarded: Harness) -> None:
    reply = guarded.merchant.handle(PaymeRequest(None, {}, "10.0.0.1", http_method="GET")).reply
    assert reply["error"]["code"] == -32504
    inside = guarded.merchant.handle(PaymeRequest(None, {}, "185.234.113.7", http_method="GET")).reply
    assert inside["error"]["code"] == -32300
