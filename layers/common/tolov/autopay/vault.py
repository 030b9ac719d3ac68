"""Card tokens at rest: encrypted with the template's KMS key, bound to their autopay by the encryption
context, so a ciphertext copied onto another autopay does not decrypt. Plain tokens are never logged."""

from typing import Any, Protocol

from tolov.wiring import AwsClient


class Vault(Protocol):
    """What the enrolment and the charger need of the vault (CardVault; a fake in tests)."""

    def seal(self, token: str, autopay_id: str) -> bytes: ...

    def open(self, sealed: bytes, autopay_id: str) -> str: ...


class CardVault:
    def __init__(self, key_id: str, client: Any | None = None) -> None:
        if not key_id:
            raise RuntimeError("AUTOPAY_KMS_KEY_ID is not set")
        self.key_id = key_id
        self._kms = AwsClient("kms", client)

    def __repr__(self) -> str:
        return f"CardVault({self.key_id!r})"

    @staticmethod
    def _context(autopay_id: str) -> dict[str, str]:
        return {"autopay_id": autopay_id, "purpose": "payme-card-token"}

    def seal(self, token: str, autopay_id: str) -> bytes:
        reply = self._kms().encrypt(
            KeyId=self.key_id, Plaintext=token.encode(), EncryptionContext=self._context(autopay_id)
        )
        return bytes(reply["CiphertextBlob"])

    def open(self, sealed: bytes, autopay_id: str) -> str:
        reply = self._kms().decrypt(
            KeyId=self.key_id, CiphertextBlob=sealed, EncryptionContext=self._context(autopay_id)
        )
        return bytes(reply["Plaintext"]).decode()
