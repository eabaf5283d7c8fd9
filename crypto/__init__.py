"""whistle's sealed formats, built only from libsodium primitives (see FORMAT.md).

This package never imports Flask or the database: it can be reviewed, tested and used
offline (the committee CLI) on its own.
"""

from crypto.errors import CryptoError, FormatError, ReceiptError, VerifyError
from crypto.keys import KeyPair, kid
from crypto.receipt import ReceiptCode, ReporterKeys, derive_reporter_keys, verifier_of

__all__ = [
    "CryptoError",
    "FormatError",
    "ReceiptError",
    "VerifyError",
    "KeyPair",
    "kid",
    "ReceiptCode",
    "ReporterKeys",
    "derive_reporter_keys",
    "verifier_of",
]
