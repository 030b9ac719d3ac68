"""Credentials and ChangePassword: the new key persisted in the secret, the old one's overlap window."""

import base64
import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from tests.fakes import StaticKeyStore
from tests.payme_harness import LOCAL_KEY, SECRET_ID, Clock, Harness, auth_header, config, make_harness
from tolov.payme.keys import Authenticator, KeyRing, SecretKeyStore, basic_credential
from tolov.payme.merchant_api import Merchant, PaymeRequest
from tolov.settings import ApartmentLimits

PID = "5305e3bab097f420a62ced0b"


def check_with(h: Harness, key: str) -> int:
    """The code CheckTransaction answers with this key: -31003 when authenticated, -32504 when not."""
    body = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": PID}})
    return int(h.merchant.handle(PaymeRequest(body, auth_header(key))).reply["error"]["code"])


def stored_secret() -> dict[str, Any]:
    return json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=SECRET_ID)["SecretString"])  # type: ignore[no-any-return]


def versions() -> int:
    return len(
        boto3.client("secretsmanager").list_secret_version_ids(SecretId=SECRET_ID, IncludeDeprecated=True)[
            "Versions"
        ]
    )


# ---------------------------------------------------------------------- key ring
@pytest.mark.parametrize(
    ("text", "ring"),
    [
        ("local-payme-key", KeyRing("local-payme-key")),
        ('{"key": "k2"}', KeyRing("k2")),
        ('{"key": "k2", "previous": "k1", "previous_until": 5}', KeyRing("k2", "k1", 5)),
        ('{"key": "k2", "previous": 3, "previous_until": "x"}', KeyRing("k2")),
        ('{"not": "a ring"}', KeyRing('{"not": "a ring"}')),
        ("{broken", KeyRing("{broken")),
    ],
)
def test_secret_formats(text: str, ring: KeyRing) -> None:
    assert KeyRing.from_secret(text) == ring


def test_ring_round_trips() -> None:
    ring = KeyRing("new", "old", 123)
    assert KeyRing.from_secret(ring.to_secret()) == ring
    assert ring.accepted(123) == ["new", "old"] and ring.accepted(124) == ["new"]


@pytest.mark.parametrize(
    ("headers", "credential"),
    [
        ({"Authorization": "Basic UGF5Y29tOms="}, b"Paycom:k"),
        ({"authorization": "basic UGF5Y29tOms="}, b"Paycom:k"),
        ({"AUTHORIZATION": "  Basic   UGF5Y29tOms=  "}, b"Paycom:k"),
        ({"Authorization": "Basic UGF5Y29tOms"}, None),  # bad padding
        ({"Authorization": "Digest UGF5Y29tOms="}, None),
        ({}, None),
        (None, None),
    ],
)
def test_basic_credential(headers: dict[str, str] | None, credential: bytes | None) -> None:
    assert basic_credential(headers) == credential


def test_password_with_colons_and_unicode() -> None:
    key = "a:b:ç#&?%ü"
    auth = Authenticator(StaticKeyStore(key), Clock())
    token = base64.b64encode(f"Paycom:{key}".encode()).decode()
    assert auth.check({"Authorization": f"Basic {token}"})
    assert not auth.check(auth_header("a:b"))


class CountingStore(StaticKeyStore):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.fresh_reads = 0

    def ring(self, *, fresh: bool = False) -> KeyRing:
        self.fresh_reads += fresh
        return super().ring(fresh=fresh)


def test_unknown_credentials_reread_the_secret_at_most_every_five_seconds() -> None:
    store, clock = CountingStore("k"), Clock()
    auth = Authenticator(store, clock)
    for _ in range(10):
        assert not auth.check(auth_header("guess"))
    assert store.fresh_reads == 1
    clock.advance(5_000)
    assert not auth.check(auth_header("guess"))
    assert store.fresh_reads == 2
    assert auth.check(auth_header("k")) and store.fresh_reads == 2  # a known key costs no read


