"""Client for the Click Merchant API (merchant -> Click), ``https://api.click.uz/v2/merchant``.

Standard library only (``urllib.request``) so the Lambda layer stays small.

Money arguments are integer tiyin. Click's payment amounts are so'm with two decimals; they are
converted exactly with :func:`tolov.money.tiyin_to_sum_str` and written into the JSON text
verbatim, so no binary float ever touches an amount. Fiscal (OFD) amounts are tiyin on the
wire too and are sent as JSON integers.

Errors (all subclasses of :class:`ClickError`):

* :class:`ClickMerchantError`: Click answered with ``error_code != 0``.
* :class:`ClickHttpError`: HTTP status outside 2xx (401 = bad or stale ``Auth``). Redirects are
  not followed.
* :class:`ClickUnavailable`: timeout, refused or reset connection, DNS failure. For calls that
  move money (card-token payment, reversals) the outcome is then unknown: look the payment up
  before retrying.
* :class:`ClickBadResponse`: a 2xx reply that is not the expected JSON.

The secret key is never part of a repr, an exception message or a request other than through
the SHA1 digest in the ``Auth`` header.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, NoReturn

from tolov.money import tiyin_to_sum_str

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "CardTokenRequest",
    "CardTokenVerification",
    "ClickBadResponse",
    "ClickError",
    "ClickHttpError",
    "ClickMerchantClient",
    "ClickMerchantError",
    "ClickUnavailable",
    "FiscalItem",
    "Invoice",
    "InvoiceStatus",
    "PaymentStatus",
    "Reversal",
]

DEFAULT_BASE_URL: Final = "https://api.click.uz/v2/merchant"
DEFAULT_TIMEOUT: Final = 10.0
"""Seconds; applies to the connect and to each blocking read (urllib semantics)."""

PAYMENT_STATUS_CREATED: Final = 0
PAYMENT_STATUS_PROCESSING: Final = 1
PAYMENT_STATUS_SUCCESSFUL: Final = 2

_MAX_REPLY_BYTES: Final = 1 << 20
_NOTE_LIMIT: Final = 300
_PHONE_RE: Final = re.compile(r"998[0-9]{9}")
_CARD_NUMBER_RE: Final = re.compile(r"[0-9]{12,19}")
_EXPIRE_RE: Final = re.compile(r"(0[1-9]|1[0-2])[0-9]{2}")
_INT_RE: Final = re.compile(r"-?[0-9]+")


# --------------------------------------------------------------------------- errors


class ClickError(Exception):
    """Base class of every error raised by the Click Merchant API client."""


class ClickMerchantError(ClickError):
    """Click processed the request and refused it (``error_code != 0``)."""

    def __init__(self, error_code: int, error_note: str) -> None:
        self.error_code = error_code
        self.error_note = error_note
        super().__init__(f"Click error_code={error_code}: {error_note}")


class ClickHttpError(ClickError):
    """Click answered with an HTTP status outside 2xx (a redirect is also reported here)."""

    def __init__(self, status: int, error_code: int | None = None, error_note: str | None = None) -> None:
        self.status = status
        self.error_code = error_code
        self.error_note = error_note
        detail = ""
        if error_code is not None:
            detail = f" (error_code={error_code}: {error_note or ''})"
        super().__init__(f"Click Merchant API HTTP {status}{detail}")


class ClickUnavailable(ClickError):
    """Click could not be reached or did not answer in time; the outcome of the call is unknown."""


class ClickBadResponse(ClickError):
    """Click answered 2xx but the body is not the JSON object this client expects."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class PaymentStatus:
    """State of one Click payment (``payment_status``: <0 declined/error, 0 created, 1 processing, 2 paid)."""

    payment_id: int
    payment_status: int
    error_note: str = ""
    merchant_trans_id: str | None = None

    @property
    def successful(self) -> bool:
        return self.payment_status == PAYMENT_STATUS_SUCCESSFUL

    @property
    def declined(self) -> bool:
        """Click answered ``error_code=0`` but the payment itself failed (details in ``error_note``)."""
        return self.payment_status < 0

    @property
    def pending(self) -> bool:
        return self.payment_status in (PAYMENT_STATUS_CREATED, PAYMENT_STATUS_PROCESSING)


