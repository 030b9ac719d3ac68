"""HMAC-SHA256 link signatures: what we signed verifies, anything else (forged, altered, truncated, signed
for another purpose or with another key) does not."""

import pytest

from tolov.signing import MAX_TOKEN_CHARS, BadSignature, Signer

KEY = b"k" * 32


def test_a_tag_verifies_for_its_text_and_purpose_only() -> None:
    signer = Signer(KEY)
    tag = signer.tag("pay-page", "1234567890")
    assert signer.valid_tag("pay-page", "1234567890", tag)
    assert not signer.valid_tag("pay-page", "1234567891", tag)  # another invoice
    assert not signer.valid_tag("autopay-enrol", "1234567890", tag)  # another kind of link
    assert not Signer(b"x" * 32).valid_tag("pay-page", "1234567890", tag)  # another key


@pytest.mark.parametrize("tag", [None, "", "not base64 !", "AAAA", "é", "A" * (MAX_TOKEN_CHARS + 1)])
def test_a_forged_or_malformed_tag_is_refused_without_an_error(tag: str | None) -> None:
    assert not Signer(KEY).valid_tag("pay-page", "1234567890", tag)


def test_a_truncated_tag_is_refused() -> None:
    signer = Signer(KEY)
    tag = signer.tag("pay-page", "1")
    assert not signer.valid_tag("pay-page", "1", tag[:-1])


def test_sealed_claims_come_back_as_they_were_signed() -> None:
    signer = Signer(KEY)
    claims = {"a": "apt-1", "d": 5, "m": 50_000_00, "n": "nonce", "e": 1_800_000_000_000}
    token = signer.seal("autopay-enrol", claims)
    assert "=" not in token and "+" not in token and "/" not in token  # URL-safe as it is
    assert signer.unseal("autopay-enrol", token) == claims


def test_altering_any_claim_breaks_the_seal() -> None:
    signer = Signer(KEY)
    token = signer.seal("autopay-enrol", {"a": "apt-1", "m": 100})
    other = signer.seal("autopay-enrol", {"a": "apt-1", "m": 999_999})
    forged = other.split(".")[0] + "." + token.split(".")[1]  # a bigger cap under the old signature
    with pytest.raises(BadSignature):
        signer.unseal("autopay-enrol", forged)
    with pytest.raises(BadSignature):
        signer.unseal("pay-page", token)
    with pytest.raises(BadSignature):
        Signer(b"y" * 32).unseal("autopay-enrol", token)


@pytest.mark.parametrize("token", [None, "", "abc", "abc.", ".abc", "a.b.c", "%%%.%%%", "x" * 2000])
def test_garbage_is_bad_signature(token: str | None) -> None:
    with pytest.raises(BadSignature):
        Signer(KEY).unseal("autopay-enrol", token)


def test_a_short_key_is_refused_and_the_key_never_shows() -> None:
    with pytest.raises(ValueError):
        Signer(b"short")
    assert "k" * 32 not in repr(Signer(KEY))
