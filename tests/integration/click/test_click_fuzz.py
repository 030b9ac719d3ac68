"""Fuzz ClickShopFunction: whatever arrives, Click gets HTTP 200 and a JSON object with an integer `error`,
and a request that does not carry a valid signature changes nothing in any table."""

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.click_support import ClickStack, api_event, click_stack, complete_form, form, prepare_form
from tests.support import FakeContext, load_handler

FIELDS = [
    "click_trans_id",
    "service_id",
    "click_paydoc_id",
    "merchant_trans_id",
    "merchant_prepare_id",
    "amount",
    "action",
    "error",
    "error_note",
    "sign_time",
    "sign_string",
]
SIGNED = ["click_trans_id", "service_id", "merchant_trans_id", "amount", "action", "sign_time", "sign_string"]
PATHS = ["/click/prepare", "/click/complete", "/click", None]
CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/json", "text/plain", None, "multipart/x"]
TABLES = ["TransactionsTable", "InvoicesTable", "PostingsTable", "ChargesTable", "ApartmentsTable"]
CODES = {0, -1, -2, -3, -4, -5, -6, -7, -8, -9}

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "0", "00", "-0", "1e3", "1.5", "1000.00", "1000.001", "١٢٣", " 1", "1\n", "0x10"]),
)
values = st.one_of(st.text(max_size=40), numbers)


@st.composite
def garbage_fields(draw: st.DrawFn) -> dict[str, str]:
    names = draw(st.lists(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), max_size=14))
    return {name: draw(values) for name in names}


@st.composite
def tampered_forms(draw: st.DrawFn) -> dict[str, str]:
    """A form signed correctly, then one signed field changed or dropped: the signature no longer holds.
    (click_paydoc_id, error and error_note are not part of Click's signature.)"""
    action = draw(st.sampled_from(["0", "1"]))
    fields = form(action, draw(st.sampled_from(["7000000999", "1"])), "apt-1", "1000", prepare_id=1)
    signed = SIGNED + (["merchant_prepare_id"] if action == "1" else [])
    name = draw(st.sampled_from(signed))
    if draw(st.booleans()):
        fields.pop(name, None)
    else:
        fields[name] = draw(values.filter(lambda v, n=name: v != fields.get(n)))
    return fields


@st.composite
def requests(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """An API Gateway event and whether it may legitimately write (it carries a valid signature)."""
    kind = draw(st.sampled_from(["raw", "form", "json", "tampered", "signed"]))
    path = draw(st.sampled_from(PATHS))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    may_write = False
    if kind == "raw":
        raw = st.one_of(st.none(), st.text(max_size=200), st.binary(max_size=100).map(repr))
        body: str | None = draw(raw)
    elif kind == "form":
        body = urlencode(draw(garbage_fields()))
    elif kind == "json":
        data = draw(
            st.one_of(
                garbage_fields(),
                st.recursive(
                    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
                    max_leaves=8,
                ),
            )
        )
        body = json.dumps(data)
    elif kind == "tampered":
        body = urlencode(draw(tampered_forms()))
    else:
        # Correctly signed, with random ids and amounts: may be accepted and write.
        ctid = str(draw(st.integers(min_value=1, max_value=10**12)))
        amount = draw(st.sampled_from(["1000", "1000.00", "0", "0.01", "99999999.99", "00100"]))
        if draw(st.booleans()):
            fields = prepare_form(ctid, "apt-1", amount)
        else:
            prepare_id = draw(st.integers(min_value=1, max_value=50))
            error = draw(st.sampled_from(["0", "-5017", "-1"]))
            fields = complete_form(ctid, "apt-1", amount, prepare_id, error=error)
        body = urlencode(fields)
        may_write = True
        content_type = "application/x-www-form-urlencoded"
    request = api_event(path or "/unknown", body, content_type)
    if path is None:
        request.pop("resource")
    if body is not None and draw(st.booleans()) and kind != "signed":
        request["body"] = base64.b64encode(body.encode()).decode() if draw(st.booleans()) else body + "%"
        request["isBase64Encoded"] = draw(st.booleans())
    return request, may_write


def snapshot() -> dict[str, list[Any]]:
    client = boto3.client("dynamodb")
    return {
        table: sorted(json.dumps(item, sort_keys=True) for item in client.scan(TableName=table)["Items"])
        for table in TABLES
    }


@pytest.fixture
def stack(aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ClickStack]:
    with click_stack(local_config, monkeypatch) as stack:
        stack.invoice(100_000, "apt-1")
        yield stack


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=requests())
def test_any_request_gets_a_json_reply_with_an_integer_error(
    stack: ClickStack, case: tuple[dict[str, Any], bool]
) -> None:
    request, may_write = case
    before = snapshot()
    response = load_handler("click_shop").lambda_handler(request, FakeContext())

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("application/json")
    reply = json.loads(response["body"])
    assert isinstance(reply, dict)
    assert type(reply["error"]) is int and reply["error"] in CODES
    assert isinstance(reply["error_note"], str) and reply["error_note"]
    assert reply["click_trans_id"] is None or type(reply["click_trans_id"]) is int
    assert reply["merchant_trans_id"] is None or isinstance(reply["merchant_trans_id"], str)
    assert reply["error"] != -7  # nothing here should make our own code fail
    event(f"error {reply['error']}")
    if not may_write:
        assert reply["error"] in {-1, -3, -8}
        assert snapshot() == before


def test_nothing_secret_reaches_the_logs(stack: ClickStack, caplog: pytest.LogCaptureFixture) -> None:
    fields = prepare_form("7000000123", "apt-1", "1000")
    assert stack.prepare(fields)["error"] == 0
    stack.prepare(prepare_form("7000000124", "apt-1", "1000", bad_sign=True))
    logged = repr([r.__dict__ for r in caplog.records])
    assert "local-click-secret" not in logged and fields["sign_string"] not in logged
