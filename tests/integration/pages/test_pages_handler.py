"""The resident pages and the two new billing API routes through their handlers (API Gateway events,
moto's tables, KMS and the link-signing secret from template.yaml); the Subscribe API is the in-memory
fake, as in the autopay tests."""

import json
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from tests.autopay_fakes import OK_CARD, OK_CARD_2, FakeSubscribe
from tests.pages_support import (
    billing,
    enrol_post,
    fresh_handlers,
    new_invoice,
    new_link,
    page_event,
    pages,
    pages_world,
    token_of,
)
from tests.support import replies_lost, together
from tolov.autopay import links
from tolov.clock import now_ms
from tolov.settings import get_settings
from tolov.signing import signer_from_secret

NBSP = "\u00a0"


@pytest.fixture
def fake(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSubscribe]:
    with pages_world(monkeypatch) as subscribe:
        yield subscribe


# ---------------------------------------------------------------------- the bill
def test_the_bill_page_shows_the_invoice_and_its_links(fake: FakeSubscribe) -> None:
    invoice = new_invoice()
    status, headers, html = pages(
        page_event("/pay/{invoice_id}", {"invoice_id": invoice["invoice_id"]}, {"lang": "en"})
    )
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    text = unescape(html)
    assert "Bill for November 2026" in text and "Chilonzor 9-12-34" in text
    assert f"50,000.00{NBSP}sum" in text  # 2 x 25 000 sum
    assert invoice["payment_links"]["click"] in text
    payme = invoice["payment_links"]["payme"]  # the page's own language goes to Payme's checkout
    assert f"{payme.rsplit('/', 1)[0]}/" in text
    assert invoice["pay_url"] == f"http://127.0.0.1:3000/pay/{invoice['invoice_id']}"
    assert f'data-url="{invoice["pay_url"]}"' in html


@pytest.mark.parametrize(
    ("accept", "title"),
    [
        ("ru-RU,ru;q=0.9", "Счёт за Ноябрь 2026"),
        ("en-GB", "Bill for November 2026"),
        (None, "Hisob: 2026-yil noyabr"),
    ],
)
def test_the_language_comes_from_accept_language_else_uzbek(
    fake: FakeSubscribe, accept: str | None, title: str
) -> None:
    invoice = new_invoice()
    headers = {"Accept-Language": accept} if accept else {}
    _, _, html = pages(
        page_event("/pay/{invoice_id}", {"invoice_id": invoice["invoice_id"]}, headers=headers)
    )
    assert f"<title>{title}</title>" in html


@pytest.mark.parametrize("invoice_id", ["9999999999", "bad%20id", "x" * 65])
def test_an_unknown_invoice_is_a_friendly_404_page(fake: FakeSubscribe, invoice_id: str) -> None:
    status, headers, html = pages(page_event("/pay/{invoice_id}", {"invoice_id": invoice_id}, {"lang": "en"}))
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert "Bill not found" in html and "Traceback" not in html


def test_a_paid_invoice_shows_paid_and_no_buttons(fake: FakeSubscribe) -> None:
    from tolov.billing.keys import PaymentKey
    from tolov.billing.ledger import Ledger

    invoice = new_invoice()
    Ledger().post_to_invoice(PaymentKey("payme", "tx-1"), invoice["invoice_id"], invoice["amount"])
    _, _, html = pages(page_event("/pay/{invoice_id}", {"invoice_id": invoice["invoice_id"]}, {"lang": "en"}))
    assert 'id="status">Paid<' in html and "pay-payme" not in html and "pay-click" not in html


@pytest.fixture
def signed(fake: FakeSubscribe, monkeypatch: pytest.MonkeyPatch) -> FakeSubscribe:
    monkeypatch.setenv("PAY_PAGE_REQUIRE_SIGNED", "1")
    fresh_handlers()
    return fake


