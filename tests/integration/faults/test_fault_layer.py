"""The fault layer itself (tests/faults.py): each fault does to a DynamoDB call what it says, on PynamoDB's
per-model connections, on the transaction connection and on a client of any other botocore session."""

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from pynamodb.exceptions import GetError, PutError

from tests.faults import Faults, inject
from tolov import aws
from tolov.store.engine import StoreUnavailable, transact
from tolov.store.models import Apartment, Posting


def apartment(apartment_id: str = "apt-1") -> Apartment:
    return Apartment(apartment_id, label="Chilonzor", resident_id="r-1", created_at=1, updated_at=1)


def stored(apartment_id: str = "apt-1") -> bool:
    try:
        Apartment.get(apartment_id, consistent_read=True)
    except Apartment.DoesNotExist:
        return False
    return True


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_throttled_write_does_not_land_and_fails_with_its_code(faults: Faults, code: str) -> None:
    fault = faults.throttle("PutItem", code=code)
    with pytest.raises(PutError) as raised:
        apartment().save()
    assert raised.value.cause_response_code == code
    assert fault.hits == 1
    assert not stored()
    fault.clear()
    apartment().save()
    assert stored()


def test_a_timeout_is_retried_by_botocore_and_nothing_lands(faults: Faults) -> None:
    fault = faults.timeout("PutItem")
    with pytest.raises(PutError):
        apartment().save()
    assert fault.hits == aws.ATTEMPTS  # the container's client (tolov.aws): its attempts, each timed out
    assert len(faults.clock.sleeps) == aws.ATTEMPTS - 1  # the back-off, not slept
    assert not stored()


def test_a_timeout_of_the_first_attempt_only_is_absorbed_by_botocore(faults: Faults) -> None:
    fault = faults.timeout("PutItem", attempts=1)
    apartment().save()
    assert fault.hits == 1 and stored()


def test_nth_and_table_pick_one_call(faults: Faults) -> None:
    fault = faults.throttle("PutItem", table=Apartment, nth=2)
    apartment("apt-1").save()
    with pytest.raises(PutError):
        apartment("apt-2").save()
    apartment("apt-3").save()
    assert (fault.matched, fault.hits) == (3, 1)
    assert [stored(a) for a in ("apt-1", "apt-2", "apt-3")] == [True, False, True]
    other = faults.throttle(table=Posting)
    apartment("apt-4").save()
    assert other.hits == 0


def test_an_outage_fails_every_call_until_the_clock_passes_it(faults: Faults) -> None:
    outage = faults.outage(60)
    with pytest.raises(PutError):
        apartment().save()
    with pytest.raises(GetError):
        Apartment.get("apt-1")
    assert outage.hits == 2 * aws.ATTEMPTS  # two calls, every attempt of each
    faults.clock.advance(60)
    apartment().save()
    assert stored()


def test_a_lost_reply_lands_and_botocore_resends_it(faults: Faults) -> None:
    landed: list[bool] = []
    fault = faults.reply_lost("PutItem", on_drop=lambda: landed.append(stored()))
    apartment().save()  # unconditional: the resend simply writes it again
    assert landed == [True] and fault.hits == 1


def test_a_lost_reply_of_a_conditional_put_meets_its_own_write_on_the_resend(faults: Faults) -> None:
    landed: list[bool] = []
    fault = faults.reply_lost("PutItem", on_drop=lambda: landed.append(stored()))
    with pytest.raises(PutError) as raised:
        apartment().save(condition=Apartment.apartment_id.does_not_exist())  # type: ignore[no-untyped-call]
    assert raised.value.cause_response_code == "ConditionalCheckFailedException"
    assert landed == [True] and fault.hits == 1


def test_a_reply_lost_after_botocore_reaches_the_caller_although_the_write_landed(faults: Faults) -> None:
    fault = faults.reply_lost("TransactWriteItems", retried=False)

    def put(tx: object) -> None:
        tx.save(apartment())  # type: ignore[attr-defined]

    with pytest.raises(StoreUnavailable):
        transact([put])
    assert fault.hits == 1 and stored()


def test_a_client_of_another_session_is_hooked_too(faults: Faults) -> None:
    client = boto3.session.Session().client("dynamodb", region_name="us-east-1")
    fault = faults.throttle("DescribeTable")
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException):
        client.describe_table(TableName=Apartment.Meta.table_name)
    assert fault.hits == 1
    assert [c.operation for c in faults.calls] == ["DescribeTable"]


def test_the_hooks_are_gone_after_the_block(aws: None) -> None:
    with inject() as faults:
        faults.throttle()
        with pytest.raises(PutError):
            apartment().save()
    apartment().save()
    assert stored()


def test_against_a_moto_server_a_lost_reply_lands_too() -> None:
    """The local stack's moto runs as a server: the fault layer sends the request itself, then loses the
    reply, and botocore's resend meets the write."""
    from local.stack import start_moto

    server, url = start_moto(0)
    try:
        client = boto3.session.Session().client("dynamodb", region_name="us-east-1", endpoint_url=url)
        client.create_table(
            TableName="T",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with inject() as faults:
            fault = faults.reply_lost("PutItem")
            with pytest.raises(client.exceptions.ConditionalCheckFailedException):
                client.put_item(
                    TableName="T", Item={"k": {"S": "a"}}, ConditionExpression="attribute_not_exists(k)"
                )
            timeout = faults.timeout("GetItem")
            with pytest.raises(ReadTimeoutError):
                client.get_item(TableName="T", Key={"k": {"S": "a"}})
        assert fault.hits == 1 and timeout.hits == 10  # boto3 retries DynamoDB 9 times (legacy mode)
        assert "Item" in client.get_item(TableName="T", Key={"k": {"S": "a"}}, ConsistentRead=True)
    finally:
        server.stop()


def test_a_targeted_outage_starts_with_its_call(faults: Faults) -> None:
    outage = faults.outage(60, "PutItem", nth=2)  # longer than botocore's back-off
    apartment("apt-1").save()
    assert stored("apt-1")  # a GetItem before the outage
    with pytest.raises(PutError):
        apartment("apt-2").save()
    with pytest.raises(GetError):
        Apartment.get("apt-1")  # everything fails now, not only PutItem
    faults.clock.advance(60)
    assert stored("apt-1") and not stored("apt-2")
    assert outage.hits == 2 * aws.ATTEMPTS
