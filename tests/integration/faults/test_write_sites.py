"""Every fault at every write site (issue 13 §2): Payme Create/Perform/Cancel, Click Prepare and Complete with
error < 0 (a cancel: no debit), invoice creation (POST /invoices) and the autopay charger.

For each site and fault, through the Lambda handler on moto:
(a) the reply is the one its protocol defines for a store that did not answer: Payme HTTP 200 with
    JSON-RPC -32400, Click -7, the billing API 503 in its error shape, the charger's record a batch item
    failure (SQS delivers it again); a lost reply may also have been a success, as the write landed;
(b) the ledger invariants hold afterwards (tolov.reconciliation.invariants.check_ledger);
(c) the same request once the fault is over completes, exactly once.

Faults (tests/faults.py): throttle, timeout (every attempt), outage (60 s of fault clock from the site's
call; botocore's back-off is not slept, and the clock is moved past it before the retry), reply_lost (the
write lands, its reply is lost on the wire and botocore resends it) and reply_lost_after (botocore gave
up: the caller sees a time-out although its write landed).
"""

import datetime as dt
import json
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import boto3
import pytest

from tests.autopay_support import World, build_world, water
from tests.click_support import ClickStack, click_stack, complete_form, next_trans_id, prepare_form
from tests.faults import Faults, inject
from tests.integration.test_billing_api import ITEMS as BILLING_ITEMS
from tests.payme_harness import Handler, gas, load_event
from tests.support import FakeContext, invoke, load_handler, rest_event, sqs_event
from tolov.autopay.charge_queue import SqsChargeQueue
from tolov.autopay.schedule import Scheduler
from tolov.billing.invoices import Billing
from tolov.reconciliation.invariants import check_ledger
from tolov.settings import get_settings
from tolov.store.autopay_models import AutopayRecord
from tolov.store.click_models import ClickTransaction
from tolov.store.models import Invoice, Posting
from tolov.store.payme_models import PaymeTransactionRecord

FAULTS = ["throttle", "timeout", "outage", "reply_lost", "reply_lost_after"]
LANDS = {"reply_lost", "reply_lost_after"}  # the write took effect: the first reply may be a success
OUTAGE_S = 60


def inject_at(faults: Faults, kind: str, operation: str, table: Any, nth: int | None) -> None:
    if kind == "outage":
        faults.outage(OUTAGE_S, operation, table=table, nth=nth)
    elif kind == "reply_lost_after":
        faults.reply_lost(operation, table=table, nth=nth, retried=False)
    else:
        faults.add(kind, operation, table=table, nth=nth)


def fault_over(faults: Faults) -> None:
    faults.clock.advance(OUTAGE_S)  # an outage ends by the clock; the other faults are cleared
    faults.clear()


@dataclass(frozen=True)
class Site:
    name: str
    operation: str
    table: Any
    nth: int | None = None

    def __str__(self) -> str:
        return self.name


def matrix(sites: list[Site]) -> Any:
    return pytest.mark.parametrize(
        ("site", "kind"),
        [pytest.param(s, k, id=f"{s.name}-{k}") for s in sites for k in FAULTS],
    )


def scenario(
    faults: Faults,
    site: Site,
    kind: str,
    request: Callable[[], Any],
    failed_as_protocol_says: Callable[[Any], bool],
    succeeded: Callable[[Any], bool],
    before_retry: Callable[[], None] = lambda: None,
) -> None:
    """(a) and (b) under the fault, then (c)'s retry; the caller checks exactly-once afterwards."""
    inject_at(faults, kind, site.operation, site.table, site.nth)
    calls_before = len(faults.calls)
    reply = request()
    hit = sum(f.hits for f in faults.faults)
    assert hit >= 1, f"the fault never met {site.operation}: {faults.calls[calls_before:]}"
    if kind in LANDS:
        assert failed_as_protocol_says(reply) or succeeded(reply), reply
    else:
        assert failed_as_protocol_says(reply), reply
    fault_over(faults)
    assert check_ledger() == []
    before_retry()
    retried = request()
    assert succeeded(retried), retried
    assert check_ledger() == []


