"""Signed statements of the audit chain head (Ed25519, the committee's signing key).

The committee signs, from time to time, a short statement of how long its audit log is and
what its last hash is. Outsiders keep copies; a later rewrite of history (even one that
recomputes every hash) no longer matches a statement they hold, and nobody without the
committee key can make a new statement that does.

Signing key
    No separate key file exists. The Ed25519 key pair is derived from the committee's X25519
    secret key, so whoever can open the committee key (the key file and its passphrase, or
    the key recovered from its custodians' shares) can sign, and nobody else::

        seed        = derive(committee_secret, "whistle/v1/audit-signing")
                    = BLAKE2b-256(message="whistle/v1/audit-signing", key=committee_secret)
        signing key = Ed25519 key pair of seed (crypto_sign_seed_keypair)

    The verify key (32 bytes, base64url) is published on the transparency page next to the
    committee key's id; it cannot be computed from the X25519 public key.

Statement
    A flat JSON object in canonical form (``crypto.encoding.canon``: sorted keys, no spaces,
    ASCII)::

        {"committee_kid":"<kid of the committee key>","day":"YYYY-MM-DD",
         "head":"<64 hex: entry_hash of entry number length, or 64 zeros when empty>",
         "kind":"whistle-audit-statement","length":<entries>,"v":1}

    The signature is a detached Ed25519 signature (64 bytes, base64url) over the UTF-8
    bytes of that canonical text.

Verifying by hand (Python with PyNaCl)::

    nacl.signing.VerifyKey(unb64u(verify_key)).verify(canonical.encode(), unb64u(signature))
"""

import datetime as dt
import re
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing

from crypto.encoding import b64u, canon, unb64u
from crypto.errors import CryptoError, FormatError
from crypto.keys import KEY_BYTES, derive

LABEL = "whistle/v1/audit-signing"
KIND = "whistle-audit-statement"
VERSION = 1
SIGNATURE_BYTES = 64
_HEAD = re.compile(r"^[0-9a-f]{64}$")
_KID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def signing_key(committee_secret: bytes) -> nacl.signing.SigningKey:
    """The committee's Ed25519 signing key, derived from its X25519 secret key."""
    if len(committee_secret) != KEY_BYTES:
        raise FormatError("committee secret key must be 32 bytes")
    return nacl.signing.SigningKey(derive(committee_secret, LABEL))


def verify_key_of(committee_secret: bytes) -> bytes:
    """The 32-byte verify key that goes with ``committee_secret``."""
    return bytes(signing_key(committee_secret).verify_key)


def statement(committee_kid: str, length: int, head: str, day: dt.date | str) -> dict[str, Any]:
    """A checked statement object (``day`` as a date or ISO text)."""
    day_text = day.isoformat() if isinstance(day, dt.date) else day
    obj = {"v": VERSION, "kind": KIND, "committee_kid": committee_kid, "length": length, "head": head, "day": day_text}
    check(obj)
    return obj


def check(obj: dict[str, Any]) -> None:
    """FormatError unless ``obj`` is a well-formed statement."""
    if not isinstance(obj, dict) or set(obj) != {"v", "kind", "committee_kid", "length", "head", "day"}:
        raise FormatError("a statement has exactly v, kind, committee_kid, length, head and day")
    if obj["v"] != VERSION or obj["kind"] != KIND:
        raise FormatError("not a version-1 audit statement")
    if not isinstance(obj["committee_kid"], str) or not _KID.match(obj["committee_kid"]):
        raise FormatError("committee_kid must be a key id")
    if isinstance(obj["length"], bool) or not isinstance(obj["length"], int) or obj["length"] < 0:
        raise FormatError("length must be a whole number")
    if not isinstance(obj["head"], str) or not _HEAD.match(obj["head"]):
        raise FormatError("head must be 64 lowercase hex digits")
    try:
        if not isinstance(obj["day"], str) or dt.date.fromisoformat(obj["day"]).isoformat() != obj["day"]:
            raise ValueError
    except ValueError as exc:
        raise FormatError("day must be YYYY-MM-DD") from exc


def canonical(obj: dict[str, Any]) -> str:
    """The exact text that is signed."""
    check(obj)
    return canon(obj)


def sign(key: nacl.signing.SigningKey, obj: dict[str, Any]) -> str:
    """Detached signature (base64url) over the canonical statement."""
    return b64u(key.sign(canonical(obj).encode("utf-8")).signature)


def verify(verify_key: bytes | str, obj: dict[str, Any], signature: str) -> None:
    """Check a statement's signature; CryptoError if it is wrong, FormatError if malformed."""
    raw_key = unb64u(verify_key) if isinstance(verify_key, str) else verify_key
    raw_sig = unb64u(signature)
    if len(raw_key) != sodium.crypto_sign_PUBLICKEYBYTES or len(raw_sig) != SIGNATURE_BYTES:
        raise FormatError("verify key must be 32 bytes and signature 64 bytes")
    try:
        nacl.signing.VerifyKey(raw_key).verify(canonical(obj).encode("utf-8"), raw_sig)
    except nacl.exceptions.CryptoError as exc:  # BadSignatureError and friends
        raise CryptoError("bad signature") from exc
