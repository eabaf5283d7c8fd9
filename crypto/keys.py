"""X25519 key pairs, key ids and label-separated key derivation."""

from dataclasses import dataclass, field

import nacl.bindings as sodium
import nacl.encoding
import nacl.hash
import nacl.pwhash.argon2id as argon2id
import nacl.utils

from crypto.encoding import b64u
from crypto.errors import FormatError

KEY_BYTES = 32
SALT_BYTES = argon2id.SALTBYTES  # 16


def derive(key: bytes, label: str, size: int = 32) -> bytes:
    """derive(key, label) = BLAKE2b(message=label, key=key): one label per derived key."""
    if not label.startswith("whistle/v1/"):
        raise ValueError("labels are namespaced under whistle/v1/")
    return nacl.hash.blake2b(label.encode("utf-8"), digest_size=size, key=key, encoder=nacl.encoding.RawEncoder)


def kid(public_key: bytes) -> str:
    """Key id of an X25519 public key: base64url of a 16-byte BLAKE2b hash."""
    if len(public_key) != KEY_BYTES:
        raise FormatError("public key must be 32 bytes")
    return b64u(nacl.hash.blake2b(public_key, digest_size=16, encoder=nacl.encoding.RawEncoder))


# A key or share file says what it costs to open (FORMAT.md §5): outside these bounds it is
# refused before any stretching, so a doctored file cannot make its opener allocate or
# compute without bound, nor pass off a trivially cheap wrapping.
FILE_OPSLIMIT = (argon2id.OPSLIMIT_MIN, argon2id.OPSLIMIT_SENSITIVE)  # 1 .. 4
FILE_MEMLIMIT = (argon2id.MEMLIMIT_MIN, argon2id.MEMLIMIT_SENSITIVE)  # 8 KiB .. 1 GiB


def check_file_cost(opslimit: object, memlimit: object) -> None:
    """FormatError unless (opslimit, memlimit) are integers within a key file's bounds."""
    if type(opslimit) is not int or not FILE_OPSLIMIT[0] <= opslimit <= FILE_OPSLIMIT[1]:
        raise FormatError("kdf opslimit out of range")
    if type(memlimit) is not int or not FILE_MEMLIMIT[0] <= memlimit <= FILE_MEMLIMIT[1]:
        raise FormatError("kdf memlimit out of range")


def stretch(secret: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    """Argon2id13 to 32 bytes; the one memory-hard step (receipts, passphrases)."""
    if len(salt) != SALT_BYTES:
        raise FormatError("salt must be 16 bytes")
    return argon2id.kdf(32, secret, salt, opslimit=opslimit, memlimit=memlimit)


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair for sealed boxes."""

    public: bytes
    secret: bytes = field(repr=False)  # never in a repr, a log line or a traceback

    @classmethod
    def generate(cls) -> "KeyPair":
        """A fresh random key pair."""
        pk, sk = sodium.crypto_box_keypair()
        return cls(pk, sk)

    @classmethod
    def from_seed(cls, seed: bytes) -> "KeyPair":
        """The deterministic key pair of a 32-byte seed (crypto_box_seed_keypair)."""
        if len(seed) != KEY_BYTES:
            raise FormatError("seed must be 32 bytes")
        pk, sk = sodium.crypto_box_seed_keypair(seed)
        return cls(pk, sk)

    @property
    def kid(self) -> str:
        """The key id of the public half."""
        return kid(self.public)


def random_bytes(size: int) -> bytes:
    """Bytes from the OS CSPRNG (libsodium randombytes)."""
    return nacl.utils.random(size)


FINGERPRINT_LABEL = b"whistle/v1/enrolment-fingerprint"
FINGERPRINT_GROUPS = 5


def fingerprint(public_key: bytes) -> str:
    """What two people compare out of band to tell that the key a server holds is the one a
    new member's browser made: 5 groups of 5 digits. BLAKE2b-256 of the public key, keyed
    with a label of its own (so it is no kid nor derive output); group i is bytes 4i..4i+3
    as a big-endian integer, mod 100000, zero-padded. About 83 bits: a forger cannot make a
    second key with the same groups."""
    if len(public_key) != KEY_BYTES:
        raise FormatError("public key must be 32 bytes")
    digest = nacl.hash.blake2b(public_key, digest_size=32, key=FINGERPRINT_LABEL, encoder=nacl.encoding.RawEncoder)
    return " ".join(
        f"{int.from_bytes(digest[4 * i : 4 * i + 4], 'big') % 100000:05d}" for i in range(FINGERPRINT_GROUPS)
    )
