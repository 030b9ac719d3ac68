"""The pages as HTML: what a bill shows and when it offers to pay, what the card form may and may not
contain (Payme's rules), and that nothing an invoice holds can become markup."""

import re
from base64 import b64decode
from html import unescape
from html.parser import HTMLParser

from tolov.billing_api.resident_schemas import PaymentLinks
from tolov.pages.bill import Bill, BillLine, render_bill
from tolov.pages.enrol import render_enrol

NBSP = "\u00a0"
LINKS = PaymentLinks(payme="https://test.paycom.uz/bT0x", click="https://my.click.uz/services/pay?a=1&b=2")


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(html)
    return parser.found


def by_id(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, element_id
    return unescape(match.group(1))


def bill(**changes: object) -> Bill:
    values: dict[str, object] = {
        "invoice_id": "1234567890",
        "period": "2026-11",
        "apartment_label": "Chilonzor 9-12-34",
        "lines": (BillLine("Sovuq suv", 3, 3 * 250_000), BillLine("Gaz", 1, 1_500_050)),
        "total": 2_250_050,
        "paid": 50,
        "status": "open",
        "due_date": "2026-12-10",
    }
    return Bill(**{**values, **changes})  # type: ignore[arg-type]


def test_an_open_bill_shows_its_items_totals_and_both_buttons() -> None:
    page = render_bill(bill(), "en", LINKS, "http://127.0.0.1:3000/pay/1234567890", {})
    html = page.body
    assert page.status == 200 and page.headers["Content-Language"] == "en"
    assert by_id(html, "total") == f"22,500.50{NBSP}sum"
    assert by_id(html, "paid") == f"0.50{NBSP}sum"
    assert by_id(html, "due") == f"22,500.00{NBSP}sum"
    assert by_id(html, "status") == "Partly paid"
    assert "7,500.00" in html and "15,000.50" in html  # line amounts: count x unit price
    anchors = {attrs.get("id"): attrs.get("href") for tag, attrs in elements(html) if tag == "a"}
    assert anchors["pay-payme"] == LINKS["payme"]
    assert anchors["pay-click"] == LINKS["click"]  # & escaped in the markup, back as it was for the browser
    assert "Bill for November 2026" in html and "Chilonzor 9-12-34" in html


def test_a_paid_bill_says_paid_and_offers_no_button() -> None:
    html = render_bill(bill(paid=2_250_050, status="paid"), "uz", None, "http://x/pay/1", {}).body
    assert by_id(html, "status") == "To'langan"
    assert by_id(html, "due") == f"0,00{NBSP}so'm"
    assert "pay-payme" not in html and "pay-click" not in html
    assert "Hisob to'liq to'langan" in unescape(html)


def test_a_cancelled_bill_offers_no_button_even_with_links() -> None:
    html = render_bill(bill(status="cancelled"), "ru", LINKS, "http://x/pay/1", {}).body
    assert by_id(html, "status") == "Отменён" and "pay-payme" not in html


def test_the_qr_code_is_drawn_here_and_is_of_the_pages_own_url() -> None:
    url = "https://pay.example.uz/dev/pay/1234567890?t=abc"
    html = render_bill(bill(), "en", LINKS, url, {"t": "abc"}).body
    assert "<svg" in html and 'data-url="https://pay.example.uz/dev/pay/1234567890?t=abc"' in html
    assert "<img" not in html and "http://" not in html.split("<svg", 1)[1].split("</svg>")[0].replace(
        "http://www.w3.org", ""
    )


def test_nothing_the_invoice_holds_becomes_markup() -> None:
    evil = '<script>alert("x")</script>'
    html = render_bill(
        bill(apartment_label=evil, lines=(BillLine(evil, 1, 100),)), "en", LINKS, "http://x", {}
    ).body
    assert evil not in html and "&lt;script&gt;" in html


def test_the_language_links_keep_the_query_and_stay_on_the_page() -> None:
    html = render_bill(bill(), "ru", LINKS, "http://x", {"t": "tok"}).body
    hrefs = [a.get("href") for tag, a in elements(html) if tag == "a" and a.get("hreflang")]
    assert hrefs == ["?t=tok&lang=uz", "?t=tok&lang=ru", "?t=tok&lang=en"]  # relative: the stage prefix stays


def test_pages_are_sent_with_a_strict_policy_and_no_referrer() -> None:
    headers = render_bill(bill(), "en", LINKS, "http://x", {}).headers
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Content-Type"] == "text/html; charset=utf-8"


def enrol_page(**changes: str) -> str:
    values = {
        "lang": "en",
        "token": "tok</script><b>",
        "apartment_label": "Flat 1",
        "day_of_month": 5,
        "max_amount": 50_000_00,
        "subscribe_url": "http://127.0.0.1:3001/api",
        "merchant_id": "5e730e8e0b852a417aa49ceb",
    }
    return render_enrol(**{**values, **changes}).body  # type: ignore[arg-type]


def test_the_card_form_follows_paymes_rules() -> None:
    html = enrol_page()
    found = elements(html)
    inputs = [attrs for tag, attrs in found if tag == "input"]
    assert {a["id"] for a in inputs} == {"card-number", "card-expiry", "sms-code"}
    assert all("name" not in a for a in inputs)  # nothing of the card can be submitted by the browser
    forms = [attrs for tag, attrs in found if tag == "form"]
    assert len(forms) == 2 and all("action" not in f for f in forms)
    assert "Powered by Payme" in html and 'aria-label="Payme"' in html  # the mark, drawn inline
    assert "go straight to Payme" in html and "never passed to us" in html
    assert "<img" not in html and "<link" not in html
    script_sources = [a.get("src") for tag, a in found if tag == "script"]
    assert script_sources == [None, None]  # the data block and the page's own script, nothing fetched


def test_the_form_names_the_terms_and_reaches_only_paymes_api() -> None:
    page = render_enrol(
        lang="uz",
        token="t",
        apartment_label="Flat 1",
        day_of_month=7,
        max_amount=12_345_600,
        subscribe_url="https://checkout.paycom.uz/api",
        merchant_id="m",
    )
    text = unescape(page.body)
    assert "Har oyning 7-kuni" in text and f"123{NBSP}456,00{NBSP}so'm" in text
    policy = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' https://checkout.paycom.uz;" in policy


def test_the_config_block_cannot_be_closed_by_its_data() -> None:
    html = enrol_page()
    assert "tok</script><b>" not in html and "tok\\u003c/script>\\u003cb>" in html


def test_a_payme_link_decodes_back_to_its_params() -> None:
    # the pages show the billing API's links as they are: nothing re-encodes them
    html = render_bill(bill(), "en", LINKS, "http://x", {}).body
    href = next(a["href"] for tag, a in elements(html) if a.get("id") == "pay-payme")
    assert href is not None and b64decode(href.rsplit("/", 1)[1] + "==") == b"m=1"
