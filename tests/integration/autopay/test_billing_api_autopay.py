"""§3 and the on-demand run of §4 through the billing API handler (API Gateway events, moto), with the
in-memory Subscribe API in place of the client build_api would make."""

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from tests.autopay_fakes import OK_CARD, OK_CARD_2, FakeSubscribe
from tests.autopay_support import build_world, water
from tests.support import invoke, load_handler, replies_lost, rest_event, together
from tolov.autopay.schedule import first_due
from tolov.clock import now_ms, tashkent_date
from tolov.payme.subscribe_api import SubscribeError, SubscribeUnavailable

MIN = 100_000
FIELDS = {
    "autopay_id",
    "apartment_id",
    "provider",
    "card",
    "day_of_month",
    "max_amount",
    "status",
    "next_charge_date",
    "attempts",
    "inactive_reason",
    "created_at",
}


@pytest.fixture
def fake(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSubscribe]:
    from tolov.billing_api import autopay_enrolment

    subscribe = FakeSubscribe()
    monkeypatch.setattr(autopay_enrolment, "build_subscribe_client", lambda settings: subscribe)
    handler = load_handler("billing_api")
    handler.api.reset()
    call(
        "PUT",
        "/apartments/{apartment_id}",
        {"apartment_id": "apt-1"},
        {"label": "Flat 1", "resident_id": "r1"},
    )
    yield subscribe
    handler.api.reset()


def call(
    method: str,
    resource: str,
    params: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    return invoke("billing_api", rest_event(method, resource, params, body, headers))


def enrol(token: str, apartment: str = "apt-1", **changes: Any) -> tuple[int, Any]:
    body = {"apartment_id": apartment, "provider": "payme", "card_token": token, "day_of_month": 5}
    return call("POST", "/autopay", None, {**body, "max_amount": 50_000_00, **changes})


def get(autopay_id: str) -> tuple[int, Any]:
    return call("GET", "/autopay/{autopay_id}", {"autopay_id": autopay_id})


def delete(autopay_id: str) -> tuple[int, Any]:
    return call("DELETE", "/autopay/{autopay_id}", {"autopay_id": autopay_id})


def listed(apartment: str = "apt-1") -> tuple[int, Any]:
    return call("GET", "/apartments/{apartment_id}/autopay", {"apartment_id": apartment})


def table_items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName="AutopayTable")["Items"]


def test_enrolment_answers_201_with_the_autopay_and_never_the_token(fake: FakeSubscribe) -> None:
    token = fake.add_card(OK_CARD)
    status, autopay = enrol(token)
    assert status == 201 and set(autopay) == FIELDS
    assert autopay["autopay_id"].startswith("ap_")
    assert autopay["card"] == {"number": "860049******6478", "expire": "03/99"}
    assert (autopay["apartment_id"], autopay["provider"], autopay["status"]) == ("apt-1", "payme", "active")
    assert (autopay["day_of_month"], autopay["max_amount"], autopay["attempts"]) == (5, 50_000_00, [])
    assert autopay["next_charge_date"] == first_due(tashkent_date(now_ms()), 5).date
    assert token not in json.dumps(autopay)
    assert get(autopay["autopay_id"]) == (200, autopay)
    assert listed() == (200, {"apartment_id": "apt-1", "autopays": [autopay]})
    assert fake.count("cards.check") == 1