def test_a_signed_stage_serves_the_bill_only_through_the_signed_pay_url(signed: FakeSubscribe) -> None:
    invoice_id = new_invoice()["invoice_id"]
    status, invoice = billing("GET", "/invoices/{invoice_id}", {"invoice_id": invoice_id})
    assert status == 200 and {"payment_links", "payments", "amount"} <= set(invoice)  # existing fields kept
    url = urlsplit(invoice["pay_url"])
    assert url.path == f"/pay/{invoice_id}"
    [token] = parse_qs(url.query)["t"]
    ok, _, html = pages(page_event("/pay/{invoice_id}", {"invoice_id": invoice_id}, {"t": token}))
    assert ok == 200 and f'data-url="{invoice["pay_url"]}"' in html  # the QR code keeps the signature
    for query in ({}, {"t": token[:-2] + "AA"}, {"t": "forged"}):
        status, _, html = pages(
            page_event("/pay/{invoice_id}", {"invoice_id": invoice_id}, {**query, "lang": "en"})
        )
        assert status == 403 and "This link is not valid" in html
    other = new_invoice("2026-12")["invoice_id"]  # another invoice's signature opens nothing else
    assert pages(page_event("/pay/{invoice_id}", {"invoice_id": other}, {"t": token}))[0] == 403
    # nothing tells an existing id from a missing one without the key
    assert pages(page_event("/pay/{invoice_id}", {"invoice_id": "9999999999"}, {"t": token}))[0] == 403


# ---------------------------------------------------------------------- autopay links
def test_an_autopay_link_is_signed_for_24_hours(fake: FakeSubscribe) -> None:
    before = now_ms()
    status, link = new_link()
    assert status == 201 and set(link) == {"url", "expires_at"}
    assert link["url"].startswith("http://127.0.0.1:3000/autopay/enrol?t=")
    assert len(link["expires_at"]) == 20 and link["expires_at"].endswith("Z")
    signer = signer_from_secret(get_settings().pages.signing_key_secret_arn)
    read = links.read(signer, token_of(link["url"]))
    assert (read.apartment_id, read.day_of_month, read.max_amount) == ("apt-1", 5, 50_000_00)
    assert before + links.LINK_TTL_MS - 1000 <= read.expires_at <= now_ms() + links.LINK_TTL_MS


@pytest.mark.parametrize(
    ("apartment", "changes", "status", "field"),
    [
        ("nope", {}, 404, "apartment_id"),
        ("apt-1", {"max_amount": 99_999}, 422, "max_amount"),
        ("apt-1", {"day_of_month": 29}, 422, "day_of_month"),
        ("apt-1", {"max_amount": 1.5}, 422, "max_amount"),
    ],
)
def test_an_autopay_link_is_refused_as_post_autopay_would_refuse(
    fake: FakeSubscribe, apartment: str, changes: dict[str, Any], status: int, field: str
) -> None:
    got, body = new_link(apartment, **changes)
    assert got == status and field in [e["field"] for e in body["errors"]]


def test_the_link_enrols_once_and_its_own_retry_gets_the_same_autopay(fake: FakeSubscribe) -> None:
    token = token_of(new_link()[1]["url"])
    card = fake.add_card(OK_CARD)
    status, autopay = enrol_post({"t": token, "card_token": card})
    assert status == 201 and autopay["apartment_id"] == "apt-1" and autopay["status"] == "active"
    assert (autopay["day_of_month"], autopay["max_amount"]) == (5, 50_000_00)
    assert card not in json.dumps(autopay)
    assert enrol_post({"t": token, "card_token": card}) == (200, autopay)  # after a lost reply
    other = fake.add_card(OK_CARD_2)
    status, body = enrol_post({"t": token, "card_token": other})
    assert status == 410 and body["errors"] == [{"field": "t", "error": "used"}]
    status, _, html = pages(page_event("/autopay/enrol", None, {"t": token, "lang": "en"}))
    assert status == 410 and "already been used" in html


def test_a_retry_whose_first_reply_was_lost_in_the_store_gets_the_same_autopay(fake: FakeSubscribe) -> None:
    token = token_of(new_link()[1]["url"])
    card = fake.add_card(OK_CARD)
    client = boto3.client("dynamodb")
    from tolov.store.autopay_models import EnrolLinkClaim

    with replies_lost(EnrolLinkClaim._get_connection().connection.client, "UpdateItem", 2, retried=False):
        first = enrol_post({"t": token, "card_token": card})
    assert first[0] == 503  # the claim's reply lost: nothing known, retry
    status, autopay = enrol_post({"t": token, "card_token": card})
    assert status in (200, 201) and autopay["status"] == "active"
    assert enrol_post({"t": token, "card_token": card}) == (200, autopay)
    assert client is not None


