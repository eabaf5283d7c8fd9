"""Signed audit statements: key derivation vectors, signing and verification."""

import hashlib

import nacl.bindings as sodium
import pytest

from crypto import signing
from crypto.encoding import b64u, unb64u
from crypto.errors import CryptoError, FormatError
from crypto.keys import KeyPair

SECRET = bytes(range(32))
SEED_HEX = "2a2e4277dfa2ccdaa0ed0999e59a4a0e0bfb86683a217a8d47c5f9ee53629b83"
VERIFY_KEY = "Uqcr8IJSnxacoiUF1SOP6cfO8cpkHgqdYbqZktE_diI"
STATEMENT = {
    "v": 1,
    "kind": "whistle-audit-statement",
    "committee_kid": "AAAAAAAAAAAAAAAAAAAAAA",
    "length": 10,
    "head": "ab" * 32,
    "day": "2025-03-04",
}
CANONICAL = (
    '{"committee_kid":"AAAAAAAAAAAAAAAAAAAAAA","day":"2025-03-04","head":"'
    + "ab" * 32
    + '","kind":"whistle-audit-statement","length":10,"v":1}'
)
SIGNATURE = "-zJDJFRcVnigaV90YUl6Rpo5zJs-62L6e8z0A9C1nmWosiizYfWFWwkiyg1MoQVRVTIKNGDoryB5YE8X6LdTDw"


def test_seed_is_keyed_blake2b_of_the_label():
    seed = hashlib.blake2b(b"whistle/v1/audit-signing", key=SECRET, digest_size=32).digest()
    assert seed.hex() == SEED_HEX
    assert bytes(signing.signing_key(SECRET)) == seed


def test_derivation_vector():
    assert b64u(signing.verify_key_of(SECRET)) == VERIFY_KEY
    # The same key pair libsodium makes from the seed.
    public, _secret = sodium.crypto_sign_seed_keypair(bytes.fromhex(SEED_HEX))
    assert b64u(public) == VERIFY_KEY


def test_signature_vector_is_deterministic():
    assert signing.canonical(STATEMENT) == CANONICAL
    assert signing.sign(signing.signing_key(SECRET), STATEMENT) == SIGNATURE
    signing.verify(VERIFY_KEY, STATEMENT, SIGNATURE)
    signing.verify(unb64u(VERIFY_KEY), STATEMENT, SIGNATURE)


def test_round_trip_with_a_fresh_committee_key():
    pair = KeyPair.generate()
    obj = signing.statement(pair.kid, 0, "0" * 64, __import__("datetime").date(2025, 1, 2))
    assert obj["day"] == "2025-01-02"
    sig = signing.sign(signing.signing_key(pair.secret), obj)
    signing.verify(signing.verify_key_of(pair.secret), obj, sig)
    # Another committee key signs differently and its verify key does not accept this one.
    other = KeyPair.generate()
    assert signing.verify_key_of(other.secret) != signing.verify_key_of(pair.secret)
    with pytest.raises(CryptoError):
        signing.verify(signing.verify_key_of(other.secret), obj, sig)


@pytest.mark.parametrize(
    "field, value",
    [
        ("length", 11),
        ("length", 9),
        ("head", "ac" + "ab" * 31),
        ("day", "2025-03-05"),
        ("committee_kid", "AAAAAAAAAAAAAAAAAAAAAB"),
    ],
)
def test_altered_statement_is_rejected(field, value):
    altered = dict(STATEMENT, **{field: value})
    with pytest.raises(CryptoError):
        signing.verify(VERIFY_KEY, altered, SIGNATURE)


def test_altered_signature_is_rejected():
    raw = bytearray(unb64u(SIGNATURE))
    raw[0] ^= 1
    with pytest.raises(CryptoError):
        signing.verify(VERIFY_KEY, STATEMENT, b64u(bytes(raw)))


@pytest.mark.parametrize(
    "obj",
    [
        dict(STATEMENT, v=2),
        dict(STATEMENT, kind="other"),
        dict(STATEMENT, length=-1),
        dict(STATEMENT, length=True),
        dict(STATEMENT, length="10"),
        dict(STATEMENT, head="AB" * 32),
        dict(STATEMENT, head="ab"),
        dict(STATEMENT, day="2025-3-4"),
        dict(STATEMENT, day="yesterday"),
        dict(STATEMENT, committee_kid="short"),
        dict(STATEMENT, extra=1),
        {k: v for k, v in STATEMENT.items() if k != "day"},
    ],
)
def test_malformed_statements_are_refused(obj):
    with pytest.raises(FormatError):
        signing.canonical(obj)
    with pytest.raises(FormatError):
        signing.verify(VERIFY_KEY, obj, SIGNATURE)


def test_malformed_key_or_signature_is_a_format_error():
    with pytest.raises(FormatError):
        signing.verify(VERIFY_KEY[:-2], STATEMENT, SIGNATURE)
    with pytest.raises(FormatError):
        signing.verify(VERIFY_KEY, STATEMENT, SIGNATURE[:-3])
    with pytest.raises(FormatError):
        signing.signing_key(bytes(31))
