"""Private-key files (FORMAT.md §5)."""

import json

import pytest

from crypto.encoding import b64u, unb64u
from crypto.errors import CryptoError, FormatError
from crypto.keyfile import KIND, public_key_of, unwrap, wrap
from crypto.keys import KeyPair

CHEAP = {"opslimit": 1, "memlimit": 8192}
PASSPHRASE = "correct horse 电池 staple"


@pytest.fixture(scope="module")
def pair():
    return KeyPair.generate()


@pytest.fixture(scope="module")
def text(pair):
    return wrap(pair, PASSPHRASE, **CHEAP)


def test_round_trip(pair, text):
    assert unwrap(text, PASSPHRASE) == pair
    assert public_key_of(text) == pair.public


def test_file_has_exactly_the_documented_fields(pair, text):
    data = json.loads(text)
    assert list(data) == ["v", "kind", "kid", "public_key", "kdf", "nonce", "box"]
    assert data["v"] == 1 and data["kind"] == KIND and data["kid"] == pair.kid
    assert list(data["kdf"]) == ["salt", "opslimit", "memlimit"]
    assert (data["kdf"]["opslimit"], data["kdf"]["memlimit"]) == (1, 8192)
    assert len(unb64u(data["kdf"]["salt"])) == 16 and len(unb64u(data["nonce"])) == 24
    assert len(unb64u(data["box"])) == 32 + 16


def test_secret_never_appears_in_the_file(pair, text):
    for encoded in (b64u(pair.secret), pair.secret.hex(), repr(pair.secret)):
        assert encoded not in text


def test_salt_and_nonce_are_fresh_each_time(pair):
    a, b = json.loads(wrap(pair, PASSPHRASE, **CHEAP)), json.loads(wrap(pair, PASSPHRASE, **CHEAP))
    assert a["kdf"]["salt"] != b["kdf"]["salt"] and a["nonce"] != b["nonce"] and a["box"] != b["box"]


@pytest.mark.parametrize("passphrase", ["", "wrong", PASSPHRASE + " ", PASSPHRASE.upper()])
def test_wrong_passphrase(text, passphrase):
    with pytest.raises(CryptoError):
        unwrap(text, passphrase)


@pytest.mark.parametrize(
    "field,value",
    [
        ("box", lambda d: b64u(bytes(48))),
        ("nonce", lambda d: b64u(bytes(24))),
        ("public_key", lambda d: b64u(KeyPair.generate().public)),
        ("kdf", lambda d: {**d["kdf"], "salt": b64u(bytes(16))}),
        ("kdf", lambda d: {**d["kdf"], "opslimit": 2}),
    ],
)
def test_tampered_file(text, field, value):
    data = json.loads(text)
    data[field] = value(data)
    with pytest.raises(CryptoError):
        unwrap(json.dumps(data), PASSPHRASE)


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        '{"v":1,"kind":"other"}',
        '{"v":2,"kind":"whistle-private-key"}',
        pytest.param("[" * 100_000, id="deeply-nested"),
    ],
)
def test_not_a_key_file(bad):
    with pytest.raises(FormatError):
        unwrap(bad, PASSPHRASE)
    with pytest.raises(FormatError):
        public_key_of(bad)


def test_empty_passphrase_is_refused(pair):
    with pytest.raises(FormatError):
        wrap(pair, "", **CHEAP)


@pytest.mark.parametrize(
    "opslimit, memlimit",
    [(1 << 20, 8192), (1, 1 << 40), (0, 8192), (1, 4096), ("1", 8192), (1, 8192.0), (True, 8192), (5, 8192)],
)
def test_a_cost_outside_the_bounds_is_refused_before_stretching(text, opslimit, memlimit):
    """A key file says what it costs to open: a doctored one made the opener allocate a
    terabyte, or loop for days, before anything was checked."""
    data = json.loads(text)
    data["kdf"].update(opslimit=opslimit, memlimit=memlimit)
    with pytest.raises(FormatError, match="out of range"):
        unwrap(json.dumps(data), PASSPHRASE)
    with pytest.raises(FormatError, match="out of range"):
        wrap(KeyPair.generate(), PASSPHRASE, opslimit=opslimit, memlimit=memlimit)


@pytest.mark.parametrize("kdf", [None, [], "x", {"salt": "AAAAAAAAAAAAAAAAAAAAAA"}])
def test_a_kdf_of_the_wrong_shape_is_a_format_error(text, kdf):
    data = json.loads(text)
    data["kdf"] = kdf
    with pytest.raises(FormatError):
        unwrap(json.dumps(data), PASSPHRASE)
