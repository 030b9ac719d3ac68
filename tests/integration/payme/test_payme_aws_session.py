"""One botocore session and one client per service in a Payme container (tolov.aws), threads included,
the clients made at init."""

import threading
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from tests.payme_harness import HANDLER_ENV, Handler, load_event, water
from tests.support import botocore_made, load_handler
from tolov import aws as tolov_aws
from tolov.billing.invoices import Billing
from tolov.settings import get_settings
from tolov.store import models

DAY_MS = 86_400_000


def test_a_whole_payme_flow_uses_one_session_and_one_client_per_service(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in HANDLER_ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    load_handler("payme_merchant")  # every module imported once, as in any container (the X-Ray SDK's own)
    billing = Billing()
    billing.put_apartment("apt-1", "Yunusobod 4-18-7", "resident-1")
    invoice = billing.create_invoice("apt-1", "2026-09", [water()])
    # A new container: no session, no client, no connection, no cached secret.
    tolov_aws.reset()
    models.bind(get_settings())
    parameters.clear_caches()

    with botocore_made() as made:
        handler = Handler.new_container()
        assert (made.sessions, made.clients) == (1, {"dynamodb": 1, "secretsmanager": 1})  # at init

        query_threads: set[str] = set()

        def seen(**_: Any) -> None:
            query_threads.add(threading.current_thread().name)

        events = models.connection().client.meta.events
        events.register("before-call.dynamodb.Query", seen, unique_id="test-query-threads")
        try:
            now = int(time.time() * 1000)
            account = {"order_id": invoice.invoice_id}
            amount = int(invoice.amount)
            pid = "6305e3bab097f420a62ced0b"
            steps: list[tuple[str, dict[str, Any]]] = [
                ("CheckPerformTransaction", {"amount": amount, "account": account}),
                ("CreateTransaction", {"id": pid, "time": now, "amount": amount, "account": account}),
                ("PerformTransaction", {"id": pid}),
                ("GetStatement", {"from": now - 30 * DAY_MS, "to": now + 1000}),
            ]
            replies = [handler.invoke(load_event(method, **params)) for method, params in steps]
        finally:
            events.unregister("before-call.dynamodb.Query", unique_id="test-query-threads")

    assert "error" not in replies[-1] and [t["id"] for t in replies[-1]["result"]["transactions"]] == [pid]
    assert len(query_threads) > 1  # the statement's days were read side by side, on threads of their own
    assert (made.sessions, made.clients) == (1, {"dynamodb": 1, "secretsmanager": 1})
