"""What a Payme request leaves in the logs and metrics: Payme's transaction id on every line of the
request (and not on the next request's), the alarmed PaymeAuthFailed metric on a wrong key."""

import base64
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.payme_harness import Handler, gas, load_event, water
from tolov.billing.invoices import Billing

PID = "5305e3bab097f420a62ced0c"


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """tolov's logger at DEBUG, its lines written here (its handler keeps the stream it was made with)."""
    from tolov.observability import logger

    level, stream = logger.log_level, io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    logger.setLevel("DEBUG")
    yield stream
    logger.setLevel(level)
    handler.setStream(previous)


def test_every_line_of_a_request_names_the_payme_transaction(
    handler: Handler, debug_log: io.StringIO
) -> None:
    billing = Billing()
    billing.put_apartment("apt-1", "Flat", "resident-1")
    invoice = billing.create_invoice("apt-1", "2026-09", [water(), gas()])
    now = int(time.time() * 1000)
    create = load_event(
        "CreateTransaction",
        id=PID,
        time=now,
        amount=int(invoice.amount),
        account={"order_id": invoice.invoice_id},
    )
    handler.invoke(create)
    logged = lines(debug_log.getvalue())
    debug_log.truncate(0)
    debug_log.seek(0)
    assert logged, "the request logged nothing"
    assert all(line.get("payme_transaction_id") == PID for line in logged), logged
    assert {line.get("payme_method") for line in logged} == {"CreateTransaction"}
    handler.invoke(
        load_event(
            "CheckPerformTransaction", amount=int(invoice.amount), account={"order_id": invoice.invoice_id}
        )
    )
    after = lines(debug_log.getvalue())
    assert after and all("payme_transaction_id" not in line for line in after)  # cleared between requests


def test_a_wrong_key_counts_payme_auth_failed_with_the_service_dimension_only(
    handler: Handler, capfd: pytest.CaptureFixture[str]
) -> None:
    event = load_event("CheckTransaction")
    event["headers"]["Authorization"] = "Basic " + base64.b64encode(b"Paycom:not-the-key").decode()
    capfd.readouterr()
    assert handler.invoke(event)["error"]["code"] == -32504
    blobs = [line for line in lines(capfd.readouterr().out) if "PaymeAuthFailed" in line]
    [blob] = blobs
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]  # what the alarm watches
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Tolov"
    handler.invoke(load_event("CheckTransaction"))
    assert "PaymeAuthFailed" not in capfd.readouterr().out
