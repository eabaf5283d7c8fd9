"""Signed notes, checkpoints and cosignatures of the public log (docs/transparency-log.md §4-6).

The formats are C2SP's signed-note, tlog-checkpoint and tlog-cosignature (cosignature/v1,
Ed25519), as used by Go's checksum database and the transparency-dev witnesses, so their
tools can check whistle's log and whistle can check theirs. Parsing is strict: anything
that is not exactly the format is a FormatError. A signature that fails, or a note no
trusted key signed, is the one opaque VerifyError.
"""

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Sequence

import nacl.exceptions
import nacl.signing

from crypto.errors import FormatError, VerifyError
from crypto.tlog import HASH_BYTES, MAX_SIZE

ED25519 = 0x01  # note signature: Ed25519 over the note text
COSIGNATURE_V1 = 0x04  # timestamped Ed25519 witness cosignature
KEY_TYPES = (ED25519, COSIGNATURE_V1)
KEY_ID_BYTES = 4
SIGNATURE_BYTES = 64
TIMESTAMP_BYTES = 8
MAX_TIMESTAMP = 2**63 - 1
MAX_SIGNATURES = 100  # the spec asks to accept at least 16
DASH = "\u2014"  # EM DASH, the first character of every signature line

# Unicode spaces as Go's unicode.IsSpace sees them; the browser twin uses the same list,
# so both sides agree on which key names are valid.
_SPACES = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_NAME = re.compile(f"[^{_SPACES}+\\x00-\\x1f]+")
_CONTROL = re.compile("[\\x00-\\x09\\x0b-\\x1f]")
_DECIMAL = re.compile("0|[1-9][0-9]*")
_KEY_HASH = re.compile("[0-9a-f]{8}")


def b64(data: bytes) -> str:
    """Standard base64 with padding, as every C2SP format uses."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Strict standard base64: FormatError unless ``text`` is exactly the encoding of its bytes."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise FormatError("invalid base64") from exc
    if b64(data) != text:
        raise FormatError("invalid base64")
    return data


def check_name(name: str) -> str:
    """A key name: non-empty, no Unicode space, no '+', no control character."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise FormatError("invalid key name")
    return name


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4] (signed-note, tlog-cosignature)."""
    data = check_name(name).encode("utf-8") + b"\n" + bytes([key_type]) + public_key
    return hashlib.sha256(data).digest()[:KEY_ID_BYTES]


# --- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: its name, type (ED25519 or COSIGNATURE_V1) and Ed25519 key."""

    name: str
    key_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.key_type not in KEY_TYPES or len(self.public_key) != 32:
            raise FormatError("unsupported key")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public_key)

    def vkey(self) -> str:
        """``<name>+<key ID hex>+<base64(type || key)>``, the text that is published."""
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.key_type]) + self.public_key)}"


def parse_vkey(text: str) -> Verifier:
    """A Verifier from its vkey text; FormatError if malformed or its key ID does not match."""
    if not isinstance(text, str):
        raise FormatError("invalid verifier key")
    parts = text.split("+", 2)  # the base64 part may contain '+', the name may not
    if len(parts) != 3 or not _KEY_HASH.fullmatch(parts[1]):
        raise FormatError("invalid verifier key")
    raw = unb64(parts[2])
    if len(raw) != 33:
        raise FormatError("invalid verifier key")
    verifier = Verifier(parts[0], raw[0], raw[1:])
    if verifier.key_id.hex() != parts[1]:
        raise FormatError("verifier key ID does not match its key")
    return verifier


def verifier_of(name: str, key: nacl.signing.SigningKey, key_type: int = ED25519) -> Verifier:
    """The Verifier of a signing key under ``name``."""
    return Verifier(name, key_type, bytes(key.verify_key))


# --- notes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key ID and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{DASH} {self.name} {b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed signed note: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...]

    def encode(self) -> str:
        return format_note(self.text, self.signatures)


@dataclass(frozen=True)
class Verified:
    """What one trusted key signed in a note; ``timestamp`` is set for cosignatures."""

    verifier: Verifier
    signature: Signature
    timestamp: int | None = None


