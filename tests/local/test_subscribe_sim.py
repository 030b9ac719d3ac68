"""The local Subscribe API simulator, driven through the real client (tolov.payme.subscribe_api) over HTTP:
Payme's test cards, X-Auth, the receipt state machine, declines produced through /_sim, and the merchant
callbacks a cashbox with a Merchant API endpoint makes (against a recording stand-in for our /payme)."""

import base64
import http.client
import json
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from local.subscribe_sim import (
    DEFAULT_BALANCE,
    SimulatorServer,
    SubscribeSimulator,
    callbacks_enabled,
    running,
)
from tests.support import http_server
from tolov.payme.subscribe_api import Card, SubscribeClient, SubscribeError, SubscribeUnavailable

MERCHANT = "5e730e8e0b852a417aa49ceb"
KEY = "local-payme-key"
OK_CARD, OTHER_OK_CARD = "8600495473316478", "8600069195406311"
NO_SMS_CARD, EXPIRED_CARD, BLOCKED_CARD = "8600060921090842", "3333336415804657", "4444445987459073"
SYSTEM_ERROR_CARD, SLOW_CARD = "8600143417770323", "8600134301849596"
ACCOUNT = {"apartment_id": "A1"}


@dataclass
class FakeMerchant:
    """Our POST /payme as the simulator meets it: records each call, answers or refuses per method."""

    server: ThreadingHTTPServer
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    refuse: dict[str, dict[str, Any]] = field(default_factory=dict)  # method → the JSON-RPC error to answer

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/payme"

    def methods(self) -> list[str]:
        return [method for method, _, _ in self.calls]


class _MerchantHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        merchant: FakeMerchant = self.server.merchant  # type: ignore[attr-defined]
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        merchant.calls.append((request["method"], request["params"], self.headers.get("Authorization", "")))
        error = merchant.refuse.get(request["method"])
        reply = {"jsonrpc": "2.0", "id": request["id"]}
        reply.update({"error": error} if error else {"result": {"state": 1, "allow": True}})
        payload = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def merchant() -> Iterator[FakeMerchant]:
    with http_server(_MerchantHandler) as server:
        fake = FakeMerchant(server)
        server.merchant = fake  # type: ignore[attr-defined]
        yield fake


@dataclass
class Sim:
    simulator: SubscribeSimulator
    server: SimulatorServer
    client: SubscribeClient

    def control(self, what: str, body: dict[str, Any]) -> tuple[int, Any]:
        return post(self.server.base_url + f"/_sim/{what}", json.dumps(body).encode())

    def enrolled(self, number: str = OK_CARD, *, save: bool = True) -> Card:
        card = self.client.cards_create(number, "0399", save=save)
        self.client.cards_get_verify_code(card.token)
        return self.client.cards_verify(card.token, "666666")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _sim(merchant_url: str | None, clock: Clock, **kwargs: Any) -> Generator[Sim]:
    simulator = SubscribeSimulator(MERCHANT, KEY, merchant_url=merchant_url, clock=clock, **kwargs)
    with running(simulator) as server:
        yield Sim(simulator, server, SubscribeClient(server.url, MERCHANT, lambda: KEY, read_timeout=5))


@pytest.fixture
def sim(clock: Clock) -> Iterator[Sim]:
    """Callbacks off: the simulator alone."""
    yield from _sim(None, clock, callbacks=False)


@pytest.fixture
def cashbox(merchant: FakeMerchant, clock: Clock) -> Iterator[Sim]:
    """Callbacks on, to the recording merchant."""
    yield from _sim(merchant.url, clock, slow_pay_s=0.3)


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, Any]:
    status, _, payload = raw(url, body, headers, method)
    return status, json.loads(payload) if payload else None