# ---------------------------------------------------------------------- Payme
@dataclass
class Payme:
    handler: Handler
    billing: Billing = field(default_factory=Billing)
    invoice_id: str = ""
    amount: int = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.handler.invoke(load_event(method, **params))

    def create(self, payme_id: str, account: dict[str, str], amount: int) -> dict[str, Any]:
        return self.call(
            "CreateTransaction", id=payme_id, amount=amount, account=account, time=time.time_ns() // 10**6
        )


@pytest.fixture
def payme(handler: Handler) -> Payme:
    world = Payme(handler)
    world.billing.put_apartment("apt-1", "Chilonzor 9-12-34", "resident-1")
    invoice = world.billing.create_invoice("apt-1", "2026-09", [water(), gas()])
    world.invoice_id, world.amount = invoice.invoice_id, int(invoice.amount)
    return world


PID = "f" * 24
TX = PaymeTransactionRecord
PAYME_SITES = [
    Site("create_invoice", "TransactWriteItems", Invoice),
    Site("create_apartment", "PutItem", TX),
    Site("perform_invoice", "TransactWriteItems", Posting),
    Site("perform_apartment", "TransactWriteItems", Posting),
    Site("cancel_created_invoice", "TransactWriteItems", Invoice),
    Site("cancel_created_apartment", "UpdateItem", TX),
    Site("cancel_performed", "TransactWriteItems", Posting),
]


def payme_failed(reply: dict[str, Any]) -> bool:
    return reply.get("error", {}).get("code") == -32400


def payme_state(state: int) -> Callable[[dict[str, Any]], bool]:
    return lambda reply: reply.get("result", {}).get("state") == state


def live_postings() -> list[Posting]:
    return [p for p in Posting.scan() if p.reversed_at is None]


@matrix(PAYME_SITES)
def test_payme(payme: Payme, site: Site, kind: str) -> None:
    invoice = {"order_id": payme.invoice_id}
    apartment = {"apartment_id": "apt-1"}
    account, amount = (apartment, 500_000) if site.name.endswith("apartment") else (invoice, payme.amount)
    with inject() as faults:
        if site.name.startswith("create"):
            scenario(
                faults, site, kind, lambda: payme.create(PID, account, amount), payme_failed, payme_state(1)
            )
            assert int(TX.get(f"payme#{PID}").state) == 1
            held = Invoice.get(payme.invoice_id).active_payment
            assert held == (f"payme#{PID}" if account is invoice else None)
            return
        assert payme_state(1)(payme.create(PID, account, amount))
        if site.name.startswith("perform"):
            scenario(
                faults,
                site,
                kind,
                lambda: payme.call("PerformTransaction", id=PID),
                payme_failed,
                payme_state(2),
            )
            [posting] = live_postings()
            assert (posting.payment_key, int(posting.amount)) == (f"payme#{PID}", amount)
            assert Billing().balance("apt-1").debt == payme.amount - amount
            return
        if site.name == "cancel_performed":
            assert payme_state(2)(payme.call("PerformTransaction", id=PID))
        state = -2 if site.name == "cancel_performed" else -1
        scenario(
            faults,
            site,
            kind,
            lambda: payme.call("CancelTransaction", id=PID, reason=5),
            payme_failed,
            payme_state(state),
        )
        assert int(TX.get(f"payme#{PID}").state) == state
        assert live_postings() == []
        invoice_row = Invoice.get(payme.invoice_id)
        assert (invoice_row.status, int(invoice_row.paid_amount), invoice_row.active_payment) == (
            "open",
            0,
            None,
        )


# ---------------------------------------------------------------------- Click
@pytest.fixture
def click(aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ClickStack]:
    with click_stack(local_config, monkeypatch) as stack:
        yield stack


CLICK_SITES = [
    Site("prepare_invoice", "TransactWriteItems", ClickTransaction),
    Site("prepare_apartment", "TransactWriteItems", ClickTransaction),
    Site("cancel_invoice", "TransactWriteItems", ClickTransaction),
    Site("cancel_apartment", "TransactWriteItems", ClickTransaction),
]


def click_error(code: int) -> Callable[[dict[str, Any]], bool]:
    return lambda reply: reply.get("error") == code


