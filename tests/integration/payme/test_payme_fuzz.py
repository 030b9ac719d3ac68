"""Property tests of the handler: whatever arrives, HTTP 200 and a JSON-RPC reply, no exception escapes,
nothing changes without valid credentials, and with them the transactions and the ledger always agree."""

import base64
import itertools
import json
import time
from typing import Any

import boto3
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.payme_harness import LOCAL_KEY, SECRET_ID, Handler, gas, load_event, served_methods, water
from tolov.billing.invoices import Billing
from tolov.billing.ledger import Ledger

GOOD = "Basic " + base64.b64encode(f"Paycom:{LOCAL_KEY}".encode()).decode()
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
param_names = st.sampled_from(
    ["id", "time", "amount", "account", "reason", "from", "to", "type", "fiscal_data", "password", "x"]
)
request_ids = st.one_of(st.integers(), st.text(max_size=20), st.none(), json_values)
rpc_bodies = st.fixed_dictionaries(
    {},
    optional={
        "method": st.one_of(st.sampled_from(served_methods()), st.text(max_size=20), json_values),
        "params": st.one_of(st.dictionaries(param_names, json_values, max_size=5), json_values),
        "id": request_ids,
        "jsonrpc": st.just("2.0"),
    },
).map(json.dumps)
bodies = st.one_of(
    rpc_bodies, st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
)
bad_authorizations = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.text(max_size=40).map(lambda t: "Basic " + base64.b64encode(f"Paycom:{t}".encode()).decode()),
    st.sampled_from(["Basic ", "Basic ===", GOOD.lower(), GOOD[:-2], GOOD + "x", "Bearer " + GOOD[6:]]),
).filter(lambda value: value != GOOD)
source_ips = st.one_of(st.none(), st.just("185.234.113.1"), st.ip_addresses().map(str), st.text(max_size=20))


def event_for(
    body: str, authorization: str | None, source_ip: str | None, base64_body: bool
) -> dict[str, Any]:
    event = load_event("CheckTransaction")
    event["headers"] = {} if authorization is None else {"Authorization": authorization}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["requestContext"]["identity"]["sourceIp"] = source_ip
    if base64_body:
        event["body"], event["isBase64Encoded"] = (
            base64.b64encode(body.encode("utf-8", "surrogatepass")).decode(),
            True,
        )
    else:
        event["body"] = body
    return event


def invoke(handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
    response = handler.respond(event)
    assert response["statusCode"] == 200
    reply = json.loads(response["body"])
    assert reply["jsonrpc"] == "2.0" and "id" in reply
    assert ("result" in reply) != ("error" in reply)
    if "error" in reply:
        assert isinstance(reply["error"]["code"], int) and not isinstance(reply["error"]["code"], bool)
        assert set(reply["error"]["message"]) == {"ru", "uz", "en"}
    return reply


def snapshot() -> dict[str, Any]:
    """Every table but AuditTable, which keeps each request, refused ones too (tests/integration/audit)."""
    dynamodb = boto3.client("dynamodb")
    tables = {
        name: sorted(json.dumps(item, sort_keys=True) for item in dynamodb.scan(TableName=name)["Items"])
        for name in dynamodb.list_tables()["TableNames"]
        if name != "AuditTable"
    }
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=SECRET_ID)["SecretString"]
    return {"tables": tables, "secret": secret}


def seed() -> tuple[str, int]:
    billing = Billing()
    billing.put_apartment("apt-1", "Flat 1", "r-1")
    invoice = billing.create_invoice("apt-1", "2026-11", [water(), gas()])
    return invoice.invoice_id, int(invoice.amount)


def test_without_valid_credentials_nothing_changes(handler: Handler) -> None:
    seed()

    @FUZZ
    @given(body=bodies, authorization=bad_authorizations, source_ip=source_ips, base64_body=st.booleans())
    def check(body: str, authorization: str | None, source_ip: str | None, base64_body: bool) -> None:
        before = snapshot()
        reply = invoke(handler, event_for(body, authorization, source_ip, base64_body))
        assert reply["error"]["code"] in (-32700, -32504)
        assert snapshot() == before

    check()


def test_valid_credentials_garbage_is_answered_without_internal_errors(handler: Handler) -> None:
    seed()

    @FUZZ
    @given(body=bodies, base64_body=st.booleans())
    def check(body: str, base64_body: bool) -> None:
        reply = invoke(handler, event_for(body, GOOD, "185.234.113.1", base64_body))
        if "error" in reply:
            assert reply["error"]["code"] != -32400, (body, reply)

    check()


