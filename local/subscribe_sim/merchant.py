"""Our Merchant API as Payme calls it for a cashbox that has one: JSON-RPC over POST, Basic Paycom:<key>."""

import base64
import itertools
import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MERCHANT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _MerchantAnswer:
    ok: bool
    kind: str | None = None  # the error kind when not ok: billing_unavailable or billing_refused
    data: dict[str, Any] = field(default_factory=dict)


class MerchantEndpoint:
    """Our Merchant API as Payme calls it: JSON-RPC over POST with Basic ``Paycom:<key>``."""

    def __init__(self, url: str, key: Callable[[], str], timeout: float = MERCHANT_TIMEOUT_S) -> None:
        self.url = url
        self._key = key
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, params: dict[str, Any]) -> _MerchantAnswer:
        credential = base64.b64encode(f"Paycom:{self._key()}".encode()).decode()
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        request = urllib.request.Request(
            self.url,
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Basic {credential}"},
        )
        unavailable = "billing_unavailable"
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                reply = json.loads(response.read(1 << 20))
        except (OSError, ValueError) as failure:  # URLError and HTTPError are OSErrors
            return _MerchantAnswer(False, unavailable, {"method": method, "reason": type(failure).__name__})
        if not isinstance(reply, dict):
            return _MerchantAnswer(False, unavailable, {"method": method, "reason": "not JSON-RPC"})
        error = reply.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            kind = unavailable if code == -32400 else "billing_refused"
            return _MerchantAnswer(False, kind, {"method": method, "code": code})
        if not isinstance(reply.get("result"), dict):
            return _MerchantAnswer(False, unavailable, {"method": method, "reason": "no result"})
        return _MerchantAnswer(True)