@matrix(CLICK_SITES)
def test_click(click: ClickStack, site: Site, kind: str) -> None:
    invoice_id = click.invoice(1_500_000)
    account, amount = ("apt-1", "2000") if site.name.endswith("apartment") else (invoice_id, "15000.00")
    ctid = next_trans_id()
    with inject() as faults:
        if site.name.startswith("prepare"):
            form = prepare_form(ctid, account, amount)
            scenario(faults, site, kind, lambda: click.prepare(form), click_error(-7), click_error(0))
            attempt = ClickTransaction.get(f"click#{ctid}")
            assert attempt.state == "prepared"
            held = Invoice.get(invoice_id).active_payment
            assert held == (f"click#{ctid}" if account == invoice_id else None)
            return
        prepared = click.prepare(prepare_form(ctid, account, amount))
        assert prepared["error"] == 0
        form = complete_form(ctid, account, amount, prepared["merchant_prepare_id"], error="-5017")
        scenario(faults, site, kind, lambda: click.complete(form), click_error(-7), click_error(-9))
        assert ClickTransaction.get(f"click#{ctid}").state == "cancelled"
        assert Invoice.get(invoice_id).active_payment is None
        assert live_postings() == []


# ---------------------------------------------------------------------- billing API: POST /invoices
ITEMS = BILLING_ITEMS[:1]  # cold water, 420 000 tiyin


@dataclass
class PowertoolsClock:
    offset: float = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@contextmanager