def test_random_method_sequences_keep_transactions_and_ledger_in_step(handler: Handler) -> None:
    seed()
    examples = itertools.count()
    # Symbolic calls, resolved against a fresh invoice and fresh Payme ids in every example.
    calls = st.one_of(
        st.tuples(
            st.just("CreateTransaction"),
            st.integers(0, 1),
            # mostly payable pairs, so that sequences get past Create
            st.sampled_from(
                [("exact", "invoice")] * 3
                + [("topup", "apartment")] * 3
                + [
                    ("one", "apartment"),
                    ("exact+1", "invoice"),
                    ("exact", "ghost"),
                    ("exact", "invoice+extra"),
                ]
            ),
            st.sampled_from([0, 0, 0, 1000, 43_200_001]),
        ),
        st.tuples(st.just("PerformTransaction"), st.integers(0, 1)),
        st.tuples(st.just("CancelTransaction"), st.integers(0, 1), st.sampled_from([1, 2, 3, 4, 5, 10])),
        st.tuples(
            st.just("CheckPerformTransaction"),
            st.sampled_from(["exact", "topup"]),
            st.sampled_from(["invoice", "apartment", "ghost"]),
        ),
    )

    @FUZZ
    @given(sequence=st.lists(calls, min_size=2, max_size=12))
    def check(sequence: list[tuple[Any, ...]]) -> None:
        example = next(examples)
        # A fresh invoice per example: its own period, since a service is billed once per period.
        period = f"{2000 + example // 12}-{example % 12 + 1:02d}"
        invoice = Billing().create_invoice("apt-1", period, [water(), gas()])
        invoice_id, amount = invoice.invoice_id, int(invoice.amount)
        payme_ids = [f"{example:020x}{i:04x}" for i in range(2)]
        amounts = {"exact": amount, "topup": 500_000, "one": 1, "exact+1": amount + 1}
        accounts = {
            "invoice": {"order_id": invoice_id},
            "apartment": {"apartment_id": "apt-1"},
            "ghost": {"order_id": "404"},
            "invoice+extra": {"order_id": invoice_id, "extra": "1"},
        }
        for number, call in enumerate(sequence):
            method = call[0]
            if method == "CreateTransaction":
                _, index, (amt, acc), age = call
                params = {
                    "id": payme_ids[index],
                    "time": int(time.time() * 1000) - age,
                    "amount": amounts[amt],
                    "account": accounts[acc],
                }
            elif method == "PerformTransaction":
                params = {"id": payme_ids[call[1]]}
            elif method == "CancelTransaction":
                params = {"id": payme_ids[call[1]], "reason": call[2]}
            else:
                params = {"amount": amounts[call[1]], "account": accounts[call[2]]}
            body = json.dumps({"method": method, "params": params, "id": number})
            reply = invoke(handler, event_for(body, GOOD, "185.234.113.1", False))
            assert reply["id"] == number
            outcome = reply["error"]["code"] if "error" in reply else reply["result"].get("state", "ok")
            event(f"{method} -> {outcome}")
            if "error" in reply:
                assert reply["error"]["code"] not in (-32400, -32600, -32601, -32700), (method, params, reply)
        assert_consistent(payme_ids, invoice_id)

    check()


def assert_consistent(payme_ids: list[str], invoice_id: str) -> None:
    from tolov.payme.dynamo import DynamoRepository

    repo = DynamoRepository()
    holders = 0
    for pid in payme_ids:
        tx = repo.get(pid)
        posting = Ledger.posting(f"payme#{pid}")
        if tx is None or tx.state in (1, -1):
            assert posting is None, (pid, tx)
        else:
            assert posting is not None and (posting.reversed_at is not None) == (tx.state == -2), (pid, tx)
        if tx is not None and tx.kind == "invoice" and tx.state == 1:
            holders += 1
            assert Ledger.invoice(invoice_id).active_payment == f"payme#{pid}"
    assert holders <= 1
    invoice = Ledger.invoice(invoice_id)
    if holders == 0:
        assert invoice.active_payment is None
    paid_by_payme = [
        pid
        for pid in payme_ids
        if (tx := repo.get(pid)) is not None and tx.kind == "invoice" and tx.state == 2
    ]
    assert len(paid_by_payme) <= 1
    assert (invoice.status == "paid") == bool(paid_by_payme)
