"""§4: the fan-out through the sharded due index (never a scan) onto the real charge queue (moto), and the
two Lambda handlers: AutopaySchedulerFunction and AutopayChargerFunction (Powertools batch, partial
failures, the backoff of a message that must wait, a metric per outcome, autopay.* on the bus through the
stream and EventPublisherFunction)."""

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from pynamodb.models import Model

from tests.autopay_fakes import OK_CARD
from tests.autopay_support import World, water
from tests.event_schemas import validate_delivered
from tests.events_support import Outbox
from tests.support import FakeContext, load_handler, sqs_event
from tolov.autopay.charge_queue import SqsChargeQueue
from tolov.autopay.charger_gateway import LONGEST_CHARGE_MS
from tolov.autopay.schedule import Scheduler, shard_names
from tolov.payme.subscribe_api import SubscribeError
from tolov.store.autopay_models import AutopayRecord

QUEUE = "AutopayChargeQueue"
CHARGER = FakeContext("AutopayChargerFunction", remaining_ms=90_000)  # a fresh invocation: its Timeout


def queue_url() -> str:
    return str(boto3.client("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"])


def receive(visibility: int = 0) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url(),
        MaxNumberOfMessages=10,
        VisibilityTimeout=visibility,
        MessageSystemAttributeNames=["All"],
    ).get("Messages"):
        found.extend(batch)
        if visibility == 0:
            break
    return found


class CountingSqs:
    def __init__(self) -> None:
        self.client = boto3.client("sqs")
        self.batches: list[int] = []

    def send_message_batch(self, **kwargs: Any) -> Any:
        self.batches.append(len(kwargs["Entries"]))
        return self.client.send_message_batch(**kwargs)