def powertools_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[PowertoolsClock]:
    """The clock Powertools' idempotency records expire by, movable: a failed keyed request's in-progress
    record lasts as long as its invocation had left (the Lambda context's remaining time), and a client's
    retry after that runs again instead of being answered 409 "in progress"."""
    from aws_lambda_powertools.utilities.idempotency.persistence import base, datarecord, dynamodb

    clock = PowertoolsClock()

    class Moved(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> "Moved":
            moved = dt.datetime.now(tz) + dt.timedelta(seconds=clock.offset)
            return cls.fromtimestamp(moved.timestamp(), tz)

    shim = types.SimpleNamespace(datetime=Moved, timedelta=dt.timedelta, timezone=dt.timezone)
    for module in (base, datarecord, dynamodb):
        monkeypatch.setattr(module, "dt", shim)
    yield clock


def idempotency_table() -> str:
    return get_settings().tables.idempotency


BILLING_SITES = [
    Site("create_invoice", "TransactWriteItems", Invoice),
    Site("keyed_in_progress", "PutItem", idempotency_table),
    Site("keyed_create_invoice", "TransactWriteItems", Invoice),
    Site("keyed_completed", "UpdateItem", idempotency_table),
]


@matrix(BILLING_SITES)
def test_billing_invoice(aws: None, monkeypatch: pytest.MonkeyPatch, site: Site, kind: str) -> None:
    Billing().put_apartment("apt-12", "Flat", "resident-1")
    headers = {"Idempotency-Key": "k-1"} if site.name.startswith("keyed") else None
    body = {"apartment_id": "apt-12", "period": "2026-11", "items": ITEMS}

    def post() -> tuple[int, Any]:
        return invoke("billing_api", rest_event("POST", "/invoices", body=body, headers=headers))

    def unavailable(reply: tuple[int, Any]) -> bool:
        status, payload = reply
        return status == 503 and set(payload) == {"message", "errors"}

    def created(reply: tuple[int, Any]) -> bool:
        return reply[0] in (200, 201) and reply[1]["amount"] == 420000

    in_progress = (
        409,
        {
            "message": "Idempotency-Key: a request with this key is still in progress; retry later",
            "errors": [
                {
                    "field": "Idempotency-Key",
                    "error": "a request with this key is still in progress; retry later",
                }
            ],
        },
    )

    def retry_later(reply: tuple[int, Any]) -> bool:
        # The in-progress record's own write was resent by botocore and met itself: a documented 4xx
        # telling the client to retry after the invocation's time is up, nothing written.
        return kind == "reply_lost" and site.name == "keyed_in_progress" and reply == in_progress

    with inject() as faults, powertools_clock(monkeypatch) as clock:
        scenario(
            faults,
            site,
            kind,
            post,
            lambda reply: unavailable(reply) or retry_later(reply),
            created,
            before_retry=lambda: clock.advance(FakeContext().remaining_ms / 1000 + 1),
        )
    [invoice] = [i for i in Invoice.scan() if i.status != "cancelled"]
    assert (invoice.apartment_id, invoice.period, int(invoice.amount)) == ("apt-12", "2026-11", 420000)


# ---------------------------------------------------------------------- the autopay charger
CHARGER = FakeContext("AutopayChargerFunction", remaining_ms=90_000)
QUEUE = "AutopayChargeQueue"

AUTOPAY_SITES = [
    Site("lease", "UpdateItem", AutopayRecord, 1),
    Site("receipt_id", "TransactWriteItems", AutopayRecord, 1),
    Site("posting", "TransactWriteItems", Posting, 1),
    Site("period_paid", "TransactWriteItems", AutopayRecord, 2),
    Site("due_date", "UpdateItem", AutopayRecord, 2),
]


@dataclass
class Charging:
    world: World
    handler: Any
    message: dict[str, Any]


@pytest.fixture
def charging(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Charging]:
    from tolov.autopay import charger_gateway

    world = build_world()
    monkeypatch.setattr(charger_gateway, "build_subscribe_client", lambda settings: world.fake)
    charger_app = load_handler("autopay_charger")
    charger_app.charger.reset()
    world.apartment("apt-1", [water()])
    world.enrol("apt-1")
    queue_url = boto3.client("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"]
    Scheduler(world.store, SqsChargeQueue(queue_url), world.settings.autopay.shards).run(date(2026, 10, 5))
    [message] = boto3.client("sqs").receive_message(QueueUrl=queue_url, VisibilityTimeout=60)["Messages"]
    yield Charging(world, charger_app, message)
    charger_app.charger.reset()


@matrix(AUTOPAY_SITES)
def test_autopay_charger(charging: Charging, site: Site, kind: str) -> None:
    event = sqs_event([charging.message])
    record_failed = [{"itemIdentifier": charging.message["MessageId"]}]
    charger = charging.handler.charger.get().charger
    debt = charging.world.debt("apt-1")

    def deliver() -> dict[str, Any]:
        reply: dict[str, Any] = charging.handler.lambda_handler(event, CHARGER)
        return reply

    def redelivery() -> dict[str, Any]:
        # SQS delivers it again after the visibility timeout: any lease of the failed delivery has expired.
        now = time.time_ns() // 10**6 + charging.world.settings.autopay.lease_ms + 1
        charger.clock = lambda: now
        return deliver()

    with inject() as faults:
        inject_at(faults, kind, site.operation, site.table, site.nth)
        first = deliver()
        assert sum(f.hits for f in faults.faults) >= 1, faults.calls
        if kind in LANDS:
            assert first["batchItemFailures"] in (record_failed, []), first
        else:
            assert first["batchItemFailures"] == record_failed, first
        fault_over(faults)
        assert check_ledger() == []
        assert redelivery()["batchItemFailures"] == []
        assert check_ledger() == []
    [receipt] = charging.world.fake.paid()
    # A receipt whose id could not be stored is never paid (a new one is made next time); one whose id was
    # stored is the one paid, even when the write's reply was lost: no receipt made in vain then.
    if site.name != "receipt_id" or kind in LANDS:
        assert list(charging.world.fake.receipts) == [receipt.id]
    [posting] = live_postings()
    assert (posting.payment_key, int(posting.amount)) == (f"payme#{receipt.id}", debt)
    assert charging.world.debt("apt-1") == 0
    autopay = charging.world.store.get(json.loads(charging.message["Body"])["autopay_id"])
    assert autopay is not None and autopay.due_period == "2026-11"


# ---------------------------------------------------------------------- the audit trail's write
@pytest.mark.parametrize("kind", ["throttle", "timeout", "reply_lost_after"])
def test_a_failed_audit_write_changes_no_reply(payme: Payme, click: ClickStack, kind: str) -> None:
    """AuditTable's PutItem (every provider request) is best effort: its failure leaves the reply alone."""
    from tolov.store.audit_models import AuditRecord

    assert payme_state(1)(payme.create(PID, {"order_id": payme.invoice_id}, payme.amount))
    invoice_id = click.invoice(1_500_000, apartment_id="apt-2")
    with inject() as faults:
        inject_at(faults, kind, "PutItem", AuditRecord, None)
        assert payme_state(2)(payme.call("PerformTransaction", id=PID))
        assert click.prepare(prepare_form(next_trans_id(), invoice_id, "15000.00"))["error"] == 0
        assert sum(f.hits for f in faults.faults) >= 2
    assert check_ledger() == []
    [posting] = live_postings()
    assert posting.payment_key == f"payme#{PID}"
