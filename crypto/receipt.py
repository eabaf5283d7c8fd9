"""Receipt codes (FORMAT.md §1) and the reporter keys derived from them (§2)."""

import hmac
import secrets
from dataclasses import dataclass, field

from stdnum import damm

from crypto.encoding import b64u
from crypto.keys import KeyPair, derive, stretch
from crypto.errors import ReceiptError

LOCATOR_DIGITS = 7
SECRET_DIGITS = 20
CODE_DIGITS = LOCATOR_DIGITS + SECRET_DIGITS + 1
# The least receipt cost a site may set (FORMAT.md §2); browsers refuse a follow-up below it.
MIN_OPSLIMIT = 1
MIN_MEMLIMIT = 8 * 1024 * 1024
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def _random_digits(count: int) -> str:
    # secrets.randbelow draws from the OS CSPRNG without modulo bias.
    return "".join(str(secrets.randbelow(10)) for _ in range(count))


@dataclass(frozen=True)
class ReceiptCode:
    """A validated 28-digit receipt code."""

    digits: str

    @classmethod
    def generate(cls, locator: str | None = None) -> "ReceiptCode":
        """A new code; pass ``locator`` to keep one, or let a random one be drawn."""
        locator = locator if locator is not None else random_locator()
        body = locator + _random_digits(SECRET_DIGITS)
        return cls(body + damm.calc_check_digit(body))

    @classmethod
    def parse(cls, text: str) -> "ReceiptCode":
        """Normalise user input (spaces, dashes, full-width digits) and check it.

        Raises ReceiptError("bad_length") or ReceiptError("bad_check").
        """
        digits = "".join(ch for ch in str(text).translate(_FULLWIDTH) if "0" <= ch <= "9")
        if len(digits) != CODE_DIGITS:
            raise ReceiptError("bad_length")
        if not damm.is_valid(digits):
            raise ReceiptError("bad_check")
        return cls(digits)

    @property
    def locator(self) -> str:
        """The non-secret part that selects the case."""
        return self.digits[:LOCATOR_DIGITS]

    def grouped(self) -> str:
        """Seven groups of four digits, for reading aloud and copying."""
        return " ".join(self.digits[i : i + 4] for i in range(0, CODE_DIGITS, 4))

    def __repr__(self) -> str:  # never print the secret by accident
        return f"ReceiptCode(locator={self.locator!r}, secret=<hidden>)"


def random_locator() -> str:
    """A random 7-digit locator (uniqueness is the server's job)."""
    return _random_digits(LOCATOR_DIGITS)


def is_locator(text: str) -> bool:
    """True when ``text`` has the shape of a locator."""
    return isinstance(text, str) and len(text) == LOCATOR_DIGITS and text.isascii() and text.isdigit()


@dataclass(frozen=True)
class ReporterKeys:
    """What a receipt code yields: the lookup token and the reporter's key pair."""

    lookup: bytes = field(repr=False)  # a bearer token for the case: never in a repr
    keypair: KeyPair

    @property
    def verifier(self) -> bytes:
        """What the server stores to recognise ``lookup``."""
        return verifier_of(self.lookup)


def derive_reporter_keys(code: ReceiptCode, salt: bytes, opslimit: int, memlimit: int) -> ReporterKeys:
    """Stretch the code under the case's salt and split it into lookup token and key pair."""
    master = stretch(code.digits.encode("ascii"), salt, opslimit, memlimit)
    lookup = derive(master, "whistle/v1/receipt/lookup")
    seed = derive(master, "whistle/v1/receipt/x25519")
    return ReporterKeys(lookup, KeyPair.from_seed(seed))


COMMITMENT_LABEL = "whistle/v1/log-commitment"


def verifier_of(lookup: bytes) -> bytes:
    """The stored verifier of a lookup token."""
    return derive(lookup, "whistle/v1/receipt/verifier")


def log_commitment(lookup: bytes) -> str:
    """The receipt's commitment in the public log's intake entry (FORMAT.md §2): only the
    holder of the receipt (its lookup token) can recompute it and find their entry."""
    return b64u(derive(lookup, COMMITMENT_LABEL))


def verifier_matches(lookup: bytes, stored: bytes) -> bool:
    """Constant-time comparison of a presented lookup token against a stored verifier."""
    return hmac.compare_digest(verifier_of(lookup), stored)


def fake_salt(instance_secret: bytes, locator: str) -> bytes:
    """The stable salt answered for a locator that has no case (hides existence)."""
    return derive(instance_secret, "whistle/v1/receipt/fake-salt/" + locator)[:16]
