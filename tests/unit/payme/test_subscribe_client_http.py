"""The Subscribe API client over HTTP against a small fake server: what goes out (X-Auth, the JSON-RPC body),
and every way an answer can fail to be one (time-outs, refused connections, 5xx, garbage, redirects),
with the key, card tokens and card numbers kept out of every repr, error and log line."""

import contextlib
import json
import logging
import socket
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support import http_server
from tolov.payme import subscribe_api
from tolov.payme.subscribe_api import (
    Card,
    Receipt,
    SubscribeClient,
    SubscribeError,
    SubscribeUnavailable,
)

MERCHANT = "5e730e8e0b852a417aa49ceb"
KEY = "the-cashbox-key-0123456789abcdefghij"
TOKEN = "card-token-NTg0YTg0OGQ5NzQxN2YwNTk1ZjA5YjE2"
NUMBER = "8600495473316478"
RECEIPT_ID = "5e7383b2a6f0b5ba1bd2e6a3"
RECEIPT: dict[str, Any] = {
    "_id": RECEIPT_ID,
    "create_time": 1584628658839,
    "pay_time": 0,
    "cancel_time": 0,
    "state": 0,
    "amount": 500_000,
    "account": [{"name": "apartment_id", "title": "Kvartira", "value": "A1", "main": True}],
    "card": None,
}

