"""The Payme Subscribe API as autopay uses it: the calls it makes, the client's types, where the client
comes from. Every autopay module takes these names from here, and from nowhere else.

INTERIM. The client belongs in tolov/payme/subscribe_api.py (issue 10 §1, branch i10-subscribe), which is
not merged yet. Until it is, the part below the line is a minimal stand-in with that module's interface
(the same class names, fields and method signatures): a JSON-RPC client over urllib, enough for the local
stack and the benchmark to charge over HTTP. The merge replaces that part with

    from tolov.payme.subscribe_api import Card, Receipt, SubscribeError, SubscribeUnavailable
    from tolov.payme.subscribe_api import build_subscribe_client

and deletes AutopaySettings.subscribe_url. `Subscribe` (what autopay calls) and the receipt states stay.
"""

import itertools
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from tolov.settings import Settings, get_secret

# Receipt states (reference §5.4). 4 is the only success; 50 the only state after which a new receipt
# may be created for the same charge.
CREATED = 0
PAID = 4
CANCELLED = 50
IN_FLIGHT = frozenset({1, 2, 3, 5, 6, 20, 21, 30})  # 5 (held): autopay never holds, so never done either


class Subscribe(Protocol):
    """The Subscribe API calls autopay makes (tolov.payme.subscribe_api.SubscribeClient has them all)."""

    def cards_check(self, token: str) -> "Card": ...

    def cards_remove(self, token: str) -> bool: ...

    def receipts_create(
        self,
        amount: int,
        account: dict[str, str],
        *,
        description: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> "Receipt": ...

    def receipts_pay(
        self, receipt_id: str, token: str, *, payer: dict[str, Any] | None = None
    ) -> "Receipt": ...

    def receipts_cancel(self, receipt_id: str) -> "Receipt": ...

    def receipts_check(self, receipt_id: str) -> int: ...

    def receipts_get(self, receipt_id: str) -> "Receipt": ...


# ---------------------------------------------------------------------- INTERIM: the stand-in
class SubscribeError(Exception):
    """Payme's JSON-RPC error: its code and its {ru, uz, en} message."""

    def __init__(self, code: int | None, message: dict[str, str] | str = "", data: Any = None) -> None:
        super().__init__(f"Subscribe API error {code}")
        self.code = code
        self.message = message
        self.data = data


class SubscribeUnavailable(SubscribeError):
    """Time-out, connection failure, HTTP 5xx or an unreadable reply: the outcome is unknown."""


@dataclass(frozen=True)
class Card:
    number: str  # masked
    expire: str  # "03/99"
    token: str = field(repr=False)
    recurrent: bool
    verify: bool
    type: str | None = None


@dataclass(frozen=True)
class Receipt:
    id: str
    state: int
    amount: int
    create_time: int
    pay_time: int
    cancel_time: int
    account: Any = None
    card: Any = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _card(raw: dict[str, Any]) -> Card:
    return Card(
        number=str(raw.get("number", "")),
        expire=str(raw.get("expire", "")),
        token=str(raw.get("token", "")),
        recurrent=bool(raw.get("recurrent")),
        verify=bool(raw.get("verify")),
        type=None if raw.get("type") is None else str(raw.get("type")),
    )


def _receipt(raw: dict[str, Any]) -> Receipt:
    return Receipt(
        id=str(raw["_id"]),
        state=int(raw["state"]),
        amount=int(raw["amount"]),
        create_time=int(raw.get("create_time") or 0),
        pay_time=int(raw.get("pay_time") or 0),
        cancel_time=int(raw.get("cancel_time") or 0),
        account=raw.get("account"),
        card=raw.get("card"),
        raw=raw,
    )


class _InterimClient:
    """X-Auth id:key on every call; the key read from the Payme secret on first use, never logged."""

    def __init__(self, url: str, merchant_id: str, key_secret_arn: str, timeout_s: float = 15.0) -> None:
        self.url = url
        self.merchant_id = merchant_id
        self.key_secret_arn = key_secret_arn
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"SubscribeClient({self.url!r})"

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        auth = f"{self.merchant_id}:{get_secret(self.key_secret_arn)}"
        body = json.dumps({"id": next(self._ids), "method": method, "params": params}).encode()
        request = urllib.request.Request(
            self.url, body, {"Content-Type": "application/json", "X-Auth": auth}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise SubscribeUnavailable(None, f"HTTP {error.code}") from None
        except (OSError, ValueError) as error:  # URLError and time-outs are OSErrors
            raise SubscribeUnavailable(None, type(error).__name__) from None
        if not isinstance(reply, dict):
            raise SubscribeUnavailable(None, "unreadable reply")
        failure = reply.get("error")
        if isinstance(failure, dict):
            code = failure.get("code")
            code = code if isinstance(code, int) else None
            raise SubscribeError(code, failure.get("message", ""), failure.get("data"))
        return reply.get("result")

    def cards_check(self, token: str) -> Card:
        return _card(self._call("cards.check", {"token": token})["card"])

    def cards_remove(self, token: str) -> bool:
        return bool(self._call("cards.remove", {"token": token}).get("success"))

    def receipts_create(
        self,
        amount: int,
        account: dict[str, str],
        *,
        description: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Receipt:
        params: dict[str, Any] = {"amount": amount, "account": account}
        if description is not None:
            params["description"] = description
        if detail is not None:
            params["detail"] = detail
        return _receipt(self._call("receipts.create", params)["receipt"])

    def receipts_pay(self, receipt_id: str, token: str, *, payer: dict[str, Any] | None = None) -> Receipt:
        params: dict[str, Any] = {"id": receipt_id, "token": token}
        if payer is not None:
            params["payer"] = payer
        return _receipt(self._call("receipts.pay", params)["receipt"])

    def receipts_cancel(self, receipt_id: str) -> Receipt:
        return _receipt(self._call("receipts.cancel", {"id": receipt_id})["receipt"])

    def receipts_check(self, receipt_id: str) -> int:
        return int(self._call("receipts.check", {"id": receipt_id})["state"])

    def receipts_get(self, receipt_id: str) -> Receipt:
        return _receipt(self._call("receipts.get", {"id": receipt_id})["receipt"])


def build_subscribe_client(settings: Settings) -> Subscribe:
    if not settings.payme.key_secret_arn:
        raise RuntimeError("PAYME_KEY_SECRET_ARN is not set")
    return _InterimClient(
        settings.autopay.subscribe_url, settings.payme.merchant_id, settings.payme.key_secret_arn
    )