def raw(
    url: str, body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, parts.path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def rpc(sim: Sim, method: str, params: dict[str, Any], x_auth: str | None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"} | ({"X-Auth": x_auth} if x_auth is not None else {})
    body = json.dumps({"id": 7, "method": method, "params": params}).encode()
    status, reply = post(sim.server.url, body, headers)
    assert status == 200
    assert isinstance(reply, dict)
    return reply


def code_of(call: Callable[[], Any]) -> int | None:
    with pytest.raises(SubscribeError) as raised:
        call()
    return raised.value.code


# ---------------------------------------------------------------------------------------------- cards


def test_a_card_is_created_verified_by_sms_and_checked(sim: Sim) -> None:
    created = sim.client.cards_create(OK_CARD, "0399")
    assert (created.number, created.expire, created.recurrent, created.verify) == (
        "860049******6478",
        "03/99",
        True,
        False,
    )
    code = sim.client.cards_get_verify_code(created.token)
    assert (code.sent, code.phone, code.wait) == (True, "99890*****31", 60_000)
    verified = sim.client.cards_verify(created.token, "666666")
    assert verified.verify and verified.recurrent
    assert verified.token != created.token  # keep the returned token: the first one is gone
    assert code_of(lambda: sim.client.cards_check(created.token)) == -31400
    assert sim.client.cards_check(verified.token) == verified


def test_both_ok_test_cards_are_recurrent_and_a_single_use_token_is_not(sim: Sim) -> None:
    assert sim.enrolled(OK_CARD).recurrent and sim.enrolled(OTHER_OK_CARD).recurrent
    assert not sim.enrolled(OK_CARD, save=False).recurrent


@pytest.mark.parametrize(
    ("number", "expire", "code", "english"),
    [
        (EXPIRED_CARD, "0399", -31301, "The card has expired"),
        (BLOCKED_CARD, "0399", -31301, "The card is blocked"),
        ("8600000000000000", "0399", -31300, "Invalid card number"),
        (OK_CARD, "0499", -31300, "Invalid card expiry date"),
    ],
)
def test_cards_that_cannot_be_created(sim: Sim, number: str, expire: str, code: int, english: str) -> None:
    with pytest.raises(SubscribeError) as raised:
        sim.client.cards_create(number, expire)
    assert raised.value.code == code
    assert raised.value.message["en"] == english  # type: ignore[index]
    assert set(raised.value.message) == {"ru", "uz", "en"}


def test_the_card_without_sms_notification_cannot_get_a_code(sim: Sim) -> None:
    card = sim.client.cards_create(NO_SMS_CARD, "0399")
    with pytest.raises(SubscribeError) as raised:
        sim.client.cards_get_verify_code(card.token)
    assert (raised.value.code, raised.value.text) == (-31301, "SMS notification is not connected")


def test_sms_code_rules(sim: Sim, clock: Clock) -> None:
    card = sim.client.cards_create(OK_CARD, "0399")
    assert code_of(lambda: sim.client.cards_verify(card.token, "666666")) == -31101  # none requested
    sim.client.cards_get_verify_code(card.token)
    assert code_of(lambda: sim.client.cards_verify(card.token, "111111")) == -31103
    assert code_of(lambda: sim.client.cards_verify(card.token, "222222")) == -31103
    assert code_of(lambda: sim.client.cards_verify(card.token, "333333")) == -31102
    assert code_of(lambda: sim.client.cards_verify(card.token, "666666")) == -31101  # that code is spent
    sim.client.cards_get_verify_code(card.token)
    clock.now += 60_001
    assert code_of(lambda: sim.client.cards_verify(card.token, "666666")) == -31101  # expired
    sim.client.cards_get_verify_code(card.token)
    assert sim.client.cards_verify(card.token, "666666").verify


def test_a_removed_card_is_not_found(sim: Sim) -> None:
    card = sim.enrolled()
    assert sim.client.cards_remove(card.token) is True
    assert code_of(lambda: sim.client.cards_check(card.token)) == -31400
    assert code_of(lambda: sim.client.cards_remove(card.token)) == -31400


# ---------------------------------------------------------------------------------------------- X-Auth


@pytest.mark.parametrize(
    ("method", "x_auth", "allowed"),
    [
        ("cards.create", MERCHANT, True),
        ("cards.create", f"{MERCHANT}:{KEY}", True),
        ("cards.create", "000000000000000000000000", False),
        ("cards.create", None, False),
        ("cards.check", MERCHANT, True),
        ("cards.check", f"{MERCHANT}:{KEY}", True),
        ("cards.check", f"{MERCHANT}:wrong", False),
        ("cards.remove", MERCHANT, False),
        ("receipts.create", MERCHANT, False),
        ("receipts.create", f"{MERCHANT}:wrong", False),
        ("receipts.create", f"{MERCHANT}:{KEY}", True),
        ("receipts.get_all", MERCHANT, False),
    ],
)
def test_x_auth_is_checked_as_payme_does(sim: Sim, method: str, x_auth: str | None, allowed: bool) -> None:
    token = sim.enrolled().token
    table: dict[str, dict[str, Any]] = {
        "cards.create": {"card": {"number": OK_CARD, "expire": "0399"}},
        "cards.check": {"token": token},
        "cards.remove": {"token": token},
        "receipts.create": {"amount": 100_000, "account": ACCOUNT},
        "receipts.get_all": {"count": 1, "from": 0, "to": 1},
    }
    params = table[method]
    reply = rpc(sim, method, params, x_auth)
    if allowed:
        assert "result" in reply, reply
    else:
        assert reply["error"]["code"] == -32504, reply


def test_protocol_errors(sim: Sim) -> None:
    auth = f"{MERCHANT}:{KEY}"
    assert post(sim.server.url, b"{not json", {"X-Auth": auth})[1]["error"]["code"] == -32700
    assert post(sim.server.url, b"[]", {"X-Auth": auth})[1]["error"]["code"] == -32600
    unknown = rpc(sim, "receipts.refund", {}, auth)["error"]
    assert (unknown["code"], unknown["data"]) == (-32601, "receipts.refund")
    assert rpc(sim, "receipts.get", {}, auth)["error"] == {
        "code": -32602,
        "message": {"ru": "Неверные параметры", "uz": "Noto'g'ri parametrlar", "en": "Invalid params"},
        "data": "id",
    }
    status, get = post(sim.server.url, b"", method="GET")
    assert (status, get["error"]["code"]) == (200, -32300)


def test_a_failure_of_the_simulator_itself_is_a_system_error(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(params: dict[str, Any]) -> Any:
        raise KeyError("a bug")

    monkeypatch.setitem(sim.simulator._methods, "receipts.check", broken)
    with pytest.raises(SubscribeError) as raised:
        sim.client.receipts_check("r1")
    assert raised.value.code == -32400 and raised.value.outcome_unknown


def test_the_browser_preflight_for_the_front_end_methods(sim: Sim) -> None:
    status, headers, body = raw(
        sim.server.url,
        method="OPTIONS",
        headers={
            "Origin": "http://127.0.0.1:8080",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-auth, content-type",
        },
    )
    assert status == 204 and body == b""
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-auth", "content-type"} <= allowed
    create = {"id": 1, "method": "cards.create", "params": {"card": {"number": OK_CARD, "expire": "0399"}}}
    status, headers, _ = raw(sim.server.url, json.dumps(create).encode(), {"X-Auth": MERCHANT, "Origin": "x"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"


def test_a_browser_can_read_the_apis_refusals_too(sim: Sim) -> None:
    status, headers, _ = raw(sim.server.url, b"x" * (70 * 1024), {"Origin": "x", "X-Auth": MERCHANT})
    assert status == 413 and headers["Access-Control-Allow-Origin"] == "*"
    wrong = {"id": 1, "method": "cards.create", "params": {"card": {"number": "1", "expire": "0399"}}}
    sent = {"X-Auth": MERCHANT, "Origin": "x"}
    status, headers, body = raw(sim.server.url, json.dumps(wrong).encode(), sent)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*" and b'"error"' in body


# ---------------------------------------------------------------------------------------------- receipts


def test_a_receipt_is_paid_once(sim: Sim) -> None:
    card = sim.enrolled()
    created = sim.client.receipts_create(250_000, ACCOUNT, description="Autopay 2025-03")
    assert (created.state, created.amount, created.pay_time, created.card) == (0, 250_000, 0, None)
    assert created.account == [{"name": "apartment_id", "title": "apartment_id", "value": "A1", "main": True}]
    paid = sim.client.receipts_pay(created.id, card.token)
    assert paid.paid and paid.pay_time > 0
    assert paid.card == {"number": "860049******6478", "expire": "9903"}  # YYMM on receipts
    assert sim.client.receipts_check(created.id) == 4
    with pytest.raises(SubscribeError) as again:
        sim.client.receipts_pay(created.id, card.token)
    assert (again.value.code, again.value.data) == (-31008, {"state": 4})
    assert sim.control("balance", {"number": OK_CARD, "balance": 0})[0] == 200
    assert sim.simulator._cards[OK_CARD].balance == 0  # the control endpoint set it


def test_the_balance_is_debited_and_refunded_by_a_cancel(sim: Sim) -> None:
    card = sim.enrolled()
    receipt = sim.client.receipts_create(250_000, ACCOUNT)
    sim.client.receipts_pay(receipt.id, card.token)
    assert sim.simulator._cards[OK_CARD].balance == DEFAULT_BALANCE - 250_000
    cancelling = sim.client.receipts_cancel(receipt.id)
    assert cancelling.state == 21  # a paid receipt is queued for cancellation first
    assert sim.client.receipts_check(receipt.id) == 50
    assert sim.simulator._cards[OK_CARD].balance == DEFAULT_BALANCE
    assert sim.client.receipts_cancel(receipt.id).state == 50  # a repeat changes nothing
    unpaid = sim.client.receipts_create(100_000, ACCOUNT)
    assert sim.client.receipts_cancel(unpaid.id).state == 50
    assert code_of(lambda: sim.client.receipts_pay(unpaid.id, card.token)) == -31008


def test_insufficient_funds_then_cured(sim: Sim) -> None:
    card = sim.enrolled()
    assert sim.control("balance", {"number": OK_CARD, "balance": 99_999}) == (
        200,
        {"number": OK_CARD, "balance": 99_999},
    )
    receipt = sim.client.receipts_create(100_000, ACCOUNT)
    with pytest.raises(SubscribeError) as raised:
        sim.client.receipts_pay(receipt.id, card.token)
    assert (raised.value.code, raised.value.text) == (-31630, "Insufficient funds on the card")
    assert sim.client.receipts_check(receipt.id) == 50
    assert sim.client.cards_check(card.token).verify  # the card itself is fine: a funds problem
    sim.control("balance", {"number": OK_CARD, "balance": 100_000})
    again = sim.client.receipts_create(100_000, ACCOUNT)
    assert sim.client.receipts_pay(again.id, card.token).paid


@pytest.mark.parametrize(
    ("status", "pay_code", "check_code", "english"),
    [
        ("expired", -31630, -31301, "The card has expired"),
        ("blocked", -31630, -31301, "The card is blocked"),
        ("removed", -31400, -31400, "Card not found"),
    ],
)
def test_a_saved_card_that_goes_bad_declines_at_charge_time(
    sim: Sim, status: str, pay_code: int, check_code: int, english: str
) -> None:
    card = sim.enrolled()
    assert sim.control("card", {"number": OK_CARD, "status": status})[0] == 200
    receipt = sim.client.receipts_create(100_000, ACCOUNT)
    with pytest.raises(SubscribeError) as raised:
        sim.client.receipts_pay(receipt.id, card.token)
    assert (raised.value.code, raised.value.text) == (pay_code, english)
    assert sim.client.receipts_check(receipt.id) == 0  # refused before anything began
    assert code_of(lambda: sim.client.cards_check(card.token)) == check_code
    if status != "removed":
        sim.control("card", {"number": OK_CARD, "status": "ok"})
        assert sim.client.receipts_pay(receipt.id, card.token).paid


def test_a_card_made_not_recurrent(sim: Sim) -> None:
    card = sim.enrolled()
    _, changed = sim.control("card", {"number": OK_CARD, "status": "ok", "recurrent": False})
    assert changed["recurrent"] is False
    assert sim.client.cards_check(card.token).recurrent is False


def test_bad_control_requests_are_400(sim: Sim) -> None:
    assert sim.control("balance", {"number": OK_CARD, "balance": -1})[0] == 400
    assert sim.control("balance", {"number": OK_CARD, "balance": 1.5})[0] == 400
    assert sim.control("card", {"number": OK_CARD, "status": "stolen"})[0] == 400
    assert sim.control("nothing", {})[0] == 404


def test_the_unknown_system_error_card(sim: Sim) -> None:
    card = sim.enrolled(SYSTEM_ERROR_CARD)
    receipt = sim.client.receipts_create(100_000, ACCOUNT)
    with pytest.raises(SubscribeError) as raised:
        sim.client.receipts_pay(receipt.id, card.token)
    assert raised.value.code == -32400 and raised.value.outcome_unknown
    assert sim.client.receipts_check(receipt.id) == 0


def test_the_slow_card_outlasts_the_client_and_then_fails(clock: Clock) -> None:
    for sim in _sim(None, clock, callbacks=False, slow_pay_s=1.5):
        card = sim.enrolled(SLOW_CARD)
        receipt = sim.client.receipts_create(100_000, ACCOUNT)
        impatient = SubscribeClient(sim.server.url, MERCHANT, lambda: KEY, read_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(SubscribeUnavailable, match="time-out"):
            impatient.receipts_pay(receipt.id, card.token)
        assert time.monotonic() - started < 1.0
        assert sim.client.receipts_check(receipt.id) == 2  # still debiting: in flight
        time.sleep(1.5)
        assert sim.client.receipts_check(receipt.id) == 50
        assert sim.client.receipts_get(receipt.id).raw["error"]["code"] == -31002


def test_an_unverified_card_cannot_pay(sim: Sim) -> None:
    card = sim.client.cards_create(OK_CARD, "0399")
    receipt = sim.client.receipts_create(100_000, ACCOUNT)
    assert code_of(lambda: sim.client.receipts_pay(receipt.id, card.token)) == -31400


def test_a_single_use_token_is_gone_after_paying(sim: Sim) -> None:
    card = sim.enrolled(save=False)
    sim.client.receipts_pay(sim.client.receipts_create(100_000, ACCOUNT).id, card.token)
    assert code_of(lambda: sim.client.cards_check(card.token)) == -31400


def test_receipt_validation(sim: Sim) -> None:
    auth = f"{MERCHANT}:{KEY}"
    assert rpc(sim, "receipts.create", {"amount": 99, "account": ACCOUNT}, auth)["error"]["code"] == -31611
    too_much = {"amount": 5_000_000_001, "account": ACCOUNT}
    assert rpc(sim, "receipts.create", too_much, auth)["error"]["code"] == -31612
    fraction = rpc(sim, "receipts.create", {"amount": 1000.5, "account": ACCOUNT}, auth)["error"]
    assert (fraction["code"], fraction["data"]) == (-31610, "amount")
    assert rpc(sim, "receipts.create", {"amount": 1000, "account": {}}, auth)["error"]["code"] == -31610
    assert code_of(lambda: sim.client.receipts_get("000000000000000000000000")) == -31602


def test_send_fiscal_data_and_get_all(sim: Sim, clock: Clock) -> None:
    ids = []
    for _ in range(5):
        ids.append(sim.client.receipts_create(100_000, ACCOUNT).id)
        clock.now += 1000
    assert sim.client.receipts_send(ids[0], "998901234567") is True
    fiscal = {"receipt_id": 121, "qr_code_url": "https://ofd.soliq.uz/check?t=EP1&r=121"}
    assert sim.client.receipts_set_fiscal_data(ids[0], fiscal) is True
    first = 1_700_000_000_000
    assert [r.id for r in sim.client.receipts_get_all(2, first, first + 10_000)] == ids[:2]
    assert [r.id for r in sim.client.receipts_get_all(50, first + 1000, first + 3000, offset=1)] == ids[2:4]
    assert code_of(lambda: sim.client.receipts_send("nope", "998901234567")) == -31602


def test_concurrent_payments_of_one_receipt_pay_it_once(sim: Sim) -> None:
    card = sim.enrolled()
    receipt = sim.client.receipts_create(100_000, ACCOUNT)

    def pay(_: int) -> int | None:
        try:
            return sim.client.receipts_pay(receipt.id, card.token).state
        except SubscribeError as error:
            return error.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(pay, range(8)), key=str)
    assert outcomes.count(4) == 1 and outcomes.count(-31008) == 7
    assert sim.simulator._cards[OK_CARD].balance == DEFAULT_BALANCE - 100_000


def test_latency_is_injected_on_every_api_call(sim: Sim) -> None:
    assert sim.control("latency", {"ms": 200}) == (200, {"ms": 200})
    started = time.monotonic()
    sim.client.receipts_create(100_000, ACCOUNT)
    assert time.monotonic() - started >= 0.2
    sim.control("latency", {"ms": 0})


def test_memory_is_bounded(clock: Clock) -> None:
    sims = _sim(None, clock, callbacks=False, max_receipts=3, max_tokens=2)
    sim = next(sims)
    receipts = [sim.client.receipts_create(100_000, ACCOUNT).id for _ in range(5)]
    assert code_of(lambda: sim.client.receipts_get(receipts[0])) == -31602  # the oldest are forgotten
    assert sim.client.receipts_get(receipts[-1]).id == receipts[-1]
    tokens = [sim.client.cards_create(OK_CARD, "0399").token for _ in range(3)]
    assert code_of(lambda: sim.client.cards_get_verify_code(tokens[0])) == -31400
    assert len(sim.simulator._tokens) == 2 and len(sim.simulator._receipts) == 3
    sims.close()


def test_the_callbacks_switch_reads_the_environment_first() -> None:
    assert callbacks_enabled({}, {}) is True
    assert callbacks_enabled({}, {"PAYME_SIM_MERCHANT_CALLBACKS": "0"}) is False
    assert callbacks_enabled({"PAYME_SIM_MERCHANT_CALLBACKS": "1"}, {"PAYME_SIM_MERCHANT_CALLBACKS": "0"})
    assert callbacks_enabled({"PAYME_SIM_MERCHANT_CALLBACKS": "off"}, {}) is False


# ---------------------------------------------------------------------------------------------- callbacks


def test_a_payment_calls_our_merchant_api_first_with_the_receipt_id(
    cashbox: Sim, merchant: FakeMerchant
) -> None:
    card = cashbox.enrolled()
    receipt = cashbox.client.receipts_create(250_000, ACCOUNT)
    assert merchant.calls == []  # creating a receipt calls nobody
    assert cashbox.client.receipts_pay(receipt.id, card.token).paid
    assert merchant.methods() == ["CheckPerformTransaction", "CreateTransaction", "PerformTransaction"]
    (_, check, auth), (_, create, _), (_, perform, _) = merchant.calls
    assert auth == "Basic " + base64.b64encode(f"Paycom:{KEY}".encode()).decode()
    assert check == {"amount": 250_000, "account": ACCOUNT}
    assert create["id"] == receipt.id and create["amount"] == 250_000 and create["account"] == ACCOUNT
    assert isinstance(create["time"], int) and create["time"] > 0
    assert perform == {"id": receipt.id}


@pytest.mark.parametrize("refused", ["CheckPerformTransaction", "CreateTransaction"])
def test_our_endpoint_refusing_fails_the_receipt_with_31623(
    cashbox: Sim, merchant: FakeMerchant, refused: str
) -> None:
    card = cashbox.enrolled()
    merchant.refuse[refused] = {"code": -31050, "message": {"en": "no apartment"}, "data": "apartment_id"}
    receipt = cashbox.client.receipts_create(250_000, ACCOUNT)
    with pytest.raises(SubscribeError) as raised:
        cashbox.client.receipts_pay(receipt.id, card.token)
    assert (raised.value.code, raised.value.data) == (-31623, {"method": refused, "code": -31050})
    assert cashbox.client.receipts_check(receipt.id) == 50
    assert "PerformTransaction" not in merchant.methods()
    assert cashbox.simulator._cards[OK_CARD].balance == DEFAULT_BALANCE  # nothing was debited


def test_our_endpoint_down_is_31622(cashbox: Sim, merchant: FakeMerchant) -> None:
    card = cashbox.enrolled()
    merchant.refuse["CheckPerformTransaction"] = {"code": -32400, "message": {"en": "system error"}}
    receipt = cashbox.client.receipts_create(250_000, ACCOUNT)
    assert code_of(lambda: cashbox.client.receipts_pay(receipt.id, card.token)) == -31622


def test_a_failed_debit_cancels_our_transaction_with_reason_2(cashbox: Sim, merchant: FakeMerchant) -> None:
    card = cashbox.enrolled()
    cashbox.control("balance", {"number": OK_CARD, "balance": 0})
    receipt = cashbox.client.receipts_create(250_000, ACCOUNT)
    assert code_of(lambda: cashbox.client.receipts_pay(receipt.id, card.token)) == -31630
    assert merchant.methods() == ["CheckPerformTransaction", "CreateTransaction", "CancelTransaction"]
    assert merchant.calls[-1][1] == {"id": receipt.id, "reason": 2}


def test_the_slow_card_cancels_our_transaction_too(cashbox: Sim, merchant: FakeMerchant) -> None:
    card = cashbox.enrolled(SLOW_CARD)
    receipt = cashbox.client.receipts_create(250_000, ACCOUNT)
    assert code_of(lambda: cashbox.client.receipts_pay(receipt.id, card.token)) == -31002
    assert merchant.calls[-1][:2] == ("CancelTransaction", {"id": receipt.id, "reason": 2})


def test_a_perform_our_endpoint_missed_is_retried_from_state_30(cashbox: Sim, merchant: FakeMerchant) -> None:
    card = cashbox.enrolled()
    merchant.refuse["PerformTransaction"] = {"code": -32400, "message": {"en": "system error"}}
    receipt = cashbox.client.receipts_create(250_000, ACCOUNT)
    assert cashbox.client.receipts_pay(receipt.id, card.token).state == 30  # debited, not yet closed
    assert cashbox.client.receipts_check(receipt.id) == 30
    del merchant.refuse["PerformTransaction"]
    assert cashbox.client.receipts_check(receipt.id) == 4
    assert merchant.methods().count("PerformTransaction") == 3


def test_a_refund_of_a_paid_receipt_is_cancel_reason_5(cashbox: Sim, merchant: FakeMerchant) -> None:
    card = cashbox.enrolled()
    receipt = cashbox.client.receipts_create(250_000, ACCOUNT)
    cashbox.client.receipts_pay(receipt.id, card.token)
    merchant.refuse["CancelTransaction"] = {"code": -31007, "message": {"en": "cannot cancel"}}
    assert cashbox.client.receipts_cancel(receipt.id).state == 21
    assert cashbox.client.receipts_check(receipt.id) == 21  # our endpoint refused: it stays queued
    del merchant.refuse["CancelTransaction"]
    assert cashbox.client.receipts_check(receipt.id) == 50
    assert merchant.calls[-1][:2] == ("CancelTransaction", {"id": receipt.id, "reason": 5})


def test_callbacks_can_be_switched_off_and_on(cashbox: Sim, merchant: FakeMerchant) -> None:
    card = cashbox.enrolled()
    assert cashbox.control("callbacks", {"enabled": False}) == (200, {"enabled": False})
    cashbox.client.receipts_pay(cashbox.client.receipts_create(100_000, ACCOUNT).id, card.token)
    assert merchant.calls == []
    cashbox.control("callbacks", {"enabled": True})
    cashbox.client.receipts_pay(cashbox.client.receipts_create(100_000, ACCOUNT).id, card.token)
    assert merchant.methods() == ["CheckPerformTransaction", "CreateTransaction", "PerformTransaction"]


# ---------------------------------------------------------------------------------------------- in the stack


def test_the_stack_serves_the_simulator_where_the_config_points_on_this_machine() -> None:
    from local.stack import start_subscribe_simulator

    config = {"PAYME_MERCHANT_ID": MERCHANT, "PAYME_KEY": KEY}
    for elsewhere in ("https://checkout.test.paycom.uz/api", "http://10.0.0.5:3001/api", ""):
        assert start_subscribe_simulator({**config, "PAYME_SUBSCRIBE_URL": elsewhere}, 0) is None
    served = start_subscribe_simulator({**config, "PAYME_SUBSCRIBE_URL": "http://127.0.0.1:3001/api"}, 0)
    assert served is not None
    try:
        assert served.url.startswith("http://127.0.0.1:") and served.url.endswith("/api")
        assert not served.url.startswith("http://127.0.0.1:3001/")  # port 0: a free one, as tests ask
        assert SubscribeClient(served.url, MERCHANT, lambda: KEY).cards_create(OK_CARD, "0399").token
    finally:
        served.stop()