Behaviour = Callable[["_Handler", dict[str, Any]], None]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakePayme:
    """Answers each request with the behaviour of its path; remembers what it received."""

    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)

    def url(self, path: str = "/api") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        fake: FakePayme = self.server.fake  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fake.seen.append(Seen(self.path, dict(self.headers.items()), body))
        BEHAVIOURS[self.path.split("?")[0]](self, body)

    def send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def result(self, body: dict[str, Any], result: Any) -> None:
        self.send(200, json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": result}).encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _ok(handler: _Handler, body: dict[str, Any]) -> None:
    method = body["method"]
    if method == "cards.get_verify_code":
        handler.result(body, {"sent": True, "phone": "99890*****31", "wait": 60000})
    elif method.startswith("cards."):
        handler.result(body, {"card": {"number": "860049******6478", "expire": "03/99", "token": TOKEN,
                                       "recurrent": True, "verify": True}})  # fmt: skip
    elif method == "receipts.check":
        handler.result(body, {"state": 4})
    else:
        handler.result(body, {"receipt": RECEIPT})


def _error(handler: _Handler, body: dict[str, Any]) -> None:
    error = {"code": -31630, "message": {"ru": "Недостаточно средств", "uz": "Mablag' yetarli emas",
                                          "en": "Insufficient funds"}, "data": {"state": 0}}  # fmt: skip
    handler.send(200, json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode())


def _echo_secrets(handler: _Handler, body: dict[str, Any]) -> None:
    """A server that repeats what it was sent in its error: the client must not pass that on."""
    echoed = f"params {json.dumps(body['params'])} auth {handler.headers['X-Auth']}"
    error = {"code": -31400, "message": {"ru": echoed, "uz": echoed, "en": echoed}, "data": [echoed]}
    handler.send(200, json.dumps({"jsonrpc": "2.0", "id": 1, "error": error}).encode())


def _silent(handler: _Handler, body: dict[str, Any]) -> None:
    time.sleep(3)


def _trickle(handler: _Handler, body: dict[str, Any]) -> None:
    """A byte every 0.2 s: each read is quick, the reply never ends in time."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    with contextlib.suppress(OSError):  # the client hangs up
        for _ in range(40):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)


def _status(code: int, payload: bytes = b"") -> Behaviour:
    return lambda handler, body: handler.send(code, payload, "text/html")


def _redirect(handler: _Handler, body: dict[str, Any]) -> None:
    handler.send_response(307)
    handler.send_header("Location", "/elsewhere")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def _body(payload: bytes) -> Behaviour:
    return lambda handler, body: handler.send(200, payload)


BEHAVIOURS: dict[str, Behaviour] = {
    "/api": _ok,
    "/error": _error,
    "/echo": _echo_secrets,
    "/silent": _silent,
    "/trickle": _trickle,
    "/500": _status(500, b"<html>Internal Server Error</html>"),
    "/502": _status(502),
    "/404": _status(404),
    "/redirect": _redirect,
    "/elsewhere": _ok,
    "/garbage": _body(b"<html>not json</html>"),
    "/array": _body(b"[1, 2]"),
    "/empty": _body(b"{}"),
    "/no-code": _body(b'{"error": {"message": "x"}}'),
    "/no-card": _body(b'{"result": {}}'),
    "/fraction": _body(json.dumps({"result": {"receipt": {**RECEIPT, "amount": 500000.5}}}).encode()),
    "/whole-decimal": _body(json.dumps({"result": {"receipt": {**RECEIPT, "amount": 500000.0}}}).encode()),
}


@pytest.fixture
def fake() -> Iterator[FakePayme]:
    with http_server(_Handler) as server:
        payme = FakePayme(server)
        server.fake = payme  # type: ignore[attr-defined]
        yield payme


def client(url: str, key: Callable[[], str] = lambda: KEY, **kwargs: Any) -> SubscribeClient:
    return SubscribeClient(url, MERCHANT, key, **kwargs)


# ---------------------------------------------------------------------------------------------- requests


def test_front_end_methods_send_the_id_alone_and_back_end_methods_id_and_key(fake: FakePayme) -> None:
    payme = client(fake.url())
    payme.cards_create(NUMBER, "0399")
    payme.cards_get_verify_code(TOKEN)
    payme.cards_verify(TOKEN, "666666")
    payme.cards_check(TOKEN)
    payme.receipts_create(500_000, {"apartment_id": "A1"})
    payme.receipts_pay(RECEIPT_ID, TOKEN)
    assert [(s.body["method"], s.headers["X-Auth"]) for s in fake.seen] == [
        ("cards.create", MERCHANT),
        ("cards.get_verify_code", MERCHANT),
        ("cards.verify", MERCHANT),
        ("cards.check", f"{MERCHANT}:{KEY}"),
        ("receipts.create", f"{MERCHANT}:{KEY}"),
        ("receipts.pay", f"{MERCHANT}:{KEY}"),
    ]


def test_the_body_is_payme_json_rpc_with_integer_tiyin(fake: FakePayme) -> None:
    payme = client(fake.url())
    payme.receipts_create(500_000, {"apartment_id": "A1"}, description="Autopay 2025-03", detail={"x": []})
    payme.cards_create(NUMBER, "0399", save=False)
    first, second = (s.body for s in fake.seen)
    assert first["method"] == "receipts.create"
    assert first["params"] == {
        "amount": 500_000,
        "account": {"apartment_id": "A1"},
        "description": "Autopay 2025-03",
        "detail": {"x": []},
    }
    assert isinstance(first["id"], int) and second["id"] != first["id"]
    assert second["params"] == {"card": {"number": NUMBER, "expire": "0399"}, "save": False}
    assert fake.seen[0].headers["Content-Type"] == "application/json"


def test_the_key_is_asked_for_on_every_back_end_call_so_a_rotated_key_is_used(fake: FakePayme) -> None:
    keys = iter(["first-key", "second-key"])
    payme = client(fake.url(), key=lambda: next(keys))
    payme.receipts_check(RECEIPT_ID)
    payme.receipts_check(RECEIPT_ID)
    assert [s.headers["X-Auth"] for s in fake.seen] == [f"{MERCHANT}:first-key", f"{MERCHANT}:second-key"]


def test_an_empty_key_is_refused_before_anything_is_sent(fake: FakePayme) -> None:
    with pytest.raises(RuntimeError, match="key is empty"):
        client(fake.url(), key=lambda: "").receipts_check(RECEIPT_ID)
    assert fake.seen == []


def test_a_given_opener_carries_the_calls(fake: FakePayme) -> None:
    used: list[str] = []

    class Recording(urllib.request.BaseHandler):
        def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
            used.append(request.full_url)
            return request

    opener = urllib.request.build_opener(Recording())
    assert client(fake.url(), opener=opener).receipts_check("r1") == 4
    assert used == [fake.url()]


# ---------------------------------------------------------------------------------------------- answers


def test_a_json_rpc_error_keeps_paymes_code_message_and_data(fake: FakePayme) -> None:
    with pytest.raises(SubscribeError) as raised:
        client(fake.url("/error")).receipts_pay(RECEIPT_ID, TOKEN)
    error = raised.value
    assert type(error) is SubscribeError
    assert error.code == -31630
    assert error.message == {
        "ru": "Недостаточно средств",
        "uz": "Mablag' yetarli emas",
        "en": "Insufficient funds",
    }
    assert error.data == {"state": 0}
    assert error.method == "receipts.pay"
    assert error.outcome_unknown is False
    assert str(error) == "Payme receipts.pay error -31630: Insufficient funds"


def test_a_receipt_is_read_with_its_times_account_and_raw_reply(fake: FakePayme) -> None:
    receipt = client(fake.url()).receipts_get(RECEIPT_ID)
    assert receipt == Receipt(
        id=RECEIPT_ID,
        state=0,
        amount=500_000,
        create_time=1584628658839,
        pay_time=0,
        cancel_time=0,
        account=RECEIPT["account"],
        card=None,
        raw=RECEIPT,
    )
    assert not receipt.paid and not receipt.in_flight and not receipt.cancelled


def test_a_whole_number_written_with_a_decimal_point_is_read_exactly(fake: FakePayme) -> None:
    assert client(fake.url("/whole-decimal")).receipts_get("r1").amount == 500_000


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/500", "HTTP 500"),
        ("/502", "HTTP 502"),
        ("/404", "HTTP 404"),
        ("/garbage", "not JSON"),
        ("/array", "not a JSON-RPC response"),
        ("/empty", "neither result nor error"),
        ("/no-code", "no integer code"),
        ("/no-card", "unreadable reply: card is not an object"),
        ("/fraction", "unreadable reply: amount is not a whole number"),
    ],
)
def test_anything_but_a_json_rpc_answer_is_unavailable(fake: FakePayme, path: str, reason: str) -> None:
    payme = client(fake.url(path))
    call = payme.cards_check if path == "/no-card" else payme.receipts_get
    with pytest.raises(SubscribeUnavailable) as raised:
        call("r1")
    error = raised.value
    assert reason in str(error)
    assert error.code is None and error.outcome_unknown
    assert isinstance(error, SubscribeError)  # one except clause catches every failure
    if path in ("/500", "/502", "/404"):
        assert error.http_status == int(path[1:])


def test_a_redirect_is_not_followed(fake: FakePayme) -> None:
    with pytest.raises(SubscribeUnavailable) as raised:
        client(fake.url("/redirect")).receipts_pay(RECEIPT_ID, TOKEN)
    assert raised.value.http_status == 307
    assert [s.path for s in fake.seen] == ["/redirect"]  # the key went nowhere else


def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(SubscribeUnavailable, match="connection failed") as raised:
        client(f"http://127.0.0.1:{port}/api").receipts_check("r1")
    assert raised.value.outcome_unknown


@pytest.fixture
def tls_fake(fake: FakePayme, tmp_path: Any) -> Iterator[tuple[FakePayme, str]]:
    """The fake over HTTPS with a certificate for 127.0.0.1 that no CA signed; its PEM path."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    host = "127.0.0.1"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pkcs8 = serialization.PrivateFormat.PKCS8
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert_path, key_path)
    fake.server.socket = served.wrap_socket(fake.server.socket, server_side=True)
    subscribe_api._tls.cache_clear()
    yield fake, str(cert_path)
    subscribe_api._tls.cache_clear()  # the context trusted this test's certificate