def test_a_run_queries_every_shard_and_sends_one_message_per_due_autopay_in_batches_of_ten(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    due_today = []
    for n in range(45):
        world.apartment(f"apt-{n}", [water()])
        due_today.append(world.enrol(f"apt-{n}").autopay.autopay_id)
    for n in range(45, 50):
        world.apartment(f"apt-{n}", [water()])
        world.enrol(f"apt-{n}", day=6)  # due tomorrow
    world.apartment("apt-gone", [water()])
    world.enrolment.cancel(world.enrol("apt-gone").autopay.autopay_id)  # inactive: out of the index
    queries: list[str] = []
    real_query = AutopayRecord.by_due.query

    def counted(shard: str, *args: Any, **kwargs: Any) -> Any:
        queries.append(shard)
        return real_query(shard, *args, **kwargs)

    def no_scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the due autopays are found through the index, never by a scan")

    monkeypatch.setattr(AutopayRecord.by_due, "query", counted)
    monkeypatch.setattr(Model, "scan", classmethod(no_scan))
    sqs = CountingSqs()
    scheduler = Scheduler(world.store, SqsChargeQueue(queue_url(), sqs), world.settings.autopay.shards)
    assert scheduler.run(date(2026, 10, 5)) == 45
    assert sorted(queries) == shard_names(world.settings.autopay.shards)
    assert max(sqs.batches) <= 10 and sum(sqs.batches) == 45
    bodies = [json.loads(m["Body"]) for m in receive(visibility=30)]
    assert sorted(b["autopay_id"] for b in bodies) == sorted(due_today)
    assert {(b["period"], b["run_date"]) for b in bodies} == {("2026-10", "2026-10-05")}


def test_paid_autopays_leave_the_run_and_a_repeat_sends_only_what_is_still_due(world: World) -> None:
    ids = []
    for n in range(3):
        world.apartment(f"apt-{n}", [water()])
        ids.append(world.enrol(f"apt-{n}").autopay.autopay_id)
    assert len(world.run("2026-10-05")) == 3
    world.charge(ids[0], "2026-10-05")
    assert sorted(r.autopay_id for r in world.run("2026-10-05")) == sorted(ids[1:])
    # An outage: nothing ran on the 5th and 6th; the run of the 7th charges what was due on the 5th.
    assert sorted(r.autopay_id for r in world.run("2026-10-07")) == sorted(ids[1:])


# ---------------------------------------------------------------------- the scheduler function
def test_the_scheduler_function_runs_today_or_the_date_it_is_given(world: World) -> None:
    handler = load_handler("autopay_scheduler")
    handler.scheduler.reset()
    world.apartment("apt-1", [water()])
    world.enrol("apt-1")
    reply = handler.lambda_handler({"date": "2026-10-05"}, FakeContext())
    assert reply == {"date": "2026-10-05", "queued": 1}
    today = handler.lambda_handler({}, FakeContext())  # EventBridge Scheduler's input is {}
    assert today["queued"] == 1 and date.fromisoformat(today["date"]) >= date(2026, 10, 5)
    with pytest.raises(ValueError, match="has not come yet"):
        handler.lambda_handler({"date": "2999-01-01"}, FakeContext())


# ---------------------------------------------------------------------- the charger function
@pytest.fixture
def charger_handler(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from tolov.autopay import charger_gateway

    monkeypatch.setattr(charger_gateway, "build_subscribe_client", lambda settings: world.fake)
    handler = load_handler("autopay_charger")
    handler.charger.reset()
    yield handler
    handler.charger.reset()


def test_the_charger_function_reports_partial_failures_backs_off_and_counts_outcomes(
    world: World, charger_handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {}
    for name in ("paid", "declined", "ours", "card"):
        world.apartment(f"apt-{name}", [water()])
        ids[name] = world.enrol(f"apt-{name}", balance=1 if name == "declined" else 10**9).autopay.autopay_id
    world.fake.card_by_number(OK_CARD).status = "ok"
    expired = list(world.fake.cards.values())[-1]  # the "card" autopay's: it expired after enrolment
    expired.status = "expired"
    Scheduler(world.store, SqsChargeQueue(queue_url()), world.settings.autopay.shards).run(date(2026, 10, 5))
    messages = receive(visibility=60)
    assert len(messages) == 4
    boto3.client("sqs").send_message(QueueUrl=queue_url(), MessageBody="not json")
    messages += receive(visibility=60)
    by_autopay = {json.loads(m["Body"])["autopay_id"]: m for m in messages if m["Body"].startswith("{")}
    garbage = next(m for m in messages if not m["Body"].startswith("{"))

    pay = world.fake.receipts_pay

    def ours_refused(receipt_id: str, token: str, **kwargs: Any) -> Any:
        receipt = world.fake.receipts[receipt_id]
        if receipt.account == {"apartment_id": "apt-ours"}:
            raise SubscribeError(-31623, {"en": "merchant billing refused"})
        return pay(receipt_id, token)

    world.fake.receipts_pay = ours_refused  # type: ignore[method-assign]
    capsys.readouterr()
    reply = charger_handler.lambda_handler(sqs_event(messages), CHARGER)
    failed = {f["itemIdentifier"] for f in reply["batchItemFailures"]}
    assert failed == {by_autopay[ids["ours"]]["MessageId"], garbage["MessageId"]}
    out = capsys.readouterr().out
    metrics = json.loads(next(line for line in out.splitlines() if '"CloudWatchMetrics"' in line))
    for name in (
        "AutopayPaid",
        "AutopayDeclined",
        "AutopayCardFailed",
        "AutopayOurSide",
        "AutopayOurSideRefused",
    ):
        assert name in metrics, name
    # The message that must wait was hidden for a backoff, not handed back at once.
    boto3.client("sqs").change_message_visibility(
        QueueUrl=queue_url(), ReceiptHandle=garbage["ReceiptHandle"], VisibilityTimeout=0
    )
    visible = [json.loads(m["Body"]).get("autopay_id") for m in receive() if m["Body"].startswith("{")]
    assert ids["ours"] not in visible
    # AutopayTable's stream through EventPublisherFunction: autopay.charged and autopay.failed on the bus,
    # valid, without the card token.
    outbox = Outbox()
    outbox.drain()
    published = outbox.published()
    for event in published:
        validate_delivered(event)
    autopay_events = {
        e["detail-type"]: e["detail"] for e in published if e["detail-type"].startswith("autopay.")
    }
    assert sorted(autopay_events) == ["autopay.charged", "autopay.failed"]
    assert autopay_events["autopay.failed"]["autopay_id"] == ids["card"]
    charged = autopay_events["autopay.charged"]
    assert (charged["autopay_id"], charged["apartment_id"]) == (ids["paid"], "apt-paid")
    assert charged["amount"] > 0 and charged["payment_key"] == f"payme#{charged['receipt_id']}"
    assert "tok-" not in json.dumps(published)
    assert world.debt("apt-paid") == 0 and world.autopay(ids["ours"]).active
    assert not world.autopay(ids["card"]).active


def test_a_record_without_time_left_for_the_longest_charge_is_handed_back_at_once_uncharged(
    world: World, charger_handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.apartment("apt-1", [water()])
    world.enrol("apt-1")
    Scheduler(world.store, SqsChargeQueue(queue_url()), world.settings.autopay.shards).run(date(2026, 10, 5))
    [message] = receive(visibility=60)
    late = FakeContext("AutopayChargerFunction", remaining_ms=LONGEST_CHARGE_MS - 1)
    capsys.readouterr()
    reply = charger_handler.lambda_handler(sqs_event([message]), late)
    assert reply["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert world.fake.count("receipts.create") == 0 and world.debt("apt-1") > 0
    assert "AutopayOutOfTime" in capsys.readouterr().out
    [again] = receive()  # visible again now, not after the queue's visibility timeout
    assert again["MessageId"] == message["MessageId"]
    assert charger_handler.lambda_handler(sqs_event([again]), CHARGER)["batchItemFailures"] == []
    assert world.debt("apt-1") == 0 and len(world.fake.paid()) == 1