@dataclass(frozen=True, slots=True)
class Reversal:
    """A full or partial reversal Click accepted. ``amount_tiyin`` is None for a full reversal."""

    payment_id: int
    amount_tiyin: int | None = None
    error_note: str = ""


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_id: int
    error_note: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceStatus:
    """Raw invoice status. Click documents only ``-99`` ("Deleted"); the full list is undocumented."""

    invoice_id: int
    invoice_status: int
    invoice_status_note: str = ""


@dataclass(frozen=True, slots=True)
class CardTokenRequest:
    """A card token awaiting SMS verification; the code went to the masked ``phone_number``."""

    card_token: str
    phone_number: str
    temporary: bool


@dataclass(frozen=True, slots=True)
class CardTokenVerification:
    card_token: str
    card_number: str
    """Masked by Click, e.g. ``8600 55** **** 3244``."""


@dataclass(frozen=True, slots=True)
class FiscalItem:
    """One receipt line for ``submit_items``. Money fields are integer tiyin, as Click expects."""

    name: str
    """Product/service name with the unit of measure at the end (max 63 chars)."""
    spic: str
    """IKPU/MXIK code (max 17 chars)."""
    package_code: str
    price: int
    """Line total = quantity x unit price, before discounts; tiyin."""
    quantity: int
    """Sent as Click's ``Amount`` field."""
    vat: int
    """VAT amount; tiyin."""
    vat_percent: int
    commission_tin: str | None = None
    commission_pinfl: str | None = None
    good_price: int | None = None
    barcode: str | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)
    units: int | None = None
    discount: int | None = None
    other: int | None = None

    def __post_init__(self) -> None:
        _require_text(self.name, "name", max_len=63)
        _require_text(self.spic, "spic", max_len=17)
        _require_text(self.package_code, "package_code", max_len=20)
        for name in ("price", "quantity", "vat", "vat_percent"):
            _require_int(getattr(self, name), name, minimum=0)
        for name in ("good_price", "units", "discount", "other"):
            value = getattr(self, name)
            if value is not None:
                _require_int(value, name, minimum=0)
        if self.barcode is not None:
            _require_text(self.barcode, "barcode", max_len=13)
        if len(self.labels) > 300:
            raise ValueError("labels: at most 300 marking codes")
        for label in self.labels:
            _require_text(label, "labels[]", max_len=21)
        if self.commission_tin is None and self.commission_pinfl is None:
            raise ValueError("commission_tin or commission_pinfl is required")
        if self.commission_tin is not None:
            _require_text(self.commission_tin, "commission_tin", max_len=9)
        if self.commission_pinfl is not None:
            _require_text(self.commission_pinfl, "commission_pinfl", max_len=14)

    def to_click(self) -> dict[str, Any]:
        """The item in Click's field names."""
        commission: dict[str, str] = {}
        if self.commission_tin is not None:
            commission["TIN"] = self.commission_tin
        if self.commission_pinfl is not None:
            commission["PINFL"] = self.commission_pinfl
        item: dict[str, Any] = {
            "Name": self.name,
            "SPIC": self.spic,
            "PackageCode": self.package_code,
            "Price": self.price,
            "Amount": self.quantity,
            "VAT": self.vat,
            "VATPercent": self.vat_percent,
            "CommissionInfo": commission,
        }
        optional: dict[str, Any] = {
            "GoodPrice": self.good_price,
            "Barcode": self.barcode,
            "Units": self.units,
            "Discount": self.discount,
            "Other": self.other,
        }
        item.update({key: value for key, value in optional.items() if value is not None})
        if self.labels:
            item["Labels"] = list(self.labels)
        return item


# --------------------------------------------------------------------------- internals


class _Secret:
    """Holds the secret key so that no repr, traceback-locals dump or vars() shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class _SumAmount:
    """A so'm amount that is written into the JSON text as a number, digit for digit."""

    text: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Do not follow redirects: they would re-send the Auth header to another place."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> None:
        return None


def _require_int(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}")
    return value


def _require_text(value: object, name: str, *, max_len: int | None = None) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    if max_len is not None and len(value) > max_len:
        raise ValueError(f"{name} must be at most {max_len} characters")
    return value


def _segment(value: str | int) -> str:
    return urllib.parse.quote(str(value), safe="")


def _encode_json(body: Mapping[str, object]) -> bytes:
    """Serialise a flat object; :class:`_SumAmount` values go in as exact JSON numbers."""
    parts = []
    for key, value in body.items():
        encoded = value.text if isinstance(value, _SumAmount) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{json.dumps(key)}: {encoded}")
    return ("{" + ", ".join(parts) + "}").encode("utf-8")


