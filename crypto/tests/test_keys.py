"""Key derivation, key ids and key pairs (FORMAT.md, Notation)."""

import base64
import hashlib

import nacl.bindings as sodium
import pytest

from crypto.errors import FormatError
from crypto.keys import KeyPair, derive, kid, random_bytes, stretch


def test_derive_is_keyed_blake2b_of_the_label():
    key = bytes(range(32))
    expected = hashlib.blake2b(b"whistle/v1/body", key=key, digest_size=32).digest()
    assert derive(key, "whistle/v1/body") == expected


def test_derive_separates_labels_and_keys():
    key = random_bytes(32)
    outputs = {derive(key, "whistle/v1/a"), derive(key, "whistle/v1/b"), derive(random_bytes(32), "whistle/v1/a")}
    assert len(outputs) == 3


def test_derive_size():
    assert len(derive(bytes(32), "whistle/v1/x", 16)) == 16
    assert derive(bytes(32), "whistle/v1/x", 16) != derive(bytes(32), "whistle/v1/x")[:16]


@pytest.mark.parametrize("label", ["", "body", "whistle/v2/body", "Whistle/v1/body"])
def test_derive_refuses_labels_outside_the_namespace(label):
    with pytest.raises(ValueError):
        derive(bytes(32), label)


def test_kid_is_b64u_of_a_16_byte_hash():
    pair = KeyPair.generate()
    digest = hashlib.blake2b(pair.public, digest_size=16).digest()
    assert kid(pair.public) == pair.kid
    assert len(pair.kid) == 22 and "=" not in pair.kid
    assert base64.urlsafe_b64decode(pair.kid + "==") == digest


@pytest.mark.parametrize("size", [0, 31, 33])
def test_kid_refuses_wrong_key_length(size):
    with pytest.raises(FormatError):
        kid(bytes(size))


def test_key_pair_from_seed_is_deterministic_and_consistent():
    seed = bytes(range(32))
    a, b = KeyPair.from_seed(seed), KeyPair.from_seed(seed)
    assert a == b
    assert sodium.crypto_scalarmult_base(a.secret) == a.public
    assert KeyPair.from_seed(bytes(32)) != a
    with pytest.raises(FormatError):
        KeyPair.from_seed(bytes(31))


def test_generated_key_pairs_differ():
    assert KeyPair.generate().public != KeyPair.generate().public


def test_key_pair_repr_never_shows_the_secret():
    pair = KeyPair.generate()
    text = repr(pair) + str(pair)
    assert repr(pair.secret) not in text and pair.secret.hex() not in text
    assert repr(pair.public) in text


def test_stretch_needs_a_16_byte_salt():
    assert len(stretch(b"secret", bytes(16), 1, 8192)) == 32
    assert stretch(b"secret", bytes(16), 1, 8192) != stretch(b"secret", b"\x01" * 16, 1, 8192)
    for size in (0, 15, 17, 32):
        with pytest.raises(FormatError):
            stretch(b"secret", bytes(size), 1, 8192)
