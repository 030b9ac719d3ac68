"""The Payme key: Basic-auth check in constant time, and ChangePassword's key rotation.

The key lives in the PaymeKeySecret secret. An operator may put the bare key there; ChangePassword
writes a JSON object instead:

    {"key": "<new>", "previous": "<old>", "previous_until": <ms>}

Overlap policy: the new key is accepted at once; the old key stays valid until previous_until,
PAYME_KEY_OVERLAP_SECONDS (default 300 s) after the change, so requests Payme signed before it
learned of the change, and their retries, still pass. 300 s is also how long a warm container caches
the secret, so the old key could not be refused any sooner everywhere anyway. A container that meets
a credential it does not know re-reads the secret (at most once per REFRESH_INTERVAL_MS), which is how
the new key reaches containers that cached the old one.
"""

import base64
import binascii
import hmac
import json
import threading
from collections.abc import Mapping
from typing import Protocol

from tolov.clock import Clock, now_ms
from tolov.frozen import Frozen

LOGIN = "Paycom"
REFRESH_INTERVAL_MS = 5_000


class KeyRing(Frozen):
    # Frozen, not a NamedTuple: both keys are secrets, so neither is in the repr (nor in a log line).
    _fields = ("key", "previous", "previous_until")
    __slots__ = _fields
    _compared = _fields
    _shown = ("previous_until",)

    key: str
    previous: str | None
    previous_until: int

    def __init__(self, key: str, previous: str | None = None, previous_until: int = 0) -> None:
        self._init(key=key, previous=previous, previous_until=previous_until)

    def accepted(self, now: int) -> list[str]:
        keys = [self.key]
        if self.previous is not None and now <= self.previous_until:
            keys.append(self.previous)
        return keys

    @classmethod
    def from_secret(cls, text: str) -> "KeyRing":
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("key"), str):
                previous = data.get("previous")
                until = data.get("previous_until")
                return cls(
                    key=data["key"],
                    previous=previous if isinstance(previous, str) else None,
                    previous_until=until if isinstance(until, int) and not isinstance(until, bool) else 0,
                )
        return cls(key=text)

    def to_secret(self) -> str:
        if self.previous is None:
            return json.dumps({"key": self.key})
        return json.dumps({"key": self.key, "previous": self.previous, "previous_until": self.previous_until})


class KeyStore(Protocol):
    def ring(self, *, fresh: bool = False) -> KeyRing: ...

    def replace(self, ring: KeyRing) -> None: ...


def basic_credential(headers: Mapping[str, str] | None) -> bytes | None:
    """The decoded `login:password` of an `Authorization: Basic ...` header, or None."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == "authorization"), None)
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        return base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


class Authenticator:
    def __init__(self, keys: KeyStore, clock: Clock = now_ms) -> None:
        self.keys = keys
        self.clock = clock
        self._last_refresh = -REFRESH_INTERVAL_MS
        self._lock = threading.Lock()

    def check(self, headers: Mapping[str, str] | None) -> bool:
        credential = basic_credential(headers)
        if credential is None:
            return False
        now = self.clock()
        if self._matches(credential, self.keys.ring(), now):
            return True
        with self._lock:
            if now - self._last_refresh < REFRESH_INTERVAL_MS:
                return False
            self._last_refresh = now
        return self._matches(credential, self.keys.ring(fresh=True), now)

    @staticmethod
    def _matches(credential: bytes, ring: KeyRing, now: int) -> bool:
        # Compare the whole "Paycom:<key>" so the login is checked too; every candidate is compared,
        # so the time taken does not tell which one (if any) was close.
        results = [hmac.compare_digest(credential, f"{LOGIN}:{key}".encode()) for key in ring.accepted(now)]
        return any(results)


class SecretKeyStore:
    """The key in Secrets Manager, read through Powertools' cache (tolov.settings.get_secret)."""

    def __init__(self, secret_id: str) -> None:
        self.secret_id = secret_id

    def ring(self, *, fresh: bool = False) -> KeyRing:
        from tolov.settings import get_secret

        return KeyRing.from_secret(get_secret(self.secret_id, force_fetch=fresh))

    def replace(self, ring: KeyRing) -> None:
        from tolov.settings import secrets_provider

        secrets_provider().set(self.secret_id, ring.to_secret())
        self.ring(fresh=True)  # our own cache must not keep serving the old key for 300 s
