"""HMAC-SHA256 signatures for the links residents are sent (pay pages, autopay enrolment).

Two shapes, both URL-safe base64 without padding:
- a tag over a text the URL already carries (the invoice id of /pay/{invoice_id}): tag(purpose, text);
- a sealed token that carries its own claims: "<base64 JSON>.<base64 MAC>", seal(purpose, claims).

Every MAC covers a purpose string, so a token signed for one kind of link is never valid for another.
Checks compare in constant time (hmac.compare_digest). Nothing here decides about expiry: the claims do.
"""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from tolov.settings import get_secret

MAX_TOKEN_CHARS = 1024  # a link carries a few claims; anything longer is not ours
MIN_KEY_BYTES = 16


class BadSignature(ValueError):
    """The token is not one we signed for this purpose (forged, altered, truncated, or another purpose)."""


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    if not text or not text.isascii():
        raise BadSignature("not base64")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadSignature("not base64") from None


class Signer:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a signing key has at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Signer(<key>)"

    def _mac(self, purpose: str, message: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode() + b"\x00" + message, hashlib.sha256).digest()

    def tag(self, purpose: str, text: str) -> str:
        return _encode(self._mac(purpose, text.encode()))

    def valid_tag(self, purpose: str, text: str, tag: str | None) -> bool:
        if not tag or len(tag) > MAX_TOKEN_CHARS:
            return False
        try:
            sent = _decode(tag)
        except BadSignature:
            return False
        return hmac.compare_digest(sent, self._mac(purpose, text.encode()))

    def seal(self, purpose: str, claims: Mapping[str, Any]) -> str:
        payload = _encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{_encode(self._mac(purpose, payload.encode()))}"

    def unseal(self, purpose: str, token: str | None) -> dict[str, Any]:
        """The claims of a token sealed for this purpose; BadSignature for anything else."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise BadSignature("no token")
        payload, dot, mac = token.partition(".")
        if not dot or not hmac.compare_digest(_decode(mac), self._mac(purpose, payload.encode())):
            raise BadSignature("wrong signature")
        try:
            claims = json.loads(_decode(payload))
        except ValueError:  # we never sign such a payload; a key leak would be the only way here
            raise BadSignature("unreadable claims") from None
        if not isinstance(claims, dict):
            raise BadSignature("unreadable claims")
        return claims


def signer_from_secret(secret_id: str) -> Signer:
    """The Signer of the link-signing secret, read through Powertools' cache (a rotated key is seen within
    minutes; links signed with the old key stop working then)."""
    if not secret_id:
        raise RuntimeError("LINK_SIGNING_KEY_SECRET_ARN is not set")
    return Signer(get_secret(secret_id).encode())
