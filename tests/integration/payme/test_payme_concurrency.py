"""Exactly once under real threads against a shared store: moto in-process (mock_aws) and a moto server
over HTTP (ThreadedMotoServer on 127.0.0.1). Each thread is its own "container": its own Merchant,
repository and clock, sharing only the tables. A barrier releases them together."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from local.template import load_config, provision
from tests.fakes import StaticKeyStore
from tests.payme_harness import LOCAL_KEY, Clock, Harness, auth_header, make_harness
from tests.support import together
from tolov.billing.ledger import Ledger
from tolov.payme.merchant_api import PaymeRequest
from tolov.settings import load_settings
from tolov.store import models as store_models
from tolov.store.models import Charge, Posting
from tolov.store.payme_models import PaymeTransactionRecord

THREADS = 20


@pytest.fixture(params=["mock_aws", "moto_server"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "mock_aws":
        with mock_aws():
            provision(load_config())
            yield "mock_aws"
        return
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        provision(load_config(), endpoint_url=url)
        store_models.bind(load_settings()._replace(dynamodb_endpoint=url))
        yield url
    finally:
        store_models.bind(load_settings())
        server.stop()


def container() -> Harness:
    """A fresh merchant as a separate Lambda container would have it."""
    return make_harness(Clock(), keys=StaticKeyStore(LOCAL_KEY))


def rpc(method: str, params: dict[str, Any], request_id: int = 1) -> Callable[[], dict[str, Any]]:
    body = json.dumps({"method": method, "params": params, "id": request_id})

    def call() -> dict[str, Any]:
        return container().merchant.handle(PaymeRequest(body, auth_header())).reply

    return call


def payme_postings() -> list[Posting]:
    return [p for p in Posting.scan() if p.payment_key.startswith("payme#")]


def test_twenty_new_ids_for_one_invoice_exactly_one_wins(backend: str) -> None:
    h = container()
    invoice_id, amount = h.invoice()
    now = h.clock.now
    ids = [f"{i:024x}" for i in range(1, THREADS + 1)]
    replies = together(
        [
            rpc(
                "CreateTransaction",
                {"id": pid, "time": now, "amount": amount, "account": {"order_id": invoice_id}},
                i,
            )
            for i, pid in enumerate(ids)
        ]
    )
    winners = [ids[i] for i, r in enumerate(replies) if "result" in r]
    assert len(winners) == 1, replies
    assert sorted(r["error"]["code"] for r in replies if "error" in r) == [-31008] * (THREADS - 1)
    assert [r["id"] for r in replies] == list(range(THREADS))
    assert h.repo.invoice(invoice_id).holder == f"payme#{winners[0]}"
    assert [t.id for t in h.repo.statement(now, now)] == winners
    assert all(h.repo.get(pid) is None for pid in ids if pid != winners[0])


def test_twenty_identical_performs_post_once_and_answer_alike(backend: str) -> None:
    h = container()
    invoice_id, amount = h.invoice()
    pid = "5305e3bab097f420a62ced0b"
    assert h.create(pid, amount, {"order_id": invoice_id})["result"]["state"] == 1
    replies = together([rpc("PerformTransaction", {"id": pid}) for _ in range(THREADS)])
    assert all("result" in r for r in replies), replies
    assert all(r == replies[0] for r in replies)
    assert replies[0]["result"]["state"] == 2
    postings = payme_postings()
    assert [p.payment_key for p in postings] == [f"payme#{pid}"]
    invoice = Ledger.invoice(invoice_id)
    assert (invoice.status, int(invoice.paid_amount)) == ("paid", amount)
    assert dict(invoice.payments.as_dict()) == {f"payme#{pid}": amount}
    charges = list(Charge.query("apt-1"))
    assert sum(int(c.paid_amount) for c in charges) == amount and all(int(c.unpaid) == 0 for c in charges)
    assert h.result("CheckTransaction", {"id": pid})["perform_time"] == replies[0]["result"]["perform_time"]


def test_twenty_identical_creates_store_one_transaction(backend: str) -> None:
    h = container()
    invoice_id, amount = h.invoice()
    params = {
        "id": "5305e3bab097f420a62ced0b",
        "time": h.clock.now,
        "amount": amount,
        "account": {"order_id": invoice_id},
    }
    replies = together([rpc("CreateTransaction", params) for _ in range(THREADS)])
    assert all("result" in r for r in replies), replies
    assert all(r == replies[0] for r in replies)
    assert len(list(PaymeTransactionRecord.scan())) == 1


def test_twenty_identical_refunds_reverse_once(backend: str) -> None:
    h = container()
    invoice_id, amount = h.invoice()
    pid = "5305e3bab097f420a62ced0b"
    h.create(pid, amount, {"order_id": invoice_id})
    h.result("PerformTransaction", {"id": pid})
    replies = together([rpc("CancelTransaction", {"id": pid, "reason": 5}) for _ in range(THREADS)])
    assert all(r == replies[0] for r in replies) and replies[0]["result"]["state"] == -2
    invoice = Ledger.invoice(invoice_id)
    assert (invoice.status, int(invoice.paid_amount)) == ("open", 0)
    assert h.billing.balance("apt-1").debt == amount  # restored once, not twenty times


def test_perform_racing_cancel_leaves_ledger_and_state_agreeing(backend: str) -> None:
    h = container()
    invoice_id, amount = h.invoice()
    pid = "5305e3bab097f420a62ced0b"
    h.create(pid, amount, {"order_id": invoice_id})
    calls = [rpc("PerformTransaction", {"id": pid}, 1) for _ in range(10)]
    calls += [rpc("CancelTransaction", {"id": pid, "reason": 3}, 2) for _ in range(10)]
    replies = together(calls)
    cancels = replies[10:]
    assert all(r == cancels[0] for r in cancels) and "result" in cancels[0]
    final = h.result("CheckTransaction", {"id": pid})
    posting = Ledger.posting(f"payme#{pid}")
    invoice = Ledger.invoice(invoice_id)
    if final["state"] == -1:  # cancel won: no perform may have succeeded
        assert all(r["error"]["code"] == -31008 for r in replies[:10])
        assert posting is None and invoice.status == "open" and invoice.active_payment is None
    else:  # perform won, then the cancels refunded it
        assert final["state"] == -2
        assert posting is not None and posting.reversed_at is not None
        assert invoice.status == "open" and int(invoice.paid_amount) == 0


def test_parallel_top_ups_of_one_apartment_all_count(backend: str) -> None:
    h = container()
    h.invoice()  # 40 000 sum of debt
    ids = [f"{i:024x}" for i in range(1, THREADS + 1)]
    for pid in ids:
        h.create(pid, 300_000, {"apartment_id": "apt-1"})
    replies = together([rpc("PerformTransaction", {"id": pid}) for pid in ids])
    # Twenty payments into one apartment in the same instant contend for the same charges. The merchant
    # backs off and retries; should it still give up, the answer is -32400 with nothing written, and
    # Payme's own retry then goes through, exactly once.
    assert {r["error"]["code"] for r in replies if "error" in r} <= {-32400}
    for pid, reply in zip(ids, replies, strict=True):
        for _ in range(3):
            if "result" in reply:
                break
            reply = rpc("PerformTransaction", {"id": pid})()
        assert reply["result"]["state"] == 2
    assert len(payme_postings()) == THREADS
    balance = h.billing.balance("apt-1")
    assert balance.debt == 0 and balance.credit == THREADS * 300_000 - 4_000_000


@pytest.mark.parametrize("backend", ["moto_server"], indirect=True)
def test_the_server_backend_is_really_http(backend: str) -> None:
    client = boto3.client("dynamodb", endpoint_url=backend)
    assert "TransactionsTable" in client.list_tables()["TableNames"]
    assert PaymeTransactionRecord._get_connection().connection.host == backend