def test_two_cards_at_once_on_one_link_enrol_one(fake: FakeSubscribe) -> None:
    token = token_of(new_link()[1]["url"])
    cards = [fake.add_card(OK_CARD), fake.add_card(OK_CARD_2)]
    results = together([lambda c=c: enrol_post({"t": token, "card_token": c}) for c in cards])
    assert sorted(status for status, _ in results) == [201, 410]


def test_the_same_card_twice_at_once_is_one_autopay(fake: FakeSubscribe) -> None:
    token = token_of(new_link()[1]["url"])
    card = fake.add_card(OK_CARD)
    results = together([lambda: enrol_post({"t": token, "card_token": card})] * 2)
    assert sorted(status for status, _ in results) == [200, 201]
    assert len({body["autopay_id"] for _, body in results}) == 1


def test_a_refused_card_gives_the_link_back_for_another_card(fake: FakeSubscribe) -> None:
    token = token_of(new_link()[1]["url"])
    refused = fake.add_card(OK_CARD, recurrent=False)
    status, _ = enrol_post({"t": token, "card_token": refused})
    assert status == 422
    status, autopay = enrol_post({"t": token, "card_token": fake.add_card(OK_CARD_2)})
    assert status == 201 and autopay["card"]["number"].endswith("6311")


def test_a_forged_link_is_403_and_an_expired_one_410(fake: FakeSubscribe) -> None:
    token = token_of(new_link()[1]["url"])
    card = fake.add_card(OK_CARD)
    forged = token.split(".")[0] + ".AAAA"
    assert enrol_post({"t": forged, "card_token": card})[0] == 403
    assert pages(page_event("/autopay/enrol", None, {"t": forged}))[0] == 403
    signer = signer_from_secret(get_settings().pages.signing_key_secret_arn)
    old, _ = links.issue(signer, "apt-1", 5, 50_000_00, now_ms() - links.LINK_TTL_MS - 1000)
    status, body = enrol_post({"t": old, "card_token": card})
    assert status == 410 and body["errors"] == [{"field": "t", "error": "expired"}]
    status, _, html = pages(page_event("/autopay/enrol", None, {"t": old, "lang": "ru"}))
    assert status == 410 and "Срок действия ссылки" in unescape(html)
    assert fake.count("cards.check") == 0  # nothing reached Payme


def test_the_enrol_page_shows_the_form_for_a_fresh_link(fake: FakeSubscribe) -> None:
    token = token_of(new_link(day_of_month=7)[1]["url"])
    status, headers, html = pages(page_event("/autopay/enrol", None, {"t": token, "lang": "en"}))
    assert status == 200 and "On day 7 of each month" in html and "Chilonzor 9-12-34" in html
    config = json.loads(html.split('id="enrol-config">', 1)[1].split("</script>", 1)[0])
    assert config["token"] == token and config["merchantId"] == get_settings().payme.merchant_id
    assert config["subscribeUrl"] == get_settings().payme.subscribe_url
    assert "connect-src 'self' http://127.0.0.1:3001" in headers["Content-Security-Policy"]


def test_a_store_or_secret_that_does_not_answer_is_a_503_page(
    fake: FakeSubscribe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from tolov.pages import routes

    def no_secret(secret_id: str) -> None:
        raise GetParameterError("Secrets Manager did not answer")

    token = token_of(new_link()[1]["url"])
    monkeypatch.setattr(routes, "signer_from_secret", no_secret)
    status, _, html = pages(page_event("/autopay/enrol", None, {"t": token, "lang": "en"}))
    assert status == 503 and "try again" in html and "Traceback" not in html


def test_the_cold_start_loads_no_autopay_enrolment_or_subscribe_client() -> None:
    """The bill page is what most residents open: the card form's machinery is imported by its first
    request (the enrolment tests above go through it)."""
    from tests.support import modules_at_load

    modules = modules_at_load("resident_pages")
    assert "tolov.pages.routes" in modules
    enrolment = {"tolov.autopay.enrolment", "tolov.autopay.link_claims", "tolov.payme.subscribe_api"}
    assert not enrolment & set(modules), modules