def test_the_tls_context_is_made_on_the_first_https_call_verifying_and_then_shared(
    tls_fake: tuple[FakePayme, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, cert = tls_fake
    made: list[object] = []
    create = subscribe_api.ssl.create_default_context
    monkeypatch.setattr(subscribe_api.ssl, "create_default_context", lambda: made.append(1) or create())
    url = fake.url().replace("http://", "https://")
    payme = client(url)
    assert made == []  # a cold start that builds a client loads no CA bundle
    with pytest.raises(SubscribeUnavailable, match="connection failed"):
        payme.receipts_check("r1")  # verified: a certificate no CA signed is refused
    assert made == [1] and fake.seen == []
    subscribe_api._tls().load_verify_locations(cert)
    assert payme.receipts_check("r1") == 4
    assert client(url).receipts_check("r2") == 4 and made == [1]  # one context for every client
    assert [s.body["params"]["id"] for s in fake.seen] == ["r1", "r2"]


# ---------------------------------------------------------------------------------------------- time-outs


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: a new connection waits for its SYN to be answered, forever."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # takes the one place in the queue
            yield port


def test_the_connect_time_out_bounds_a_connection_that_is_never_accepted(full_backlog: int) -> None:
    payme = client(f"http://127.0.0.1:{full_backlog}/api", connect_timeout=0.5, read_timeout=5)
    started = time.monotonic()
    with pytest.raises(SubscribeUnavailable, match="time-out"):
        payme.receipts_check("r1")
    assert 0.4 < time.monotonic() - started < 2.0


def test_the_read_time_out_bounds_a_server_that_never_answers(fake: FakePayme) -> None:
    payme = client(fake.url("/silent"), connect_timeout=2, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SubscribeUnavailable, match="time-out") as raised:
        payme.receipts_pay(RECEIPT_ID, TOKEN)
    assert 0.4 < time.monotonic() - started < 1.5
    assert raised.value.outcome_unknown


def test_the_whole_call_is_bounded_even_when_every_read_is_quick(fake: FakePayme) -> None:
    """Each byte arrives within the read time-out; the call still ends at connect + read time-outs."""
    payme = client(fake.url("/trickle"), connect_timeout=0.5, read_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(SubscribeUnavailable, match="time-out"):
        payme.receipts_check("r1")
    assert time.monotonic() - started < 2.5  # the trickle lasts 8 s


# ---------------------------------------------------------------------------------------------- secrets


def test_no_key_token_or_card_number_in_reprs() -> None:
    payme = client("https://checkout.test.paycom.uz/api")
    card = Card(number="860049******6478", expire="03/99", token=TOKEN, recurrent=True, verify=True)
    receipt = Receipt("r", 4, 1, 0, 0, 0, [], None, raw={"token": TOKEN})
    for text in (repr(payme), str(payme), repr(card), str(card), repr(receipt)):
        assert KEY not in text and TOKEN not in text
    assert "key=<hidden>" in repr(payme)


def test_no_secret_in_an_error_its_traceback_or_the_log_even_when_payme_echoes_them(
    fake: FakePayme,
) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(subscribe_api.__name__)
    keep, level = Keep(), logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.DEBUG)
    payme = client(fake.url("/echo"))
    calls: list[Callable[[], Any]] = [
        lambda: payme.cards_create(NUMBER, "0399"),
        lambda: payme.cards_check(TOKEN),
        lambda: payme.receipts_pay(RECEIPT_ID, TOKEN),
    ]
    texts = []
    try:
        for call in calls:
            with pytest.raises(SubscribeError) as raised:
                call()
            error = raised.value
            texts += [str(error), repr(error), json.dumps([error.message, error.data], ensure_ascii=False)]
            texts.append("".join(traceback.format_exception(error)))
            assert "<hidden>" in str(error)
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
    texts += [r.getMessage() + json.dumps(r.__dict__, default=str) for r in records]
    assert [(r.method, r.outcome) for r in records] == [  # type: ignore[attr-defined]
        ("cards.create", "-31400"),
        ("cards.check", "-31400"),
        ("receipts.pay", "-31400"),
    ]
    for text in texts:
        assert KEY not in text and TOKEN not in text and NUMBER not in text, text


def test_bad_arguments_are_refused_without_repeating_them() -> None:
    payme = client("https://checkout.test.paycom.uz/api")
    calls: list[Callable[[], Any]] = [
        lambda: payme.cards_create("8600 4954 7331 6478", "0399"),
        lambda: payme.cards_create(NUMBER, "03/99"),
        lambda: payme.receipts_create(0, {"apartment_id": "A1"}),
        lambda: payme.receipts_create(True, {"apartment_id": "A1"}),
        lambda: payme.receipts_create(100, {"apartment_id": 1}),  # type: ignore[dict-item]
        lambda: payme.receipts_get_all(51, 0, 1),
        lambda: payme.receipts_get_all(10, 2, 1),
        lambda: payme.receipts_send("r", "+998901234567"),
        lambda: payme.cards_verify(TOKEN, "six"),
        lambda: payme.receipts_pay("r", ""),
    ]
    for call in calls:
        with pytest.raises((ValueError, TypeError)) as raised:
            call()
        assert "4954" not in str(raised.value) and TOKEN not in str(raised.value)


# ---------------------------------------------------------------------------------------------- wiring


def test_the_built_client_reads_the_key_from_the_payme_secret_either_form(aws: None, fake: FakePayme) -> None:
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from tolov.settings import load_settings

    settings = load_settings(
        {
            "PAYME_SUBSCRIBE_URL": fake.url(),
            "PAYME_MERCHANT_ID": MERCHANT,
            "PAYME_KEY_SECRET_ARN": "PaymeKeySecret",
        }
    )
    payme = subscribe_api.build_subscribe_client(settings)
    assert payme.url == fake.url()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    payme.receipts_check("r1")  # the bare key local/local.env seeds the secret with
    boto3.client("secretsmanager").put_secret_value(
        SecretId="PaymeKeySecret",
        SecretString=json.dumps({"key": "rotated-key", "previous": "local-payme-key", "previous_until": 1}),
    )
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # as the five-minute cache would expire
    payme.receipts_check("r1")
    sent = [s.headers["X-Auth"] for s in fake.seen]
    assert sent == [f"{MERCHANT}:local-payme-key", f"{MERCHANT}:rotated-key"]


def test_the_subscribe_url_is_production_unless_configured() -> None:
    from tolov.settings import load_settings

    assert load_settings({}).payme.subscribe_url == subscribe_api.PRODUCTION_URL
    sandbox = load_settings({"PAYME_SUBSCRIBE_URL": subscribe_api.TEST_URL})
    assert sandbox.payme.subscribe_url == "https://checkout.test.paycom.uz/api"


@pytest.mark.parametrize("missing", ["PAYME_KEY_SECRET_ARN", "PAYME_MERCHANT_ID"])
def test_building_without_the_secret_or_the_cashbox_fails_loudly(missing: str) -> None:
    from tolov.settings import load_settings

    env = {"PAYME_MERCHANT_ID": MERCHANT, "PAYME_KEY_SECRET_ARN": "PaymeKeySecret"}
    del env[missing]
    with pytest.raises(RuntimeError, match=missing):
        subscribe_api.build_subscribe_client(load_settings(env))
