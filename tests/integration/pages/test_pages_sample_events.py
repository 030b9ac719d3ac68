"""The sample events of the resident pages (events/pages) and of the autopay-links route drive their
handlers."""

from collections.abc import Iterator

import pytest

from tests.autopay_fakes import FakeSubscribe
from tests.pages_support import pages_world
from tests.support import FakeContext, invoke, load_handler, sample_event


@pytest.fixture
def fake(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSubscribe]:
    with pages_world(monkeypatch) as subscribe:
        yield subscribe


def test_the_samples_ask_for_a_link_and_a_bill(fake: FakeSubscribe) -> None:
    assert invoke("billing_api", sample_event("billing/put_apartment.json"))[0] == 201
    status, link = invoke("billing_api", sample_event("billing/create_autopay_link.json"))
    assert status == 201 and link["url"].startswith("http://127.0.0.1:3000/autopay/enrol?t=")
    reply = load_handler("resident_pages").lambda_handler(sample_event("pages/pay_page.json"), FakeContext())
    assert reply["statusCode"] == 404 and "Счёт не найден" in reply["body"]  # 1234567890 was never billed