def _note(reply: Mapping[str, Any]) -> str:
    note = reply.get("error_note")
    return note[:_NOTE_LIMIT] if isinstance(note, str) else ""


def _as_int(value: object) -> int | None:
    """An integer field as Click may send it: a JSON integer or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    return None


def _field_int(reply: Mapping[str, Any], name: str) -> int:
    value = _as_int(reply.get(name))
    if value is None:
        raise ClickBadResponse(f"reply field {name!r} is missing or not an integer")
    return value


def _field_str(reply: Mapping[str, Any], name: str) -> str:
    value = reply.get(name)
    if not isinstance(value, str):
        raise ClickBadResponse(f"reply field {name!r} is missing or not a string")
    return value


# --------------------------------------------------------------------------- client


class ClickMerchantClient:
    """Calls the Click Merchant API for one ``service_id``.

    ``timeout`` (seconds) bounds the connect and each blocking read. ``clock`` returns UNIX time
    in seconds and is read once per request to build a fresh ``Auth`` header.
    """

    def __init__(
        self,
        *,
        service_id: int,
        merchant_user_id: str,
        secret_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service_id = _require_int(service_id, "service_id", minimum=1)
        self._merchant_user_id = _require_text(merchant_user_id, "merchant_user_id")
        if not isinstance(secret_key, str) or not secret_key:
            raise ValueError("secret_key must be a non-empty str")
        self._secret = _Secret(secret_key)
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise ValueError("base_url must be an absolute http(s) URL")
        self._base_url = base_url.rstrip("/")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._timeout = float(timeout)
        self._clock = clock
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, service_id={self._service_id}, "
            f"merchant_user_id={self._merchant_user_id!r}, secret_key=<hidden>, timeout={self._timeout})"
        )

    __str__ = __repr__

    @property
    def service_id(self) -> int:
        return self._service_id

    # ---------------------------------------------------------------- auth

    def auth_header(self) -> str:
        """``merchant_user_id:sha1(timestamp + secret_key):timestamp`` for the current clock."""
        timestamp = int(self._clock())
        digest = hashlib.sha1(f"{timestamp}{self._secret.reveal()}".encode()).hexdigest()
        return f"{self._merchant_user_id}:{digest}:{timestamp}"

    # ---------------------------------------------------------------- payments

    def payment_status(self, payment_id: int) -> PaymentStatus:
        """``GET /payment/status/{service_id}/{payment_id}``."""
        _require_int(payment_id, "payment_id", minimum=1)
        reply = self._call("GET", f"/payment/status/{self._service_id}/{payment_id}")
        return PaymentStatus(
            payment_id=_as_int(reply.get("payment_id")) or payment_id,
            payment_status=_field_int(reply, "payment_status"),
            error_note=_note(reply),
        )

    def payment_status_by_merchant_trans_id(
        self, merchant_trans_id: str, payment_date: datetime.date
    ) -> PaymentStatus:
        """``GET /payment/status_by_mti/{service_id}/{merchant_trans_id}/{YYYY-MM-DD}``.

        ``payment_date`` is the day the payment was created (Tashkent time). A ``datetime`` is
        refused so that no time zone is guessed here.
        """
        _require_text(merchant_trans_id, "merchant_trans_id")
        if isinstance(payment_date, datetime.datetime) or not isinstance(payment_date, datetime.date):
            raise TypeError("payment_date must be a datetime.date (not a datetime)")
        path = (
            f"/payment/status_by_mti/{self._service_id}/{_segment(merchant_trans_id)}"
            f"/{payment_date.isoformat()}"
        )
        reply = self._call("GET", path)
        mti = reply.get("merchant_trans_id")
        return PaymentStatus(
            payment_id=_field_int(reply, "payment_id"),
            payment_status=_field_int(reply, "payment_status"),
            error_note=_note(reply),
            merchant_trans_id=mti if isinstance(mti, str) else merchant_trans_id,
        )

    def reverse_payment(self, payment_id: int) -> Reversal:
        """``DELETE /payment/reversal/{service_id}/{payment_id}``: cancel the whole payment."""
        _require_int(payment_id, "payment_id", minimum=1)
        reply = self._call("DELETE", f"/payment/reversal/{self._service_id}/{payment_id}")
        return Reversal(payment_id=_as_int(reply.get("payment_id")) or payment_id, error_note=_note(reply))

    def partially_reverse_payment(self, payment_id: int, amount_tiyin: int) -> Reversal:
        """``DELETE /payment/partial_reversal/{service_id}/{payment_id}/{amount}``; amount in tiyin."""
        _require_int(payment_id, "payment_id", minimum=1)
        _require_int(amount_tiyin, "amount_tiyin", minimum=1)
        amount = tiyin_to_sum_str(amount_tiyin)
        reply = self._call(
            "DELETE", f"/payment/partial_reversal/{self._service_id}/{payment_id}/{_segment(amount)}"
        )
        return Reversal(
            payment_id=_as_int(reply.get("payment_id")) or payment_id,
            amount_tiyin=amount_tiyin,
            error_note=_note(reply),
        )

    # ---------------------------------------------------------------- invoices

    def create_invoice(self, amount_tiyin: int, phone_number: str, merchant_trans_id: str) -> Invoice:
        """``POST /invoice/create``: bill a Click user by phone (``998XXXXXXXXX``)."""
        _require_int(amount_tiyin, "amount_tiyin", minimum=1)
        _require_text(phone_number, "phone_number")
        if not _PHONE_RE.fullmatch(phone_number):
            raise ValueError("phone_number must be 12 digits starting with 998, e.g. 998901234567")
        _require_text(merchant_trans_id, "merchant_trans_id")
        reply = self._call(
            "POST",
            "/invoice/create",
            {
                "service_id": self._service_id,
                "amount": _SumAmount(tiyin_to_sum_str(amount_tiyin)),
                "phone_number": phone_number,
                "merchant_trans_id": merchant_trans_id,
            },
        )
        return Invoice(invoice_id=_field_int(reply, "invoice_id"), error_note=_note(reply))

    def invoice_status(self, invoice_id: int) -> InvoiceStatus:
        """``GET /invoice/status/{service_id}/{invoice_id}``."""
        _require_int(invoice_id, "invoice_id", minimum=1)
        reply = self._call("GET", f"/invoice/status/{self._service_id}/{invoice_id}")
        note = reply.get("invoice_status_note")
        return InvoiceStatus(
            invoice_id=invoice_id,
            invoice_status=_field_int(reply, "invoice_status"),
            invoice_status_note=note if isinstance(note, str) else "",
        )

    # ---------------------------------------------------------------- card tokens

    def request_card_token(self, card_number: str, expire_date: str, *, temporary: bool) -> CardTokenRequest:
        """``POST /card_token/request``: Click sends an SMS code to the card holder.

        ``expire_date`` is ``MMYY``; ``temporary=True`` asks for a one-payment token. The card
        number is never echoed in an error.
        """
        if not isinstance(card_number, str) or not _CARD_NUMBER_RE.fullmatch(card_number):
            raise ValueError("card_number must be 12-19 ASCII digits")
        if not isinstance(expire_date, str) or not _EXPIRE_RE.fullmatch(expire_date):
            raise ValueError("expire_date must be MMYY")
        if not isinstance(temporary, bool):
            raise TypeError("temporary must be a bool")
        reply = self._call(
            "POST",
            "/card_token/request",
            {
                "service_id": self._service_id,
                "card_number": card_number,
                "expire_date": expire_date,
                "temporary": 1 if temporary else 0,
            },
        )
        temporary_reply = _as_int(reply.get("temporary"))
        return CardTokenRequest(
            card_token=_field_str(reply, "card_token"),
            phone_number=_field_str(reply, "phone_number"),
            temporary=temporary if temporary_reply is None else temporary_reply == 1,
        )

    def verify_card_token(self, card_token: str, sms_code: int) -> CardTokenVerification:
        """``POST /card_token/verify`` with the SMS code the card holder received."""
        _require_text(card_token, "card_token")
        _require_int(sms_code, "sms_code", minimum=0)
        reply = self._call(
            "POST",
            "/card_token/verify",
            {"service_id": self._service_id, "card_token": card_token, "sms_code": sms_code},
        )
        return CardTokenVerification(card_token=card_token, card_number=_field_str(reply, "card_number"))

    def pay_with_card_token(
        self, card_token: str, amount_tiyin: int, transaction_parameter: str
    ) -> PaymentStatus:
        """``POST /card_token/payment``; ``transaction_parameter`` is your order/account id.

        Check ``successful``/``declined`` on the result. On :class:`ClickUnavailable` the charge
        may or may not have happened.
        """
        _require_text(card_token, "card_token")
        _require_int(amount_tiyin, "amount_tiyin", minimum=1)
        _require_text(transaction_parameter, "transaction_parameter")
        reply = self._call(
            "POST",
            "/card_token/payment",
            {
                "service_id": self._service_id,
                "card_token": card_token,
                "amount": _SumAmount(tiyin_to_sum_str(amount_tiyin)),
                "transaction_parameter": transaction_parameter,
            },
        )
        return PaymentStatus(
            payment_id=_field_int(reply, "payment_id"),
            payment_status=_field_int(reply, "payment_status"),
            error_note=_note(reply),
        )

    def delete_card_token(self, card_token: str) -> None:
        """``DELETE /card_token/{service_id}/{card_token}``."""
        _require_text(card_token, "card_token")
        self._call("DELETE", f"/card_token/{self._service_id}/{_segment(card_token)}")

    # ---------------------------------------------------------------- fiscalization

    def submit_fiscal_items(
        self,
        payment_id: int,
        items: Sequence[FiscalItem],
        *,
        received_ecash: int,
        received_cash: int = 0,
        received_card: int = 0,
    ) -> None:
        """``POST /payment/ofd_data/submit_items``; the ``received_*`` amounts are tiyin."""
        _require_int(payment_id, "payment_id", minimum=1)
        if not items:
            raise ValueError("items must contain at least one FiscalItem")
        for item in items:
            if not isinstance(item, FiscalItem):
                raise TypeError("items must be FiscalItem instances")
        for name, value in (
            ("received_ecash", received_ecash),
            ("received_cash", received_cash),
            ("received_card", received_card),
        ):
            _require_int(value, name, minimum=0)
        self._call(
            "POST",
            "/payment/ofd_data/submit_items",
            {
                "service_id": self._service_id,
                "payment_id": payment_id,
                "items": [item.to_click() for item in items],
                "received_ecash": received_ecash,
                "received_cash": received_cash,
                "received_card": received_card,
            },
        )

    def submit_fiscal_qrcode(self, payment_id: int, qrcode: str) -> None:
        """``POST /payment/ofd_data/submit_qrcode``: register a receipt fiscalized elsewhere."""
        _require_int(payment_id, "payment_id", minimum=1)
        _require_text(qrcode, "qrcode")
        self._call(
            "POST",
            "/payment/ofd_data/submit_qrcode",
            {"service_id": self._service_id, "payment_id": payment_id, "qrcode": qrcode},
        )

    # ---------------------------------------------------------------- transport

    def _call(self, method: str, path: str, body: Mapping[str, object] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self._base_url + path,
            data=None if body is None else _encode_json(body),
            method=method,
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Auth": self.auth_header(),
            },
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status: int = response.status
                raw: bytes = response.read(_MAX_REPLY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            with exc:
                self._raise_http_error(exc)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # URLError wraps connect failures; TimeoutError and ConnectionError are OSErrors;
            # HTTPException covers a connection dropped mid-reply.
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise ClickUnavailable(
                f"Click Merchant API unreachable ({method} {path.split('/')[1]}): {type(reason).__name__}"
            ) from exc
        if not 200 <= status < 300:
            raise ClickHttpError(status)
        if len(raw) > _MAX_REPLY_BYTES:
            raise ClickBadResponse("reply too large")
        try:
            reply = json.loads(raw, parse_float=Decimal)
        except ValueError as exc:
            raise ClickBadResponse(f"reply is not JSON (HTTP {status})") from exc
        if not isinstance(reply, dict):
            raise ClickBadResponse("reply is not a JSON object")
        error_code = _as_int(reply.get("error_code"))
        if error_code is None:
            raise ClickBadResponse("reply has no integer error_code")
        if error_code != 0:
            raise ClickMerchantError(error_code, _note(reply))
        return reply

    @staticmethod
    def _raise_http_error(exc: urllib.error.HTTPError) -> NoReturn:
        error_code: int | None = None
        error_note: str | None = None
        try:
            detail = json.loads(exc.read(64 * 1024), parse_float=Decimal)
        except (ValueError, OSError, http.client.HTTPException):
            detail = None
        if isinstance(detail, dict):
            error_code = _as_int(detail.get("error_code"))
            error_note = _note(detail) or None
        raise ClickHttpError(exc.code, error_code, error_note) from None
