"""Private-key files (FORMAT.md §5): an X25519 secret key wrapped under a passphrase."""

import json
from typing import Any

import nacl.bindings as sodium
import nacl.pwhash.argon2id as argon2id

from crypto.encoding import b64u, unb64u
from crypto.errors import CryptoError, FormatError
from crypto.keys import KeyPair, check_file_cost, kid, random_bytes, stretch

KIND = "whistle-private-key"
# Sensitive-level cost: this file is the committee's crown jewel and is opened rarely.
DEFAULT_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT = argon2id.MEMLIMIT_MODERATE


def wrap(
    keypair: KeyPair, passphrase: str, *, opslimit: int = DEFAULT_OPSLIMIT, memlimit: int = DEFAULT_MEMLIMIT
) -> str:
    """Serialise ``keypair`` with its secret half sealed under ``passphrase``."""
    if len(passphrase) < 1:
        raise FormatError("empty passphrase")
    check_file_cost(opslimit, memlimit)
    salt = random_bytes(argon2id.SALTBYTES)
    nonce = random_bytes(sodium.crypto_secretbox_NONCEBYTES)
    wrapping = stretch(passphrase.encode("utf-8"), salt, opslimit, memlimit)
    box = sodium.crypto_secretbox(keypair.secret, nonce, wrapping)
    return (
        json.dumps(
            {
                "v": 1,
                "kind": KIND,
                "kid": kid(keypair.public),
                "public_key": b64u(keypair.public),
                "kdf": {"salt": b64u(salt), "opslimit": opslimit, "memlimit": memlimit},
                "nonce": b64u(nonce),
                "box": b64u(box),
            },
            indent=2,
        )
        + "\n"
    )


def public_key_of(text: str) -> bytes:
    """The public key recorded in a key file (no passphrase needed)."""
    return unb64u(_parse(text)["public_key"])


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise FormatError("not a key file") from exc
    if not isinstance(data, dict) or data.get("kind") != KIND or data.get("v") != 1:
        raise FormatError("not a whistle private-key file")
    return data


def unwrap(text: str, passphrase: str) -> KeyPair:
    """Open a key file; CryptoError for a wrong passphrase or a tampered file."""
    data = _parse(text)
    kdf = data.get("kdf")
    if not isinstance(kdf, dict) or not isinstance(kdf.get("salt"), str):
        raise FormatError("not a whistle private-key file")
    check_file_cost(kdf.get("opslimit"), kdf.get("memlimit"))  # before any stretching
    wrapping = stretch(passphrase.encode("utf-8"), unb64u(kdf["salt"]), kdf["opslimit"], kdf["memlimit"])
    try:
        secret = sodium.crypto_secretbox_open(unb64u(data["box"]), unb64u(data["nonce"]), wrapping)
    except Exception as exc:  # noqa: BLE001
        raise CryptoError() from exc
    public = sodium.crypto_scalarmult_base(secret)
    if public != unb64u(data["public_key"]):
        raise CryptoError()
    return KeyPair(public, secret)