# ---------------------------------------------------------------------- ChangePassword
def test_change_password_stores_the_new_key_and_keeps_the_old_for_the_overlap(harness: Harness) -> None:
    h = harness
    assert h.result("ChangePassword", {"password": "k2-new-key"}) == {"success": True}
    assert stored_secret() == {
        "key": "k2-new-key",
        "previous": LOCAL_KEY,
        "previous_until": h.clock.now + 300_000,
    }
    assert check_with(h, "k2-new-key") == -31003
    h.clock.advance(300_000)
    assert check_with(h, LOCAL_KEY) == -31003  # still inside the window
    h.clock.advance(1)
    assert check_with(h, LOCAL_KEY) == -32504
    assert check_with(h, "k2-new-key") == -31003


def test_without_overlap_only_the_new_key_works(aws: None) -> None:
    h = make_harness(Clock(), key_overlap_seconds=0)
    assert h.result("ChangePassword", {"password": "k2-new-key"}) == {"success": True}
    assert stored_secret() == {"key": "k2-new-key"}
    assert check_with(h, LOCAL_KEY) == -32504
    assert check_with(h, "k2-new-key") == -31003


def test_repeated_change_password_is_a_success_without_a_new_version(harness: Harness) -> None:
    h = harness
    h.result("ChangePassword", {"password": "k2-new-key"})
    count = versions()
    # Payme's retry of the same call, still signed with the old key inside the window.
    assert h.result("ChangePassword", {"password": "k2-new-key"}) == {"success": True}
    assert versions() == count


class ContainerSecretStore(SecretKeyStore):
    """The secret as another warm container sees it: through a cache of its own."""

    def __init__(self, secret_id: str) -> None:
        super().__init__(secret_id)
        self.provider = SecretsProvider()

    def ring(self, *, fresh: bool = False) -> KeyRing:
        value = self.provider.get(self.secret_id, max_age=300, force_fetch=fresh)
        assert isinstance(value, str)
        return KeyRing.from_secret(value)


def test_another_container_picks_the_new_key_up_at_once(harness: Harness) -> None:
    h = harness
    other = Merchant(h.repo, ContainerSecretStore(SECRET_ID), config(), ApartmentLimits(), clock=h.clock)
    body = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": PID}})
    assert other.handle(PaymeRequest(body, auth_header(LOCAL_KEY))).reply["error"]["code"] == -31003
    assert other.keys.ring() == KeyRing(LOCAL_KEY)  # cached: the old key only
    h.result("ChangePassword", {"password": "k2-new-key"})
    assert other.keys.ring() == KeyRing(LOCAL_KEY)  # its cache is still stale
    assert other.handle(PaymeRequest(body, auth_header("k2-new-key"))).reply["error"]["code"] == -31003
    assert other.handle(PaymeRequest(body, auth_header(LOCAL_KEY))).reply["error"]["code"] == -31003


@pytest.mark.parametrize("password", ["", "   ", None, 12345, ["k"], "x" * 257])
def test_change_password_needs_a_password(harness: Harness, password: Any) -> None:
    h = harness
    params = {} if password is None else {"password": password}
    error = h.error("ChangePassword", params)
    assert -31099 <= error["code"] <= -31050 and error["data"] == "password"
    assert check_with(h, LOCAL_KEY) == -31003


def test_failure_to_store_is_a_system_error_and_the_old_key_stays(aws: None) -> None:
    class BrokenStore(StaticKeyStore):
        def replace(self, ring: KeyRing) -> None:
            raise RuntimeError("PutSecretValue denied")

    h = make_harness(Clock())
    h.merchant = Merchant(h.repo, BrokenStore(LOCAL_KEY), config(), ApartmentLimits(), clock=h.clock)
    assert h.error("ChangePassword", {"password": "k2-new-key"})["code"] == -32400
    assert check_with(h, LOCAL_KEY) == -31003
    assert check_with(h, "k2-new-key") == -32504


def test_secret_read_failure_is_a_system_error(aws: None) -> None:
    class Unreachable(StaticKeyStore):
        def ring(self, *, fresh: bool = False) -> KeyRing:
            raise ConnectionError("secrets manager unreachable")

    h = make_harness(Clock())
    h.merchant = Merchant(h.repo, Unreachable(LOCAL_KEY), config(), ApartmentLimits(), clock=h.clock)
    assert h.call("CheckTransaction", {"id": PID})["error"]["code"] == -32400
