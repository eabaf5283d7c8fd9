"""The sealed envelope (FORMAT.md §3): one content key, sealed to every recipient."""

import json
from dataclasses import dataclass, field
from typing import Any, NoReturn

import nacl.bindings as sodium

from crypto.encoding import b64u, canon, unb64u
from crypto.errors import CryptoError, FormatError
from crypto.keys import KeyPair, derive, kid, random_bytes

VERSION = 2  # what sealers write
VERSIONS = (1, 2)  # what readers open: version 1 envelopes were stored before the reporter key was bound
KINDS = ("report", "message", "reply", "note", "identity", "survey")
NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24
MIN_BUCKET = 1024
MAX_RECIPIENTS = 64
REPORTER_KEY_FIELD = "rk"  # a version 2 report's header: rk(reporter public key)
REPORTER_KEY_LABEL = "whistle/v1/reporter-key"
# The verdicts of reporter_key_binding.
BOUND, UNBOUND, MISMATCH = "bound", "unbound", "mismatch"


def bucket(length: int) -> int:
    """Padded body size: the smallest power of two >= length + 1, at least 1 KiB."""
    return max(MIN_BUCKET, 1 << length.bit_length())


def associated_data(kind: str, header: dict[str, Any], version: int = VERSION) -> bytes:
    """What the AEAD authenticates besides the body: the version, the kind and the clear
    header (version 1 wrote "whistle/v1/", so its envelopes still open)."""
    return f"whistle/v{version}/{kind}\n{canon(header)}".encode("ascii")


def reporter_key_id(public_key: bytes) -> str:
    """rk(pk): the reporter key id a version 2 report binds (keyed BLAKE2b under its own label)."""
    if len(public_key) != 32:
        raise FormatError("public key must be 32 bytes")
    return b64u(derive(public_key, REPORTER_KEY_LABEL, 16))


def bind_reporter_key(header: dict[str, Any], public_key: bytes) -> dict[str, Any]:
    """A report's routing header with the reporter's key id added."""
    return dict(header, **{REPORTER_KEY_FIELD: reporter_key_id(public_key)})


def _check_reporter_key_field(envelope: dict[str, Any]) -> None:
    """A version 2 report must carry rk, a b64u string of 16 bytes."""
    if envelope["v"] != 2 or envelope["kind"] != "report" or not isinstance(envelope["header"], dict):
        return  # (a header that is no object is refused by canon)
    value = envelope["header"].get(REPORTER_KEY_FIELD)
    try:
        ok = isinstance(value, str) and len(unb64u(value)) == 16
    except FormatError:
        ok = False
    if not ok:
        raise FormatError("bad_reporter_key")


def reporter_key_binding(report: dict[str, Any], public_key: bytes) -> str:
    """BOUND if ``public_key`` is the reporter key bound in ``report``, MISMATCH if another one
    is, UNBOUND for a version 1 report (it binds none). It reads the clear header: it means
    something only once the report has opened (the header is authenticated with the body)."""
    validate(report)
    if report["kind"] != "report":
        raise FormatError("only a report binds a reporter key")
    if report["v"] == 1:
        return UNBOUND
    return BOUND if report["header"][REPORTER_KEY_FIELD] == reporter_key_id(public_key) else MISMATCH


def body_key(content_key: bytes) -> bytes:
    """The AEAD key of the body."""
    return derive(content_key, "whistle/v1/body")


@dataclass
class Sealed:
    """A sealed envelope plus the content key that made it (kept only by the sealer)."""

    envelope: dict[str, Any]
    content_key: bytes = field(repr=False)