@dataclass(frozen=True)
class OpenedNote:
    """A note at least one trusted key signed, with every trusted signature in it."""

    note: Note
    verified: tuple[Verified, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        return self.note.text


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n") or _CONTROL.search(text):
        raise FormatError("malformed note")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: not text a note can carry
        raise FormatError("malformed note") from exc


def format_note(text: str, signatures: Sequence[Signature]) -> str:
    """The note text, a blank line and one line per signature."""
    _check_text(text)
    if not 1 <= len(signatures) <= MAX_SIGNATURES:
        raise FormatError("a note has 1 to 100 signatures")
    return text + "\n" + "".join(sig.line() for sig in signatures)


def parse_note(data: str | bytes) -> Note:
    """Split a signed note into text and signature lines; FormatError unless well formed."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError("malformed note") from exc
    _check_text(data)
    split = data.rfind("\n\n")
    if split < 0:
        raise FormatError("malformed note")
    text, lines = data[: split + 1], data[split + 2 : -1].split("\n")
    if not 1 <= len(lines) <= MAX_SIGNATURES:
        raise FormatError("malformed note")
    signatures: list[Signature] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise FormatError("malformed note")
        name, raw = check_name(parts[1]), unb64(parts[2])
        if len(raw) <= KEY_ID_BYTES or (name, raw[:KEY_ID_BYTES]) in seen:
            raise FormatError("malformed note")
        seen.add((name, raw[:KEY_ID_BYTES]))
        signatures.append(Signature(name, raw[:KEY_ID_BYTES], raw[KEY_ID_BYTES:]))
    return Note(text, tuple(signatures))


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: a header line, a time line, then the checkpoint body."""
    _check_timestamp(timestamp)
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def sign(text: str, name: str, key: nacl.signing.SigningKey) -> Signature:
    """A note signature (type 0x01) of ``text`` by ``key`` under ``name``."""
    _check_text(text)
    signature = key.sign(text.encode("utf-8")).signature
    return Signature(name, key_id(name, ED25519, bytes(key.verify_key)), signature)


def cosign(text: str, name: str, key: nacl.signing.SigningKey, timestamp: int) -> Signature:
    """A cosignature/v1 (type 0x04) of checkpoint ``text`` made at POSIX time ``timestamp``."""
    _check_text(text)
    signature = key.sign(cosigned_message(text, timestamp)).signature
    return Signature(
        name,
        key_id(name, COSIGNATURE_V1, bytes(key.verify_key)),
        timestamp.to_bytes(TIMESTAMP_BYTES, "big") + signature,
    )


def sign_note(text: str, name: str, key: nacl.signing.SigningKey) -> str:
    """``text`` signed by one key, as a complete signed note."""
    return format_note(text, [sign(text, name, key)])


def verify_signature(verifier: Verifier, text: str, signature: Signature) -> int | None:
    """Check one signature line against its key; the timestamp for a cosignature.

    VerifyError if it does not verify (or belongs to another key).
    """
    if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
        raise VerifyError()
    timestamp: int | None = None
    raw = signature.signature
    message = text.encode("utf-8")
    if verifier.key_type == COSIGNATURE_V1:
        if len(raw) != TIMESTAMP_BYTES + SIGNATURE_BYTES:
            raise VerifyError()
        timestamp = int.from_bytes(raw[:TIMESTAMP_BYTES], "big")
        if timestamp > MAX_TIMESTAMP:
            raise VerifyError()
        message, raw = cosigned_message(text, timestamp), raw[TIMESTAMP_BYTES:]
    if len(raw) != SIGNATURE_BYTES:
        raise VerifyError()
    try:
        nacl.signing.VerifyKey(verifier.public_key).verify(message, raw)
    except nacl.exceptions.CryptoError as exc:  # BadSignatureError and friends
        raise VerifyError() from exc
    return timestamp


def open_note(data: str | bytes, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Parse a note and verify it against trusted keys (signed-note's rules).

    Lines from unknown keys are ignored; a line from a known key that fails rejects the
    note; a note without any verified line is rejected. VerifyError in both cases.
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = []
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is not None:
            timestamp = verify_signature(verifier, note.text, signature)
            verified.append(Verified(verifier, signature, timestamp))
    if not verified:
        raise VerifyError()
    return OpenedNote(note, tuple(verified))


# --- checkpoints ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its size and root (tlog-checkpoint note text)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise FormatError("invalid origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_SIZE:
            raise FormatError("invalid tree size")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_BYTES:
            raise FormatError("invalid root hash")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL.search(line):
                raise FormatError("invalid extension line")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in \\n."""
        lines = [self.origin, str(self.size), b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """A Checkpoint from its note text; FormatError unless exactly the format."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not _DECIMAL.fullmatch(lines[1]) or len(lines[1]) > 19:
        raise FormatError("malformed checkpoint")
    checkpoint = Checkpoint(lines[0], int(lines[1]), unb64(lines[2]), tuple(lines[3:]))
    if checkpoint.body() != text:
        raise FormatError("malformed checkpoint")
    return checkpoint


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A checkpoint the log signed, with the cosigners that verifiably cosigned it."""

    checkpoint: Checkpoint
    note: Note
    cosignatures: dict[str, int]  # cosigner name -> the time it states


def sign_checkpoint(checkpoint: Checkpoint, key: nacl.signing.SigningKey) -> str:
    """The signed checkpoint note; the log's key name is its origin (docs §5)."""
    return sign_note(checkpoint.body(), checkpoint.origin, key)


def open_checkpoint(
    data: str | bytes, log: Verifier, cosigners: Sequence[Verifier] = (), quorum: int = 0
) -> OpenedCheckpoint:
    """Verify a signed checkpoint: the log's own signature, and ``quorum`` cosigners.

    VerifyError unless ``log`` (an ED25519 key named as the origin) signed it, every line
    from a known cosigner verifies, and at least ``quorum`` distinct cosigners did.
    """
    if log.key_type != ED25519 or any(c.key_type != COSIGNATURE_V1 for c in cosigners):
        raise FormatError("log keys are type 0x01, cosigner keys type 0x04")
    opened = open_note(data, [log, *cosigners])
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != log.name or not any(v.verifier == log for v in opened.verified):
        raise VerifyError()
    cosignatures = {
        v.verifier.name: v.timestamp for v in opened.verified if v.verifier != log and v.timestamp is not None
    }
    if len(cosignatures) < quorum:
        raise VerifyError()
    return OpenedCheckpoint(checkpoint, opened.note, cosignatures)


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise FormatError("timestamp must be a whole number below 2^63")
