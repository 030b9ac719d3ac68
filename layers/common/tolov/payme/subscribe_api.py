"""Client for Payme's Subscribe API (we call Payme): card tokens (``cards.*``) and receipts (``receipts.*``).

JSON-RPC over HTTPS POST to one URL, ``PAYME_SUBSCRIBE_URL``: https://checkout.paycom.uz/api in
production, https://checkout.test.paycom.uz/api in the sandbox, the local simulator in the local stack.
Standard library only (``urllib``), so the layer stays small.

``X-Auth`` is the cashbox id alone for the front-end card methods (``cards.create``,
``cards.get_verify_code``, ``cards.verify``) and ``id:key`` for the rest. The key is asked of a callable on
every back-end call, so a rotated key (the Payme secret, cached five minutes) is used without a new client.

Errors:

* :class:`SubscribeError`: Payme answered with a JSON-RPC error. ``code`` is Payme's integer code,
  ``message`` what Payme sent (its ``{ru, uz, en}`` object, or a string), ``data`` its ``data``.
* :class:`SubscribeUnavailable`, a ``SubscribeError`` whose ``code`` is None: there is no JSON-RPC answer to
  read. A time-out, a refused or reset connection, any HTTP status but 2xx (a redirect is not followed: it
  would carry ``X-Auth`` elsewhere), a reply that is not JSON-RPC or lacks what the method returns. The
  outcome is unknown: after a ``receipts.pay`` look the receipt up (``receipts.check``) before anything else.
  Payme's own "system error" is ``SubscribeError(-32400)``; ``outcome_unknown`` is True for both.

Time-outs: ``connect_timeout`` bounds the TCP connect and the TLS handshake. ``read_timeout`` bounds every
socket read, as urllib's timeout does, and also the whole call: a server that trickles its reply a byte at
a time is cut off ``connect_timeout + read_timeout`` after the call began (a watchdog shuts the socket).
With an ``opener`` of your own only urllib's per-read time-out (``connect_timeout``) applies.

Amounts are integer tiyin and times integer milliseconds, as Payme sends them; a reply's numbers are parsed
exactly (``Decimal``, never float) and must be whole.

The key, card tokens and card numbers are never in a repr, an exception's text or a log line: ``Card.token``
and ``Receipt.raw`` are left out of reprs, errors name the method and the code, and whatever Payme's
``message`` or ``data`` might echo of the call's secrets is replaced by ``<hidden>``.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import itertools
import json
import logging
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from enum import IntEnum
from typing import Any, Final, NamedTuple

from tolov.frozen import Frozen
from tolov.payme.keys import KeyRing
from tolov.settings import Settings, get_secret

__all__ = [
    "CALL_LIMIT_S",
    "IN_FLIGHT_STATES",
    "PRODUCTION_URL",
    "SYSTEM_ERROR",
    "TEST_URL",
    "Card",
    "Receipt",
    "ReceiptState",
    "SubscribeClient",
    "SubscribeError",
    "SubscribeUnavailable",
    "VerifyCode",
    "build_opener",
    "build_subscribe_client",
]

PRODUCTION_URL: Final = "https://checkout.paycom.uz/api"
TEST_URL: Final = "https://checkout.test.paycom.uz/api"
SYSTEM_ERROR: Final = -32400
MAX_GET_ALL: Final = 50  # receipts.get_all answers at most this many per call
CONNECT_TIMEOUT_S: Final = 3.0
READ_TIMEOUT_S: Final = 8.0
# The longest one call can take with the default time-outs (the watchdog's bound); the client never
# repeats a call itself: what must be tried again is the caller's to decide (the charger: the queue).
CALL_LIMIT_S: Final = CONNECT_TIMEOUT_S + READ_TIMEOUT_S

_MAX_REPLY_BYTES: Final = 1 << 20
_HIDDEN: Final = "<hidden>"
_CARD_NUMBER_RE: Final = re.compile(r"[0-9]{12,19}")
_EXPIRE_RE: Final = re.compile(r"(0[1-9]|1[0-2])[0-9]{2}")  # MMYY, as cards.create takes it
_CODE_RE: Final = re.compile(r"[0-9]{1,10}")
_PHONE_RE: Final = re.compile(r"998[0-9]{9}")

log = logging.getLogger(__name__)


class ReceiptState(IntEnum):
    """Receipt states (reference §5.4). Only PAID is success; IN_FLIGHT_STATES are neither done nor failed."""

    CREATED = 0  # waiting for payment
    CHECKING = 1  # first checks; creating the transaction in the merchant's billing
    DEBITING = 2
    CLOSING = 3  # closing the transaction in the merchant's billing
    PAID = 4
    HELD = 5
    HOLDING = 6
    PAUSED = 20  # waiting for manual intervention
    CANCELLING = 21  # queued for cancellation
    CLOSE_QUEUED = 30  # queued for closing the transaction in the merchant's billing
    CANCELLED = 50


IN_FLIGHT_STATES: Final = frozenset({1, 2, 3, 6, 20, 21, 30})


# --------------------------------------------------------------------------- errors


class SubscribeError(Exception):
    """Payme answered with a JSON-RPC error: ``code``, ``message`` (Payme's ``{ru, uz, en}`` or a string),
    ``data``. ``method`` is the Subscribe method that was called."""

    code: int | None

    def __init__(
        self,
        code: int | None,
        message: dict[str, str] | str = "",
        data: Any = None,
        *,
        method: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.data = data
        self.method = method
        super().__init__(self._describe())

    @property
    def outcome_unknown(self) -> bool:
        """Nothing is known of what the call did (Payme's -32400, or no answer): check before repeating."""
        return self.code == SYSTEM_ERROR

    @property
    def text(self) -> str:
        """The message in English if Payme sent one, else Russian, else whatever it sent."""
        message = self.message
        if isinstance(message, dict):
            for language in ("en", "ru", "uz"):
                if isinstance(message.get(language), str):
                    return str(message[language])
            return ""
        return str(message)

    def _describe(self) -> str:
        return f"Payme {self.method or 'Subscribe API'} error {self.code}: {self.text}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, method={self.method!r}, message={self.text!r})"


class SubscribeUnavailable(SubscribeError):
    """No JSON-RPC answer (time-out, connection failure, HTTP status, unreadable reply): outcome unknown.

    ``code`` is None; ``http_status`` is the HTTP status when there was one.
    """

    def __init__(
        self,
        reason: str = "Payme did not answer",
        *,
        method: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.reason = reason
        self.http_status = http_status
        super().__init__(None, reason, None, method=method)

    @property
    def outcome_unknown(self) -> bool:
        return True

    def _describe(self) -> str:
        return f"Payme {self.method or 'Subscribe API'} unavailable: {self.reason}"


class _BadReply(Exception):
    """A reply that cannot be read; becomes SubscribeUnavailable naming the method."""


# --------------------------------------------------------------------------- results


class Card(Frozen):
    """A card as the card methods return it: ``number`` masked by Payme, ``expire`` "MM/YY" ("03/99")."""

    # Frozen, not a NamedTuple: the token pays with the card, so it stays out of the repr and the logs.
    _fields = ("number", "expire", "token", "recurrent", "verify", "type")
    __slots__ = _fields
    _compared = _fields
    _shown = ("number", "expire", "recurrent", "verify", "type")

    number: str
    expire: str
    token: str
    recurrent: bool
    verify: bool
    type: str | None

    def __init__(
        self, number: str, expire: str, token: str, recurrent: bool, verify: bool, type: str | None = None
    ) -> None:
        self._init(number=number, expire=expire, token=token, recurrent=recurrent, verify=verify, type=type)


class VerifyCode(NamedTuple):
    """``cards.get_verify_code``: the code went to the masked ``phone``; ``wait`` ms before another."""

    sent: bool
    phone: str
    wait: int


class Receipt(Frozen):
    """A receipt as Payme returns it. ``account`` is Payme's (a list of ``{name, title, value, main}``);
    ``card`` is ``{number (masked), expire}`` with expire "YYMM" ("9903"), or None before payment."""

    # Frozen, not a NamedTuple: raw is the whole reply, kept out of the repr and the logs.
    _fields = ("id", "state", "amount", "create_time", "pay_time", "cancel_time", "account", "card", "raw")
    __slots__ = _fields
    _compared = _fields
    _shown = ("id", "state", "amount", "create_time", "pay_time", "cancel_time", "account", "card")

    id: str
    state: int
    amount: int
    create_time: int
    pay_time: int
    cancel_time: int
    account: list[Any] | dict[str, Any]
    card: dict[str, Any] | None
    raw: dict[str, Any]

    def __init__(
        self,
        id: str,
        state: int,
        amount: int,
        create_time: int,
        pay_time: int,
        cancel_time: int,
        account: list[Any] | dict[str, Any],
        card: dict[str, Any] | None,
        raw: dict[str, Any],
    ) -> None:
        self._init(
            id=id,
            state=state,
            amount=amount,
            create_time=create_time,
            pay_time=pay_time,
            cancel_time=cancel_time,
            account=account,
            card=card,
            raw=raw,
        )

    @property
    def paid(self) -> bool:
        return self.state == ReceiptState.PAID

    @property
    def cancelled(self) -> bool:
        return self.state == ReceiptState.CANCELLED

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT_STATES


# --------------------------------------------------------------------------- transport


class _Watchdog:
    """Ends a call that outlives its deadline: shuts its socket, which wakes a blocked read at once.

    urllib's timeout bounds each socket read only; a reply trickled in a byte at a time would never end.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._done = False
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            fired = self.fired
        if fired:
            _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            sock = self._sock
        if sock is not None:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already
        # socket.socket's own shutdown, also for an SSLSocket: it leaves the TLS state to the reading thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Call(urllib.request.Request):
    """A request that carries its read time-out and watchdog to the connection urllib opens for it."""

    def __init__(
        self, url: str, data: bytes, headers: dict[str, str], read_timeout: float, watchdog: _Watchdog
    ) -> None:
        super().__init__(url, data=data, headers=headers, method="POST")
        self.read_timeout = read_timeout
        self.watchdog = watchdog


class _TimedHTTPConnection(http.client.HTTPConnection):
    """Connects within urllib's timeout (our connect time-out), then reads with the read time-out."""

    read_timeout: float | None = None
    watchdog: _Watchdog | None = None

    def connect(self) -> None:
        super().connect()
        _after_connect(self)


class _TimedHTTPSConnection(http.client.HTTPSConnection):
    read_timeout: float | None = None
    watchdog: _Watchdog | None = None

    def connect(self) -> None:
        super().connect()  # TCP and the TLS handshake, both within the connect time-out
        _after_connect(self)


def _after_connect(connection: _TimedHTTPConnection | _TimedHTTPSConnection) -> None:
    if connection.sock is None:
        return
    if connection.read_timeout is not None:
        connection.sock.settimeout(connection.read_timeout)
    if connection.watchdog is not None:
        connection.watchdog.attach(connection.sock)


def _arm(connection: _TimedHTTPConnection | _TimedHTTPSConnection, request: urllib.request.Request) -> None:
    if isinstance(request, _Call):
        connection.read_timeout = request.read_timeout
        connection.watchdog = request.watchdog


class _TimedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            made = _TimedHTTPConnection(host, **kwargs)
            _arm(made, req)
            return made

        return self.do_open(connection, req)


@functools.cache
def _tls() -> ssl.SSLContext:
    """Loading the CA bundle costs ~18 ms CPU: paid by the first HTTPS call, not by every cold start of
    the functions that build a client (the autopay charger at init, the billing API's autopay routes)."""
    return ssl.create_default_context()


class _TimedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self) -> None:
        # Not HTTPSHandler.__init__: it would make a default TLS context now (see _tls). Still a subclass,
        # so that build_opener adds no default HTTPS handler of its own.
        urllib.request.AbstractHTTPHandler.__init__(self)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPSConnection:
            made = _TimedHTTPSConnection(host, **kwargs)
            _arm(made, req)
            return made

        return self.do_open(connection, req, context=_tls())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: it would send X-Auth (the key) to another place."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        return None


def build_opener() -> urllib.request.OpenerDirector:
    """urllib's opener with this module's time-outs and no redirects; no proxy from the environment."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _TimedHTTPHandler(), _TimedHTTPSHandler(), _NoRedirect()
    )


# --------------------------------------------------------------------------- client


class SubscribeClient:
    """Calls the Subscribe API for one cashbox. Safe to share between threads: a call keeps its state to
    itself."""

    def __init__(
        self,
        url: str,
        merchant_id: str,
        key: Callable[[], str],
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise ValueError("url must be an absolute http(s) URL")
        if not isinstance(merchant_id, str) or not merchant_id or ":" in merchant_id:
            raise ValueError("merchant_id must be the cashbox id")
        if not callable(key):
            raise TypeError("key must be a callable returning the cashbox key")
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        self._url = url
        self._merchant_id = merchant_id
        self._key = key
        self._connect_timeout = float(connect_timeout)
        self._read_timeout = float(read_timeout)
        self._opener = opener if opener is not None else build_opener()
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self._url!r}, merchant_id={self._merchant_id!r}, key=<hidden>, "
            f"connect_timeout={self._connect_timeout}, read_timeout={self._read_timeout})"
        )

    __str__ = __repr__

    @property
    def url(self) -> str:
        return self._url

    # ---------------------------------------------------------------- cards (front end: X-Auth id)

    def cards_create(self, number: str, expire: str, *, save: bool = True) -> Card:
        """A token for the card; ``expire`` is "MMYY". ``save=False`` asks for a single-use token."""
        if not isinstance(number, str) or not _CARD_NUMBER_RE.fullmatch(number):
            raise ValueError("number must be 12-19 ASCII digits")
        if not isinstance(expire, str) or not _EXPIRE_RE.fullmatch(expire):
            raise ValueError('expire must be "MMYY"')
        if not isinstance(save, bool):
            raise TypeError("save must be a bool")
        params = {"card": {"number": number, "expire": expire}, "save": save}
        method = "cards.create"
        result = self._call(method, params, back_end=False, secrets=(number,))
        return _read(method, lambda: _card(_object(result, "card")))

    def cards_get_verify_code(self, token: str) -> VerifyCode:
        """Payme sends the card holder an SMS code (666666 in the sandbox)."""
        method = "cards.get_verify_code"
        result = self._call(method, {"token": _token(token)}, back_end=False, secrets=(token,))

        def verify_code() -> VerifyCode:
            reply = _as_object(result, "the result")
            return VerifyCode(sent=_bool(reply, "sent"), phone=_str(reply, "phone"), wait=_int(reply, "wait"))

        return _read(method, verify_code)

    def cards_verify(self, token: str, code: str) -> Card:
        """Confirms the card with the SMS code. Keep the returned card's token: it can differ."""
        if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
            raise ValueError("code must be the SMS code's digits")
        method = "cards.verify"
        params = {"token": _token(token), "code": code}
        result = self._call(method, params, back_end=False, secrets=(token, code))
        return _read(method, lambda: _card(_object(result, "card")))

    # ---------------------------------------------------------------- cards (back end: X-Auth id:key)

    def cards_check(self, token: str) -> Card:
        """The card behind a token: ``verify`` (confirmed by SMS) and ``recurrent`` (usable later)."""
        method = "cards.check"
        result = self._call(method, {"token": _token(token)}, back_end=True, secrets=(token,))
        return _read(method, lambda: _card(_object(result, "card")))

    def cards_remove(self, token: str) -> bool:
        method = "cards.remove"
        result = self._call(method, {"token": _token(token)}, back_end=True, secrets=(token,))
        return _read(method, lambda: _bool(result, "success"))

    # ---------------------------------------------------------------- receipts (back end)

    def receipts_create(
        self,
        amount: int,
        account: dict[str, str],
        *,
        description: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Receipt:
        """A receipt (state 0) for ``amount`` tiyin; ``detail`` is the fiscal object (reference §2.1.1)."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount must be a positive int of tiyin")
        if (
            not isinstance(account, dict)
            or not account
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in account.items())
        ):
            raise ValueError("account must be a non-empty dict of strings")
        params: dict[str, Any] = {"amount": amount, "account": account}
        if description is not None:
            if not isinstance(description, str):
                raise TypeError("description must be a str")
            params["description"] = description
        if detail is not None:
            if not isinstance(detail, dict):
                raise TypeError("detail must be a dict")
            params["detail"] = detail
        return self._receipt_call("receipts.create", params)

    def receipts_pay(self, receipt_id: str, token: str, *, payer: dict[str, Any] | None = None) -> Receipt:
        """Pays the receipt with the card. On SubscribeUnavailable or -32400 the outcome is unknown:
        ``receipts_check`` the same receipt, never pay another one blindly."""
        params: dict[str, Any] = {"id": _receipt_id(receipt_id), "token": _token(token)}
        if payer is not None:
            if not isinstance(payer, dict):
                raise TypeError("payer must be a dict")
            params["payer"] = payer
        return self._receipt_call("receipts.pay", params, secrets=(token,))

    def receipts_send(self, receipt_id: str, phone: str) -> bool:
        """Sends the receipt's payment link by SMS to ``phone`` (998XXXXXXXXX)."""
        if not isinstance(phone, str) or not _PHONE_RE.fullmatch(phone):
            raise ValueError("phone must be 12 digits starting with 998")
        method = "receipts.send"
        result = self._call(method, {"id": _receipt_id(receipt_id), "phone": phone}, back_end=True)
        return _read(method, lambda: _bool(result, "success"))

    def receipts_cancel(self, receipt_id: str) -> Receipt:
        """An unpaid receipt becomes 50; a paid one is queued for cancellation (21, then 50)."""
        return self._receipt_call("receipts.cancel", {"id": _receipt_id(receipt_id)})

    def receipts_check(self, receipt_id: str) -> int:
        """The receipt's state only."""
        method = "receipts.check"
        result = self._call(method, {"id": _receipt_id(receipt_id)}, back_end=True)
        return _read(method, lambda: _int(_as_object(result, "the result"), "state"))

    def receipts_get(self, receipt_id: str) -> Receipt:
        return self._receipt_call("receipts.get", {"id": _receipt_id(receipt_id)})

    def receipts_get_all(self, count: int, from_ms: int, to_ms: int, offset: int = 0) -> list[Receipt]:
        """Receipts created from ``from_ms`` to ``to_ms``, at most ``count`` (≤ 50), skipping ``offset``."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_GET_ALL:
            raise ValueError(f"count must be an int from 1 to {MAX_GET_ALL}")
        for name, value in (("from_ms", from_ms), ("to_ms", to_ms), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int")
        if from_ms > to_ms:
            raise ValueError("from_ms is after to_ms")
        method = "receipts.get_all"
        params = {"count": count, "from": from_ms, "to": to_ms, "offset": offset}
        result = self._call(method, params, back_end=True)

        def receipts() -> list[Receipt]:
            items = result.get("receipts") if isinstance(result, dict) else result
            if not isinstance(items, list):
                raise _BadReply("the result is not a list of receipts")
            return [_receipt(_as_object(item, "receipt")) for item in items]

        return _read(method, receipts)

    def receipts_set_fiscal_data(self, receipt_id: str, fiscal_data: dict[str, Any]) -> bool:
        """The receipt's fiscal data (``receipt_id`` and ``qr_code_url`` are required by Payme)."""
        if not isinstance(fiscal_data, dict) or not {"receipt_id", "qr_code_url"} <= fiscal_data.keys():
            raise ValueError("fiscal_data must be a dict with receipt_id and qr_code_url")
        method = "receipts.set_fiscal_data"
        params = {"id": _receipt_id(receipt_id), "fiscal_data": fiscal_data}
        result = self._call(method, params, back_end=True)
        return _read(method, lambda: _bool(result, "success"))

    # ---------------------------------------------------------------- transport

    def _receipt_call(self, method: str, params: dict[str, Any], secrets: Collection[str] = ()) -> Receipt:
        result = self._call(method, params, back_end=True, secrets=secrets)
        return _read(method, lambda: _receipt(_object(result, "receipt")))

    def _call(
        self, method: str, params: Mapping[str, Any], *, back_end: bool, secrets: Collection[str] = ()
    ) -> Any:
        """One JSON-RPC call; the result, or SubscribeError / SubscribeUnavailable."""
        x_auth = self._merchant_id
        hidden = [s for s in secrets if s]
        if back_end:
            key = self._key()
            if not isinstance(key, str) or not key:
                raise RuntimeError("the cashbox key is empty: nothing was sent to Payme")
            x_auth = f"{self._merchant_id}:{key}"
            hidden.append(key)
        body = json.dumps({"id": next(self._ids), "method": method, "params": params}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json", "X-Auth": x_auth}
        started = time.monotonic()
        outcome = "unavailable"
        try:
            result = _result(method, self._exchange(method, body, headers), hidden)
            outcome = "ok"
            return result
        except SubscribeUnavailable as error:
            outcome = f"unavailable: {error.reason}"
            raise
        except SubscribeError as error:
            outcome = str(error.code)
            raise
        finally:
            elapsed_ms = round((time.monotonic() - started) * 1000)
            log.debug(
                "payme subscribe call", extra={"method": method, "outcome": outcome, "elapsed_ms": elapsed_ms}
            )

    def _exchange(self, method: str, body: bytes, headers: dict[str, str]) -> bytes:
        with _Watchdog(self._connect_timeout + self._read_timeout) as watchdog:
            request = _Call(self._url, body, headers, self._read_timeout, watchdog)
            try:
                with self._opener.open(request, timeout=self._connect_timeout) as response:
                    raw: bytes = response.read(_MAX_REPLY_BYTES + 1)
            except urllib.error.HTTPError as error:  # any status but 2xx; redirects are not followed
                error.close()
                raise SubscribeUnavailable(
                    f"HTTP {error.code}", method=method, http_status=error.code
                ) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                reason = error.reason if isinstance(error, urllib.error.URLError) else error
                timed_out = watchdog.fired or isinstance(reason, TimeoutError | socket.timeout)
                why = "time-out" if timed_out else f"connection failed ({type(reason).__name__})"
                raise SubscribeUnavailable(why, method=method) from error
            if watchdog.fired:  # what was read before the socket was shut may be cut short
                raise SubscribeUnavailable("time-out", method=method)
        if len(raw) > _MAX_REPLY_BYTES:
            raise SubscribeUnavailable("the reply is too large", method=method)
        return raw


def _result(method: str, raw: bytes, hidden: Collection[str]) -> Any:
    try:
        reply = json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise SubscribeUnavailable("the reply is not JSON", method=method) from None
    if not isinstance(reply, dict):
        raise SubscribeUnavailable("the reply is not a JSON-RPC response", method=method)
    error = reply.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(code, bool) or not isinstance(code, int):
            raise SubscribeUnavailable("the reply's error has no integer code", method=method)
        message = _scrub(error.get("message", ""), hidden)
        if not isinstance(message, dict | str):
            message = str(message)
        raise SubscribeError(code, message, _scrub(error.get("data"), hidden), method=method)
    if "result" not in reply:
        raise SubscribeUnavailable("the reply has neither result nor error", method=method)
    return reply["result"]


def _scrub(value: Any, hidden: Collection[str]) -> Any:
    """The value with every secret of the call replaced, however deep in Payme's message or data."""
    if isinstance(value, str):
        for secret in hidden:
            value = value.replace(secret, _HIDDEN)
        return value
    if isinstance(value, dict):
        return {_scrub(k, hidden): _scrub(v, hidden) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, hidden) for v in value]
    return value


# --------------------------------------------------------------------------- reading replies


def _read[T](method: str, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except _BadReply as bad:
        raise SubscribeUnavailable(f"unreadable reply: {bad}", method=method) from None


def _as_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _BadReply(f"{name} is not an object")
    return value


def _object(result: Any, name: str) -> dict[str, Any]:
    return _as_object(_as_object(result, "the result").get(name), name)


def _int(obj: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = obj.get(name)
    if value is None and default is not None:
        return default
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadReply(f"{name} is not a whole number")
    return value


def _str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise _BadReply(f"{name} is not a string")
    return value


def _bool(obj: Any, name: str) -> bool:
    value = _as_object(obj, "the result").get(name)
    if not isinstance(value, bool):
        raise _BadReply(f"{name} is not true or false")
    return value


def _card(card: Mapping[str, Any]) -> Card:
    kind = card.get("type")
    return Card(
        number=_str(card, "number"),
        expire=_str(card, "expire"),
        token=_str(card, "token"),
        recurrent=_bool(card, "recurrent"),
        verify=_bool(card, "verify"),
        type=None if kind is None else str(kind),
    )


def _receipt(receipt: dict[str, Any]) -> Receipt:
    account = receipt.get("account")
    card = receipt.get("card")
    if not isinstance(account, list | dict):
        account = []
    return Receipt(
        id=_str(receipt, "_id"),
        state=_int(receipt, "state"),
        amount=_int(receipt, "amount"),
        create_time=_int(receipt, "create_time", 0),
        pay_time=_int(receipt, "pay_time", 0),
        cancel_time=_int(receipt, "cancel_time", 0),
        account=account,
        card=card if isinstance(card, dict) else None,
        raw=receipt,
    )


def _token(token: object) -> str:
    if not isinstance(token, str) or not token:
        raise ValueError("token must be a non-empty str")
    return token


def _receipt_id(receipt_id: object) -> str:
    if not isinstance(receipt_id, str) or not 0 < len(receipt_id) <= 64:
        raise ValueError("receipt_id must be Payme's receipt id")
    return receipt_id


# --------------------------------------------------------------------------- wiring


def build_subscribe_client(
    settings: Settings, *, opener: urllib.request.OpenerDirector | None = None
) -> SubscribeClient:
    """The cashbox's client: PAYME_SUBSCRIBE_URL, PAYME_MERCHANT_ID, the key from the Payme secret.

    The secret holds the bare key or ChangePassword's JSON (tolov.payme.keys); it is read on every
    back-end call through the five-minute cache of tolov.settings.get_secret, so a new key is picked up
    without a new container.
    """
    payme = settings.payme
    if not payme.key_secret_arn:
        raise RuntimeError("PAYME_KEY_SECRET_ARN is not set")
    if not payme.merchant_id:
        raise RuntimeError("PAYME_MERCHANT_ID is not set")
    secret_id = payme.key_secret_arn

    def key() -> str:
        return KeyRing.from_secret(get_secret(secret_id)).key

    return SubscribeClient(payme.subscribe_url, payme.merchant_id, key, opener=opener)
