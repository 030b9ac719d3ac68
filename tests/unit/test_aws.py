"""tolov.aws: one session and one client per service, made once under concurrency; the invocation's
deadline refusing an attempt that could outlast it."""

from typing import Any

import pytest

from tests.support import FakeContext, botocore_made, together
from tolov import aws as tolov_aws
from tolov.store.engine import StoreUnavailable, unavailable_on_failure
from tolov.store.fanout import read_all
from tolov.store.models import Apartment


def test_threads_asking_together_get_one_session_and_one_client_per_service() -> None:
    tolov_aws.reset()
    with botocore_made() as made:
        clients = together([lambda: tolov_aws.client("sqs") for _ in range(8)])
        again = tolov_aws.client("sqs"), tolov_aws.client("kms")
    assert len({id(c) for c in clients}) == 1 and again[0] is clients[0]
    assert (made.sessions, made.clients) == (1, {"sqs": 1, "kms": 1})


def read_apartment(event: Any, context: Any) -> str:
    with unavailable_on_failure():
        try:
            Apartment.get("apt-missing")
        except Apartment.DoesNotExist:
            return "answered"
    return "found"


def test_an_attempt_that_could_outlast_the_invocation_is_not_made(aws: None) -> None:
    handler = tolov_aws.within_budget(read_apartment)
    margin_ms = int(tolov_aws.ATTEMPT_MARGIN_SECONDS * 1000)
    assert handler({}, FakeContext(remaining_ms=margin_ms + 2000)) == "answered"
    with pytest.raises(StoreUnavailable) as raised:
        handler({}, FakeContext(remaining_ms=margin_ms - 500))
    assert isinstance(getattr(raised.value.__cause__, "cause", None), tolov_aws.BudgetSpent)
    assert read_apartment({}, None) == "answered"  # outside an invocation: no deadline left behind


def test_the_deadline_goes_along_to_reads_made_side_by_side(aws: None) -> None:
    def read(key: str) -> list[str]:
        with unavailable_on_failure():
            try:
                return [Apartment.get(key).apartment_id]
            except Apartment.DoesNotExist:
                return [f"no {key}"]

    handler = tolov_aws.within_budget(lambda event, context: read_all(["a", "b", "c"], read))
    margin_ms = int(tolov_aws.ATTEMPT_MARGIN_SECONDS * 1000)
    assert handler({}, FakeContext(remaining_ms=margin_ms + 2000)) == ["no a", "no b", "no c"]
    with pytest.raises(StoreUnavailable):
        handler({}, FakeContext(remaining_ms=margin_ms - 500))
