"""The split committee key (FORMAT.md §6): M-of-N Shamir shares, each sealed to its holder.

Splitting and combining are SLIP-39 (``shamir-mnemonic``, the Trezor reference
implementation): a maintained, reviewed Shamir scheme over GF(256) with a per-share
checksum and a digest that catches a share from another split. This module adds only the
checks whistle needs (how many shares, from which split) and the share file: the mnemonic
sealed with XChaCha20-Poly1305 under Argon2id(holder's passphrase), the clear fields bound
as associated data.

Fewer than ``threshold`` shares carry no information about the secret (Shamir's scheme is
information-theoretically hiding); ``combine`` says how many are missing.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import nacl.pwhash.argon2id as argon2id
from shamir_mnemonic import MnemonicError, Share, combine_mnemonics, generate_mnemonics

from crypto.encoding import b64u, canon, unb64u
from crypto.errors import CryptoError, FormatError
from crypto.keys import check_file_cost, random_bytes, stretch

KIND = "whistle-key-share"
MIN_THRESHOLD = 2
MAX_SHARES = 16  # SLIP-39: at most 16 member shares in a group
# Same cost as the single committee key file: a share is opened rarely, by its holder.
DEFAULT_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT = argon2id.MEMLIMIT_MODERATE
PADDED_BYTES = 512  # a mnemonic of a 32-byte secret is 33 words, at most 296 bytes
NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24
HOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # also the share's file name
FIELDS = ["v", "kind", "committee_kid", "holder", "index", "threshold", "count", "kdf", "nonce", "box"]


class ShareError(ValueError):
    """The shares given do not make a key: corrupted, from different splits, or the same
    share twice. The message says which."""


class NotEnoughShares(ShareError):
    """Fewer shares than the threshold: nothing can be (or was) learnt about the secret."""

    def __init__(self, have: int, need: int) -> None:
        super().__init__(f"{have} of {need} shares given: {need} needed; nothing was recovered")
        self.have = have
        self.need = need


def check_parameters(threshold: int, count: int) -> None:
    """ValueError unless 2 <= threshold <= count <= 16."""
    if type(threshold) is not int or type(count) is not int:
        raise ValueError("threshold and count must be integers")
    if threshold < MIN_THRESHOLD:
        raise ValueError(f"the threshold must be at least {MIN_THRESHOLD}: one share alone must not open the key")
    if threshold > count:
        raise ValueError(f"the threshold ({threshold}) cannot exceed the number of shares ({count})")
    if count > MAX_SHARES:
        raise ValueError(f"at most {MAX_SHARES} shares")


def split(secret: bytes, threshold: int, count: int) -> list[str]:
    """Split ``secret`` into ``count`` SLIP-39 mnemonics, any ``threshold`` of which rebuild it."""
    check_parameters(threshold, count)
    if not isinstance(secret, bytes) or len(secret) != 32:
        raise ValueError("the secret must be 32 bytes")
    [group] = generate_mnemonics(1, [(threshold, count)], secret)
    return group


def _decode(mnemonic: object) -> Share:
    if not isinstance(mnemonic, str):
        raise ShareError("a share must be a mnemonic string")
    try:
        share = Share.from_mnemonic(mnemonic)
    except MnemonicError as exc:
        raise ShareError("a share is corrupted (its words or checksum are wrong)") from exc
    if (share.group_index, share.group_threshold, share.group_count) != (0, 1, 1):
        raise ShareError("not a whistle share (whistle uses one SLIP-39 group)")
    return share


def share_number(mnemonic: str) -> tuple[int, int]:
    """(index from 1, threshold) recorded in a mnemonic; ShareError if it is corrupted."""
    share = _decode(mnemonic)
    return share.index + 1, share.member_threshold


def combine(mnemonics: Iterable[object]) -> bytes:
    """Rebuild the secret from at least ``threshold`` mnemonics of one split.

    NotEnoughShares with how many were given and how many are needed; ShareError if a share
    is corrupted, the shares come from different splits, or one share number is given twice
    with different contents. Extra shares beyond the threshold are checked for belonging to
    the split; the first ``threshold`` (by number) rebuild the secret.
    """
    decoded = [_decode(m) for m in mnemonics]
    if not decoded:
        raise ShareError("no share given; nothing was recovered")
    if len({s.group_parameters() for s in decoded}) != 1:
        raise ShareError("the shares come from different key splits")
    by_index: dict[int, Share] = {}
    for share in decoded:
        if by_index.setdefault(share.index, share) != share:
            raise ShareError(f"two different shares both claim number {share.index + 1}")
    need = decoded[0].member_threshold
    if len(by_index) < need:
        raise NotEnoughShares(len(by_index), need)
    chosen = [by_index[i].mnemonic() for i in sorted(by_index)[:need]]
    try:
        return combine_mnemonics(chosen)
    except MnemonicError as exc:  # the SLIP-39 digest did not match
        raise ShareError("the shares do not fit together: one is corrupted or from another split") from exc


# --- share files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareHeader:
    """The clear fields of a share file: enough to check a set before any passphrase."""

    committee_kid: str
    holder: str
    index: int
    threshold: int
    count: int

    def associated_data(self) -> bytes:
        """What the AEAD binds to the sealed mnemonic: every clear field but the KDF and nonce."""
        fields = {
            "v": 1,
            "kind": KIND,
            "committee_kid": self.committee_kid,
            "holder": self.holder,
            "index": self.index,
            "threshold": self.threshold,
            "count": self.count,
        }
        return f"whistle/v1/key-share\n{canon(fields)}".encode("ascii")


def _check_header(header: ShareHeader) -> None:
    if not isinstance(header.holder, str) or not HOLDER.match(header.holder):
        raise FormatError("holder names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not isinstance(header.committee_kid, str) or len(unb64u(header.committee_kid)) != 16:
        raise FormatError("committee_kid must be a key id")
    for name in ("index", "threshold", "count"):
        if type(getattr(header, name)) is not int:
            raise FormatError(f"{name} must be an integer")
    try:
        check_parameters(header.threshold, header.count)
    except ValueError as exc:
        raise FormatError(str(exc)) from exc
    if not 1 <= header.index <= header.count:
        raise FormatError("index must be between 1 and count")


def seal_share(
    mnemonic: str,
    header: ShareHeader,
    passphrase: str,
    *,
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
) -> str:
    """The share file of ``mnemonic``: sealed under ``passphrase``, ``header`` in clear."""
    _check_header(header)
    check_file_cost(opslimit, memlimit)
    if share_number(mnemonic) != (header.index, header.threshold):
        raise ValueError("the header's index and threshold must be the mnemonic's")
    if len(passphrase) < 1:
        raise FormatError("empty passphrase")
    salt = random_bytes(argon2id.SALTBYTES)
    nonce = random_bytes(NONCE_BYTES)
    key = stretch(passphrase.encode("utf-8"), salt, opslimit, memlimit)
    padded = sodium.sodium_pad(mnemonic.encode("utf-8"), PADDED_BYTES)
    if len(padded) != PADDED_BYTES:
        raise ValueError("mnemonic too long")
    box = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(padded, header.associated_data(), nonce, key)
    return (
        json.dumps(
            {
                "v": 1,
                "kind": KIND,
                "committee_kid": header.committee_kid,
                "holder": header.holder,
                "index": header.index,
                "threshold": header.threshold,
                "count": header.count,
                "kdf": {"salt": b64u(salt), "opslimit": opslimit, "memlimit": memlimit},
                "nonce": b64u(nonce),
                "box": b64u(box),
            },
            indent=2,
        )
        + "\n"
    )


def _parse(text: str) -> tuple[ShareHeader, dict[str, Any]]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise FormatError("not a share file") from exc
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise FormatError("not a whistle key-share file")
    if data.get("v") != 1 or isinstance(data.get("v"), bool):
        raise FormatError("unsupported share file version")
    if (
        sorted(data) != sorted(FIELDS)
        or not isinstance(data["kdf"], dict)
        or sorted(data["kdf"]) != ["memlimit", "opslimit", "salt"]
    ):
        raise FormatError("unexpected or missing share file fields")
    header = ShareHeader(data["committee_kid"], data["holder"], data["index"], data["threshold"], data["count"])
    _check_header(header)
    check_file_cost(data["kdf"]["opslimit"], data["kdf"]["memlimit"])
    return header, data


def read_header(text: str) -> ShareHeader:
    """The clear fields of a share file (no passphrase needed); FormatError if malformed."""
    return _parse(text)[0]


def open_share(text: str, passphrase: str) -> str:
    """The mnemonic sealed in a share file. CryptoError for a wrong passphrase or any change
    to the file; FormatError if it is not a share file."""
    header, data = _parse(text)
    kdf = data["kdf"]
    salt, nonce, box = unb64u(kdf["salt"]), unb64u(data["nonce"]), unb64u(data["box"])
    if len(salt) != argon2id.SALTBYTES or len(nonce) != NONCE_BYTES:
        raise FormatError("bad salt or nonce")
    key = stretch(passphrase.encode("utf-8"), salt, kdf["opslimit"], kdf["memlimit"])
    try:
        padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(box, header.associated_data(), nonce, key)
        mnemonic = sodium.sodium_unpad(padded, PADDED_BYTES).decode("utf-8")
    except Exception as exc:  # noqa: BLE001 - one opaque error for every cause
        raise CryptoError() from exc
    try:
        number = share_number(mnemonic)
    except ShareError as exc:
        raise CryptoError() from exc
    if number != (header.index, header.threshold):
        raise CryptoError()
    return mnemonic