def seal(
    kind: str,
    header: dict[str, Any],
    body: dict[str, Any],
    recipients: list[bytes],
    *,
    content_key: bytes | None = None,
    nonce: bytes | None = None,
    version: int = VERSION,
) -> Sealed:
    """Seal ``body`` for ``recipients`` (X25519 public keys).

    ``content_key`` and ``nonce`` are only passed by the vector generator and by callers
    that already encrypted attachments under a content key; otherwise both are random.
    A report's header must bind the reporter's key (bind_reporter_key). ``version`` 1 is
    for the vector generator only.
    """
    if kind not in KINDS:
        raise FormatError("unknown kind")
    if isinstance(version, bool) or version not in VERSIONS:
        raise FormatError("bad_version")
    _check_reporter_key_field({"v": version, "kind": kind, "header": header})
    keys = list(dict.fromkeys(recipients))  # drop duplicates, keep order
    if not keys or len(keys) > MAX_RECIPIENTS:
        raise FormatError("an envelope needs 1 to 64 recipients")
    content_key = content_key if content_key is not None else random_bytes(32)
    nonce = nonce if nonce is not None else random_bytes(NONCE_BYTES)
    plain = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    padded = sodium.sodium_pad(plain, bucket(len(plain)))
    ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        padded, associated_data(kind, header, version), nonce, body_key(content_key)
    )
    envelope = {
        "v": version,
        "kind": kind,
        "header": dict(header),
        "recipients": [{"kid": kid(pk), "key": b64u(sodium.crypto_box_seal(content_key, pk))} for pk in keys],
        "nonce": b64u(nonce),
        "body": b64u(ciphertext),
    }
    return Sealed(envelope, content_key)


def validate(envelope: object) -> dict[str, Any]:
    """Check an envelope's shape without opening it; return it. Raises FormatError."""
    if not isinstance(envelope, dict):
        raise FormatError("envelope must be an object")
    version = envelope.get("v")
    # bool is an int in Python (True == 1): without the type check {"v": true} would pass.
    if isinstance(version, bool) or version not in VERSIONS:
        raise FormatError("bad_version")
    if set(envelope) != {"v", "kind", "header", "recipients", "nonce", "body"}:
        raise FormatError("unexpected or missing envelope fields")
    if envelope["kind"] not in KINDS:
        raise FormatError("unknown kind")
    canon(envelope["header"])
    _check_reporter_key_field(envelope)
    recipients = envelope["recipients"]
    if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise FormatError("an envelope needs 1 to 64 recipients")
    seen = set()
    for entry in recipients:
        if not isinstance(entry, dict) or set(entry) != {"kid", "key"}:
            raise FormatError("bad recipient entry")
        if len(unb64u(entry["kid"])) != 16 or entry["kid"] in seen:
            raise FormatError("bad recipient kid")
        seen.add(entry["kid"])
        if len(unb64u(entry["key"])) != 32 + sodium.crypto_box_SEALBYTES:
            raise FormatError("bad sealed key")
    if len(unb64u(envelope["nonce"])) != NONCE_BYTES:
        raise FormatError("bad nonce")
    body = unb64u(envelope["body"])
    if len(body) < MIN_BUCKET + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES:
        raise FormatError("body too short")
    return envelope


def recipient_kids(envelope: dict[str, Any]) -> list[str]:
    """The key ids an envelope is sealed to."""
    return [entry["kid"] for entry in envelope["recipients"]]


def open_content_key(envelope: dict[str, Any], keypair: KeyPair) -> bytes:
    """Recover the content key with ``keypair``; CryptoError if not a recipient."""
    validate(envelope)
    for entry in envelope["recipients"]:
        if entry["kid"] == keypair.kid:
            try:
                key = sodium.crypto_box_seal_open(unb64u(entry["key"]), keypair.public, keypair.secret)
            except Exception as exc:  # noqa: BLE001 - one opaque error for every cause
                raise CryptoError() from exc
            if len(key) != 32:
                raise CryptoError()
            return key
    raise CryptoError()


def _reject_constant(name: str) -> NoReturn:
    # json.loads accepts NaN/Infinity, which are not JSON; the browser's JSON.parse
    # rejects them, so both sides must, or one body would open in one place only.
    raise ValueError(f"not JSON: {name}")


def open_body(envelope: dict[str, Any], content_key: bytes) -> dict[str, Any]:
    """Decrypt and parse the body with a known content key."""
    try:
        padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            unb64u(envelope["body"]),
            associated_data(envelope["kind"], envelope["header"], envelope["v"]),
            unb64u(envelope["nonce"]),
            body_key(content_key),
        )
        plain = sodium.sodium_unpad(padded, bucket(len(padded) - 1))
        body = json.loads(plain.decode("utf-8"), parse_constant=_reject_constant)
    except Exception as exc:  # noqa: BLE001
        raise CryptoError() from exc
    if not isinstance(body, dict):
        raise CryptoError()
    return body


def open_envelope(envelope: dict[str, Any], keypair: KeyPair) -> tuple[dict[str, Any], bytes]:
    """Open an envelope as one of its recipients: (body, content key)."""
    key = open_content_key(envelope, keypair)
    return open_body(envelope, key), key