def test_the_token_is_stored_encrypted_with_the_kms_key_bound_to_its_autopay(fake: FakeSubscribe) -> None:
    token = fake.add_card(OK_CARD)
    autopay_id = enrol(token)[1]["autopay_id"]
    assert token not in json.dumps(table_items(), default=str)
    [row] = [i for i in table_items() if i["sk"]["S"] == "autopay"]
    sealed = row["card_token"]["B"]
    kms = boto3.client("kms")
    context = {"autopay_id": autopay_id, "purpose": "payme-card-token"}
    assert kms.decrypt(CiphertextBlob=sealed, EncryptionContext=context)["Plaintext"] == token.encode()
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=sealed, EncryptionContext={**context, "autopay_id": "ap_other"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"day_of_month": 0}, "day_of_month"),
        ({"day_of_month": 29}, "day_of_month"),
        ({"day_of_month": "5"}, "day_of_month"),
        ({"provider": "click"}, "provider"),
        ({"max_amount": 0}, "max_amount"),
        ({"max_amount": 1000.5}, "max_amount"),
        ({"card_token": ""}, "card_token"),
        ({"apartment_id": "a b"}, "apartment_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_input_is_422_naming_the_field(fake: FakeSubscribe, changes: dict[str, Any], field: str) -> None:
    status, reply = enrol(fake.add_card(), **changes)
    assert status == 422 and field in [e["field"] for e in reply["errors"]], reply
    assert fake.count("cards.check") == 0


def test_a_missing_field_and_a_bad_body_are_4xx(fake: FakeSubscribe) -> None:
    status, reply = call("POST", "/autopay", None, {"apartment_id": "apt-1", "provider": "payme"})
    assert status == 422 and {"card_token", "day_of_month", "max_amount"} <= {
        e["field"] for e in reply["errors"]
    }
    event = rest_event("POST", "/autopay", raw_body="{not json")
    assert invoke("billing_api", event)[0] == 400


def test_max_amount_below_the_top_up_minimum_is_422(fake: FakeSubscribe) -> None:
    status, reply = enrol(fake.add_card(), max_amount=MIN - 1)
    assert status == 422 and reply["errors"][0]["field"] == "max_amount" and str(MIN) in reply["message"]
    assert enrol(fake.add_card(), max_amount=MIN)[0] == 201


def test_an_unknown_apartment_is_404(fake: FakeSubscribe) -> None:
    status, reply = enrol(fake.add_card(), apartment="ghost")
    assert status == 404 and reply["errors"][0]["field"] == "apartment_id"
    assert listed("ghost")[0] == 404
    assert get("ap_missing")[0] == 404 and delete("ap_missing")[0] == 404


@pytest.mark.parametrize(
    ("card", "reason"),
    [
        ({"verify": False}, "card is not verified"),
        ({"recurrent": False}, "card cannot be charged recurrently"),
        ({"status": "expired"}, "Card expired"),
        ({"status": "removed"}, "Card not found"),
    ],
)
def test_an_unusable_card_is_422_with_the_reason(
    fake: FakeSubscribe, card: dict[str, Any], reason: str
) -> None:
    status, reply = enrol(fake.add_card(OK_CARD, **card))
    assert status == 422 and reply["errors"] == [{"field": "card_token", "error": reason}], reply
    assert reason in reply["message"] and [i for i in table_items()] == []


@pytest.mark.parametrize("failure", [SubscribeUnavailable("timeout"), SubscribeError(-32504)])
def test_payme_not_answering_cards_check_is_503(fake: FakeSubscribe, failure: SubscribeError) -> None:
    fake.fail_next("cards.check", failure)
    status, reply = enrol(fake.add_card())
    assert status == 503 and "retry" in reply["message"]
    assert table_items() == []


def test_one_active_autopay_per_apartment_and_provider(fake: FakeSubscribe) -> None:
    first_token = fake.add_card(OK_CARD)
    status, first = enrol(first_token)
    status, reply = enrol(fake.add_card(OK_CARD_2))
    assert status == 409 and reply["autopay_id"] == first["autopay_id"] and "message" in reply
    # The same enrolment again (a retry) is that autopay.
    assert enrol(first_token) == (200, first)
    assert enrol(first_token, max_amount=60_000_00)[0] == 409  # not a retry: another cap


def test_two_enrolments_at_once_leave_one_active_autopay(fake: FakeSubscribe) -> None:
    tokens = [fake.add_card(OK_CARD), fake.add_card(OK_CARD_2), fake.add_card(OK_CARD)]
    replies = together([lambda t=t: enrol(t) for t in tokens])
    assert sorted(status for status, _ in replies) == [201, 409, 409]
    winner = next(body["autopay_id"] for status, body in replies if status == 201)
    assert {body["autopay_id"] for _, body in replies} == {winner}
    assert len([i for i in table_items() if i["sk"]["S"] == "autopay"]) == 1


def test_a_lost_reply_to_an_enrolment_that_landed_answers_with_it(fake: FakeSubscribe) -> None:
    """botocore resends the TransactWriteItems whose reply timed out; the resend meets the autopay the
    first one wrote, which is ours (201), and nothing is written twice."""
    from tolov.store.models import connection

    with replies_lost(connection().client, "TransactWriteItems") as dropped:
        status, autopay = enrol(fake.add_card())
    assert dropped == [1] and status == 201
    assert listed()[1]["autopays"] == [autopay]


def test_a_reply_lost_for_good_answers_503_and_the_platforms_retry_gets_the_autopay(
    fake: FakeSubscribe,
) -> None:
    from tolov.store.models import connection

    token = fake.add_card()
    with replies_lost(connection().client, "TransactWriteItems", retried=False) as dropped:
        status, _ = enrol(token)
    assert dropped == [1] and status == 503
    [written] = listed()[1]["autopays"]
    assert enrol(token) == (200, written)


def test_an_idempotency_key_replays_the_first_reply(fake: FakeSubscribe) -> None:
    body = {"apartment_id": "apt-1", "provider": "payme", "card_token": fake.add_card(), "day_of_month": 5}
    body["max_amount"] = MIN
    first = call("POST", "/autopay", None, body, {"Idempotency-Key": "enrol-1"})
    assert first[0] == 201
    assert call("POST", "/autopay", None, body, {"Idempotency-Key": "enrol-1"}) == first
    assert fake.count("cards.check") == 1


def test_delete_deactivates_and_removes_the_card_at_payme(fake: FakeSubscribe) -> None:
    token = fake.add_card()
    autopay = enrol(token)[1]
    status, deleted = delete(autopay["autopay_id"])
    assert status == 200
    assert (deleted["status"], deleted["inactive_reason"], deleted["next_charge_date"]) == (
        "inactive",
        "cancelled",
        None,
    )
    assert fake.cards[token].status == "removed" and fake.count("cards.remove") == 1
    assert delete(autopay["autopay_id"]) == (200, deleted) and fake.count("cards.remove") == 1
    assert get(autopay["autopay_id"]) == (200, deleted)
    # The apartment may enrol again; both are listed, newest first.
    status, again = enrol(fake.add_card(OK_CARD_2))
    assert status == 201
    assert [a["autopay_id"] for a in listed()[1]["autopays"]] == [again["autopay_id"], autopay["autopay_id"]]


def test_a_delete_whose_card_removal_failed_answers_503_and_its_retry_finishes(fake: FakeSubscribe) -> None:
    token = fake.add_card()
    autopay_id = enrol(token)[1]["autopay_id"]
    fake.fail_next("cards.remove", SubscribeUnavailable("timeout"))
    status, reply = delete(autopay_id)
    assert status == 503 and "inactive" in reply["message"]
    assert get(autopay_id)[1]["status"] == "inactive"  # no charge starts any more
    assert delete(autopay_id)[0] == 200 and fake.cards[token].status == "removed"


def test_attempts_are_shown_newest_first(fake: FakeSubscribe) -> None:
    world = build_world(fake=fake)
    world.invoice("apt-1", "2026-11", water())
    token = fake.add_card(OK_CARD, balance=1)
    autopay_id = enrol(token)[1]["autopay_id"]
    due = world.autopay(autopay_id).due_date or ""
    world.charge(autopay_id, due)  # declined: no funds
    fake.cards[token].balance = 10**9
    next_day = world.autopay(autopay_id).due_date or ""
    world.charge(autopay_id, next_day)
    attempts = get(autopay_id)[1]["attempts"]
    assert [(a["outcome"], a["error_code"], a["amount"]) for a in attempts] == [
        ("paid", None, 25_000_00),
        ("declined", -31303, 25_000_00),
    ]
    assert attempts[0]["at"] >= attempts[1]["at"] and all(a["receipt_id"] for a in attempts)
    assert set(attempts[0]) == {"period", "receipt_id", "amount", "outcome", "error_code", "at"}


def test_nothing_logged_carries_the_card_token(
    fake: FakeSubscribe, capsys: pytest.CaptureFixture[str]
) -> None:
    token = fake.add_card()
    autopay_id = enrol(token)[1]["autopay_id"]
    fake.fail_next("cards.remove", SubscribeError(-31002))
    delete(autopay_id)
    delete(autopay_id)
    out = capsys.readouterr()
    assert token not in out.out + out.err
    assert base64.b64encode(token.encode()).decode() not in out.out + out.err


# ---------------------------------------------------------------------- POST /autopay/runs
def run(day: str) -> tuple[int, Any]:
    return call("POST", "/autopay/runs", None, {"date": day})


def queued_messages() -> list[dict[str, str]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="AutopayChargeQueue")["QueueUrl"]
    found: list[dict[str, str]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages"
    ):
        found.extend(json.loads(m["Body"]) for m in batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return found


def due_on(autopay_id: str, day: str) -> None:
    """Move an autopay's due date (enrolment puts it on its next day of month, which may not have come)."""
    from tolov.store.autopay_models import AutopayRecord

    row = AutopayRecord(autopay_id, "autopay")
    row.update(
        actions=[AutopayRecord.due_key.set(f"{day}#{autopay_id}"), AutopayRecord.due_period.set(day[:7])]
    )


def test_a_run_on_demand_answers_202_with_what_it_queued_and_is_safe_to_repeat(fake: FakeSubscribe) -> None:
    today = tashkent_date(now_ms())
    yesterday = today - timedelta(days=1)
    autopay_id = enrol(fake.add_card())[1]["autopay_id"]
    due_on(autopay_id, today.isoformat())
    assert run(yesterday.isoformat()) == (202, {"date": yesterday.isoformat(), "queued": 0})
    assert run(today.isoformat()) == (202, {"date": today.isoformat(), "queued": 1})
    assert run(today.isoformat()) == (202, {"date": today.isoformat(), "queued": 1})  # still due: sent again
    message = {"autopay_id": autopay_id, "period": today.isoformat()[:7], "run_date": today.isoformat()}
    assert queued_messages() == [message, message]


@pytest.mark.parametrize("body", [{"date": "2026-13-01"}, {"date": "tomorrow"}, {}, {"date": "2099-01-01"}])
def test_a_run_date_must_be_a_day_that_has_come(fake: FakeSubscribe, body: dict[str, Any]) -> None:
    status, reply = call("POST", "/autopay/runs", None, body)
    assert status == 422 and reply["errors"][0]["field"] == "date", reply
