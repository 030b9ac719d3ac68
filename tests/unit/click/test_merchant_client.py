"""ClickMerchantClient against a fake Click server on 127.0.0.1."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tolov.click.merchant_api import (
    DEFAULT_BASE_URL,
    ClickBadResponse,
    ClickError,
    ClickHttpError,
    ClickMerchantClient,
    ClickMerchantError,
    ClickUnavailable,
    FiscalItem,
)

SECRET = "TEST_SECRET"
USER_ID = "4321"
SERVICE_ID = 777
T0 = 1700000000
T0_DIGEST = "09b821e50eebe3f796caa8855acf4fb2524c9578"  # sha1("1700000000" + "TEST_SECRET")
OK: dict[str, Any] = {"error_code": 0, "error_note": "Success"}


# --------------------------------------------------------------------------- fake Click


@dataclass
class Recorded:
    method: str
    path: str
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body, parse_float=Decimal)


@dataclass
class Canned:
    status: int = 200
    body: bytes = b'{"error_code": 0, "error_note": "Success"}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class FakeClick:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Canned] = deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake._lock:
                    fake.requests.append(Recorded(self.command, self.path, self.headers, body))
                    canned = fake.replies.popleft() if fake.replies else Canned()
                time.sleep(canned.delay)
                try:
                    self.send_response(canned.status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in canned.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(canned.body)))
                    self.end_headers()
                    self.wfile.write(canned.body)
                except OSError:  # the client gave up (timeout test)
                    pass

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/merchant"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def reply(
        self, body: dict[str, Any] | str | bytes, status: int = 200, delay: float = 0.0, **headers: str
    ) -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.replies.append(Canned(status, body, delay, headers))

    @property
    def last(self) -> Recorded:
        assert self.requests, "no request reached the fake server"
        return self.requests[-1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class Clock:
    """Advances one second per reading, so every request must carry a new timestamp."""

    def __init__(self, start: int = T0) -> None:
        self.now = start
        self.readings: list[int] = []

    def __call__(self) -> float:
        value = self.now
        self.readings.append(value)
        self.now += 1
        return float(value)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeClick]:
    server = FakeClick()
    yield server
    server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client(fake: FakeClick, clock: Clock) -> Callable[..., ClickMerchantClient]:
    def make(**overrides: Any) -> ClickMerchantClient:
        kwargs: dict[str, Any] = {
            "service_id": SERVICE_ID,
            "merchant_user_id": USER_ID,
            "secret_key": SECRET,
            "base_url": fake.base_url,
            "timeout": 5.0,
            "clock": clock,
        }
        kwargs.update(overrides)
        return ClickMerchantClient(**kwargs)

    return make


@pytest.fixture
def client(make_client: Callable[..., ClickMerchantClient]) -> ClickMerchantClient:
    return make_client()


def expected_auth(timestamp: int, secret: str = SECRET) -> str:
    digest = hashlib.sha1(f"{timestamp}{secret}".encode()).hexdigest()
    return f"{USER_ID}:{digest}:{timestamp}"


P = "/v2/merchant"


# --------------------------------------------------------------------------- auth & headers


def test_auth_header_matches_known_vector_and_is_fresh_per_request(
    fake: FakeClick, client: ClickMerchantClient, clock: Clock
) -> None:
    fake.reply({**OK, "payment_id": 1, "payment_status": 2})
    fake.reply({**OK, "payment_id": 1, "payment_status": 2})
    fake.reply(OK)

    client.payment_status(1)
    client.payment_status(1)
    client.delete_card_token("tok")

    auths = [r.headers["Auth"] for r in fake.requests]
    assert auths[0] == f"{USER_ID}:{T0_DIGEST}:{T0}"
    assert auths[1] == expected_auth(T0 + 1)
    assert auths[2] == expected_auth(T0 + 2)
    assert len(set(auths)) == 3
    assert clock.readings == [T0, T0 + 1, T0 + 2]


def test_auth_header_with_real_clock_uses_current_unix_seconds(
    fake: FakeClick, make_client: Callable[..., ClickMerchantClient]
) -> None:
    client = make_client(clock=time.time)
    before = int(time.time())
    client.delete_card_token("tok")
    after = int(time.time())
    user, digest, stamp = fake.last.headers["Auth"].split(":")
    assert user == USER_ID
    assert re.fullmatch(r"[0-9]{10}", stamp)
    assert before <= int(stamp) <= after
    assert digest == hashlib.sha1(f"{stamp}{SECRET}".encode()).hexdigest()


def test_json_headers_on_every_verb(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({**OK, "payment_id": 5, "payment_status": 2})
    fake.reply({**OK, "payment_id": 5})
    fake.reply({**OK, "invoice_id": 9})
    client.payment_status(5)
    client.reverse_payment(5)
    client.create_invoice(100, "998901234567", "acc-1")
    assert [r.method for r in fake.requests] == ["GET", "DELETE", "POST"]
    for recorded in fake.requests:
        assert recorded.headers["Accept"] == "application/json"
        assert recorded.headers["Content-Type"] == "application/json"


def test_default_base_url() -> None:
    client = ClickMerchantClient(service_id=1, merchant_user_id="u", secret_key="k")
    assert DEFAULT_BASE_URL == "https://api.click.uz/v2/merchant"
    assert "https://api.click.uz/v2/merchant" in repr(client)


def test_trailing_slash_in_base_url_is_ignored(
    fake: FakeClick, make_client: Callable[..., ClickMerchantClient]
) -> None:
    client = make_client(base_url=fake.base_url + "/")
    client.delete_card_token("tok")
    assert fake.last.path == f"{P}/card_token/{SERVICE_ID}/tok"


@pytest.mark.parametrize(
    "overrides",
    [
        {"service_id": 0},
        {"service_id": "777"},
        {"merchant_user_id": ""},
        {"secret_key": ""},
        {"base_url": "ftp://example.com"},
        {"base_url": "file:///etc/passwd"},
        {"base_url": "api.click.uz/v2/merchant"},
        {"timeout": 0},
        {"timeout": -1.0},
    ],
)
def test_constructor_rejects_bad_configuration(
    make_client: Callable[..., ClickMerchantClient], overrides: dict[str, Any]
) -> None:
    with pytest.raises((TypeError, ValueError)):
        make_client(**overrides)


# --------------------------------------------------------------------------- payment status


def test_payment_status_successful(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({**OK, "payment_id": 1574969493, "payment_status": 2})
    status = client.payment_status(1574969493)
    assert fake.last.method == "GET"
    assert fake.last.path == f"{P}/payment/status/{SERVICE_ID}/1574969493"
    assert fake.last.body == b""
    assert status.payment_id == 1574969493
    assert status.payment_status == 2
    assert status.successful
    assert not status.declined
    assert not status.pending


@pytest.mark.parametrize(
    ("payment_status", "successful", "declined", "pending"),
    [(-1, False, True, False), (-5017, False, True, False), (0, False, False, True), (1, False, False, True)],
)
def test_payment_status_values(
    fake: FakeClick,
    client: ClickMerchantClient,
    payment_status: int,
    successful: bool,
    declined: bool,
    pending: bool,
) -> None:
    fake.reply(
        {"error_code": 0, "error_note": "Card blocked", "payment_id": 3, "payment_status": payment_status}
    )
    status = client.payment_status(3)
    assert (status.successful, status.declined, status.pending) == (successful, declined, pending)
    assert status.error_note == "Card blocked"


def test_payment_status_by_merchant_trans_id_quotes_id_and_adds_date(
    fake: FakeClick, client: ClickMerchantClient
) -> None:
    fake.reply({**OK, "payment_id": 88, "payment_status": 2, "merchant_trans_id": "acc 42/7?x"})
    status = client.payment_status_by_merchant_trans_id("acc 42/7?x", datetime.date(2024, 3, 5))
    assert fake.last.method == "GET"
    assert fake.last.path == f"{P}/payment/status_by_mti/{SERVICE_ID}/acc%2042%2F7%3Fx/2024-03-05"
    assert status.payment_id == 88
    assert status.successful
    assert status.merchant_trans_id == "acc 42/7?x"


def test_payment_status_by_merchant_trans_id_refuses_datetime(
    fake: FakeClick, client: ClickMerchantClient
) -> None:
    with pytest.raises(TypeError):
        client.payment_status_by_merchant_trans_id("acc", datetime.datetime(2024, 3, 5, 23, 30))
    assert fake.requests == []


def test_status_reply_without_payment_status_is_bad_response(
    fake: FakeClick, client: ClickMerchantClient
) -> None:
    fake.reply({**OK, "payment_id": 3})
    with pytest.raises(ClickBadResponse):
        client.payment_status(3)


# --------------------------------------------------------------------------- reversals


def test_reverse_payment(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({**OK, "payment_id": 42})
    reversal = client.reverse_payment(42)
    assert fake.last.method == "DELETE"
    assert fake.last.path == f"{P}/payment/reversal/{SERVICE_ID}/42"
    assert fake.last.body == b""
    assert reversal.payment_id == 42
    assert reversal.amount_tiyin is None


@pytest.mark.parametrize(
    ("tiyin", "segment"),
    [(1, "0.01"), (10, "0.10"), (100, "1.00"), (1050, "10.50"), (1234567, "12345.67"), (100000, "1000.00")],
)
def test_partial_reversal_amount_is_exact_sum_with_two_decimals(
    fake: FakeClick, client: ClickMerchantClient, tiyin: int, segment: str
) -> None:
    fake.reply(OK)
    reversal = client.partially_reverse_payment(42, tiyin)
    assert fake.last.method == "DELETE"
    assert fake.last.path == f"{P}/payment/partial_reversal/{SERVICE_ID}/42/{segment}"
    assert reversal.amount_tiyin == tiyin


@pytest.mark.parametrize("amount", [12.5, Decimal("12.50"), "1250", True, 0, -100])
def test_money_arguments_must_be_positive_int_tiyin(
    fake: FakeClick, client: ClickMerchantClient, amount: Any
) -> None:
    with pytest.raises((TypeError, ValueError)):
        client.partially_reverse_payment(42, amount)
    with pytest.raises((TypeError, ValueError)):
        client.create_invoice(amount, "998901234567", "acc")
    with pytest.raises((TypeError, ValueError)):
        client.pay_with_card_token("tok", amount, "acc")
    assert fake.requests == []


# --------------------------------------------------------------------------- invoices


@pytest.mark.parametrize(
    ("tiyin", "literal"),
    [(1234567, "12345.67"), (10, "0.10"), (500000, "5000.00"), (9007199254740993, "90071992547409.93")],
)
def test_create_invoice_body_and_exact_amount(
    fake: FakeClick, client: ClickMerchantClient, tiyin: int, literal: str
) -> None:
    fake.reply({**OK, "invoice_id": 2000000001})
    invoice = client.create_invoice(tiyin, "998901234567", "acc-42")
    assert fake.last.method == "POST"
    assert fake.last.path == f"{P}/invoice/create"
    raw = fake.last.body.decode()
    # the amount is a JSON number written digit for digit (no float rounding, no quotes)
    assert re.search(rf'"amount": {re.escape(literal)}[,}}]', raw), raw
    assert fake.last.json() == {
        "service_id": SERVICE_ID,
        "amount": Decimal(literal),
        "phone_number": "998901234567",
        "merchant_trans_id": "acc-42",
    }
    assert invoice.invoice_id == 2000000001


@pytest.mark.parametrize("phone", ["+998901234567", "901234567", "99890123456", "9989012345678", ""])
def test_create_invoice_rejects_bad_phone(fake: FakeClick, client: ClickMerchantClient, phone: str) -> None:
    with pytest.raises(ValueError):
        client.create_invoice(100, phone, "acc")
    assert fake.requests == []


def test_invoice_status(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({**OK, "invoice_status": -99, "invoice_status_note": "Deleted"})
    status = client.invoice_status(2000000001)
    assert fake.last.method == "GET"
    assert fake.last.path == f"{P}/invoice/status/{SERVICE_ID}/2000000001"
    assert (status.invoice_id, status.invoice_status, status.invoice_status_note) == (
        2000000001,
        -99,
        "Deleted",
    )


# --------------------------------------------------------------------------- card tokens


@pytest.mark.parametrize(("temporary", "flag"), [(True, 1), (False, 0)])
def test_request_card_token(fake: FakeClick, client: ClickMerchantClient, temporary: bool, flag: int) -> None:
    fake.reply({**OK, "card_token": "3B1DF3F1-7358-407C", "phone_number": "99890***1234", "temporary": flag})
    result = client.request_card_token("8600550000003244", "0327", temporary=temporary)
    assert fake.last.method == "POST"
    assert fake.last.path == f"{P}/card_token/request"
    assert fake.last.json() == {
        "service_id": SERVICE_ID,
        "card_number": "8600550000003244",
        "expire_date": "0327",
        "temporary": flag,
    }
    assert result.card_token == "3B1DF3F1-7358-407C"
    assert result.phone_number == "99890***1234"
    assert result.temporary is temporary


@pytest.mark.parametrize(
    ("card", "expiry"),
    [
        ("8600 5500 0000 3244", "0327"),
        ("8600-5500", "0327"),
        ("8600550000003244", "1327"),
        ("8600550000003244", "3/27"),
    ],
)
def test_request_card_token_validates_without_echoing_pan(
    fake: FakeClick, client: ClickMerchantClient, card: str, expiry: str
) -> None:
    with pytest.raises(ValueError) as info:
        client.request_card_token(card, expiry, temporary=False)
    assert "8600" not in str(info.value)
    assert fake.requests == []


def test_verify_card_token_sends_sms_code_as_int(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({**OK, "card_number": "8600 55** **** 3244"})
    result = client.verify_card_token("tok-1", 123456)
    assert fake.last.method == "POST"
    assert fake.last.path == f"{P}/card_token/verify"
    body = fake.last.json()
    assert body == {"service_id": SERVICE_ID, "card_token": "tok-1", "sms_code": 123456}
    assert type(body["sms_code"]) is int
    assert result.card_number == "8600 55** **** 3244"
    assert result.card_token == "tok-1"


def test_pay_with_card_token(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({**OK, "payment_id": 1574969493, "payment_status": 2})
    payment = client.pay_with_card_token("tok-1", 1999999, "contract-9")
    assert fake.last.method == "POST"
    assert fake.last.path == f"{P}/card_token/payment"
    assert '"amount": 19999.99,' in fake.last.body.decode()
    assert fake.last.json() == {
        "service_id": SERVICE_ID,
        "card_token": "tok-1",
        "amount": Decimal("19999.99"),
        "transaction_parameter": "contract-9",
    }
    assert payment.payment_id == 1574969493
    assert payment.successful


def test_pay_with_card_token_decline_is_not_success(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({"error_code": 0, "error_note": "Insufficient funds", "payment_id": 7, "payment_status": -1})
    payment = client.pay_with_card_token("tok-1", 100, "contract-9")
    assert payment.declined
    assert not payment.successful
    assert payment.error_note == "Insufficient funds"


def test_delete_card_token_quotes_token(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply(OK)
    client.delete_card_token("a/b c")
    assert fake.last.method == "DELETE"
    assert fake.last.path == f"{P}/card_token/{SERVICE_ID}/a%2Fb%20c"
    assert fake.last.body == b""


# --------------------------------------------------------------------------- fiscalization


def test_submit_fiscal_items(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply(OK)
    item = FiscalItem(
        name="Cold water, m3",
        spic="10305001001000000",
        package_code="1501234",
        price=1_500_000,
        quantity=3,
        vat=160_714,
        vat_percent=12,
        commission_tin="123456789",
        good_price=500_000,
    )
    client.submit_fiscal_items(1574969493, [item], received_ecash=1_500_000)
    assert fake.last.method == "POST"
    assert fake.last.path == f"{P}/payment/ofd_data/submit_items"
    assert fake.last.json() == {
        "service_id": SERVICE_ID,
        "payment_id": 1574969493,
        "items": [
            {
                "Name": "Cold water, m3",
                "SPIC": "10305001001000000",
                "PackageCode": "1501234",
                "Price": 1_500_000,
                "Amount": 3,
                "VAT": 160_714,
                "VATPercent": 12,
                "CommissionInfo": {"TIN": "123456789"},
                "GoodPrice": 500_000,
            }
        ],
        "received_ecash": 1_500_000,
        "received_cash": 0,
        "received_card": 0,
    }


def test_fiscal_item_needs_commission_info() -> None:
    with pytest.raises(ValueError):
        FiscalItem(name="x", spic="1", package_code="1", price=1, quantity=1, vat=0, vat_percent=12)


def test_submit_fiscal_items_needs_items(fake: FakeClick, client: ClickMerchantClient) -> None:
    with pytest.raises(ValueError):
        client.submit_fiscal_items(1, [], received_ecash=100)
    assert fake.requests == []


def test_submit_fiscal_qrcode(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply(OK)
    url = "https://ofd.soliq.uz/epi?t=EZ000000000001&r=1&c=20240305120000&s=123456789012"
    client.submit_fiscal_qrcode(1574969493, url)
    assert fake.last.method == "POST"
    assert fake.last.path == f"{P}/payment/ofd_data/submit_qrcode"
    assert fake.last.json() == {"service_id": SERVICE_ID, "payment_id": 1574969493, "qrcode": url}


# --------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize("code", [-5, -16, "-9"])
def test_error_code_raises_merchant_error(fake: FakeClick, client: ClickMerchantClient, code: Any) -> None:
    fake.reply({"error_code": code, "error_note": "Payment not found"})
    with pytest.raises(ClickMerchantError) as info:
        client.payment_status(1)
    assert info.value.error_code == int(code)
    assert info.value.error_note == "Payment not found"


def test_error_code_raises_even_for_ack_only_calls(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({"error_code": -500, "error_note": "Reversal not allowed"})
    with pytest.raises(ClickMerchantError) as info:
        client.reverse_payment(1)
    assert info.value.error_code == -500


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406, 410, 500, 502])
def test_http_error_status(fake: FakeClick, client: ClickMerchantClient, status: int) -> None:
    fake.reply(b"<html>nope</html>", status=status)
    with pytest.raises(ClickHttpError) as info:
        client.payment_status(1)
    assert info.value.status == status
    assert info.value.error_code is None


def test_http_error_keeps_click_error_details(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply({"error_code": -1, "error_note": "Bad amount"}, status=400)
    with pytest.raises(ClickHttpError) as info:
        client.create_invoice(100, "998901234567", "acc")
    assert (info.value.status, info.value.error_code, info.value.error_note) == (400, -1, "Bad amount")


def test_redirect_is_not_followed(fake: FakeClick, client: ClickMerchantClient) -> None:
    fake.reply(b"", status=302, Location=fake.base_url + "/elsewhere")
    with pytest.raises(ClickHttpError) as info:
        client.payment_status(1)
    assert info.value.status == 302
    assert len(fake.requests) == 1


def test_timeout_raises_unavailable(fake: FakeClick, make_client: Callable[..., ClickMerchantClient]) -> None:
    client = make_client(timeout=0.2)
    fake.reply({**OK, "payment_id": 1, "payment_status": 2}, delay=1.5)
    started = time.monotonic()
    with pytest.raises(ClickUnavailable):
        client.payment_status(1)
    assert time.monotonic() - started < 1.0


def test_connection_refused_raises_unavailable(make_client: Callable[..., ClickMerchantClient]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}/v2/merchant")
    with pytest.raises(ClickUnavailable):
        client.payment_status(1)


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"error_note": "no code"}', b'{"error_code": "x"}', b""]
)
def test_malformed_reply_raises_bad_response(
    fake: FakeClick, client: ClickMerchantClient, body: bytes
) -> None:
    fake.reply(body)
    with pytest.raises(ClickBadResponse):
        client.delete_card_token("tok")


def test_all_errors_share_a_base_class() -> None:
    for cls in (ClickMerchantError, ClickHttpError, ClickUnavailable, ClickBadResponse):
        assert issubclass(cls, ClickError)


# --------------------------------------------------------------------------- secrecy


def _raised(call: Callable[[], object]) -> BaseException:
    with pytest.raises(ClickError) as info:
        call()
    return info.value


def test_secret_never_in_repr_or_errors(
    fake: FakeClick, make_client: Callable[..., ClickMerchantClient]
) -> None:
    client = make_client()
    for text in (repr(client), str(client), repr(vars(client))):
        assert SECRET not in text
        assert USER_ID in repr(client)

    fake.reply({"error_code": -5, "error_note": "not found"})
    fake.reply(b"", status=401)
    fake.reply({"error_code": -1, "error_note": "bad"}, status=500)
    errors = [
        _raised(lambda: client.payment_status(1)),
        _raised(lambda: client.payment_status(1)),
        _raised(lambda: client.payment_status(1)),
    ]
    fake.reply(OK, delay=1.0)
    errors.append(_raised(lambda: make_client(timeout=0.2).payment_status(1)))
    fake.reply(b"garbage")
    errors.append(_raised(lambda: client.payment_status(1)))
    assert [type(e) for e in errors] == [
        ClickMerchantError,
        ClickHttpError,
        ClickHttpError,
        ClickUnavailable,
        ClickBadResponse,
    ]
    for error in errors:
        rendered = [repr(error), str(error), "".join(traceback.format_exception(error))]
        for text in rendered:
            assert SECRET not in text
        assert SECRET not in repr(vars(error))

    for recorded in fake.requests:
        assert SECRET.encode() not in recorded.body
        assert SECRET not in recorded.path
        assert all(SECRET not in value for value in recorded.headers.values())
