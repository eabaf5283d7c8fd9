"""The library's exceptions. Every failed decryption raises the same opaque CryptoError."""


class CryptoError(Exception):
    """Raised when anything sealed fails to open: wrong key, tampering, truncation.

    The message is deliberately the same for every cause so that callers (and through
    them, remote parties) learn nothing about which check failed.
    """

    def __init__(self, message: str = "decryption failed") -> None:
        super().__init__(message)


class FormatError(ValueError):
    """Raised when an input is not well formed (bad base64, wrong field, unknown version)."""


class ReceiptError(ValueError):
    """Raised when a receipt code has the wrong length or fails its check digit.

    ``reason`` is ``"bad_length"`` or ``"bad_check"`` so a form can say which.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VerifyError(CryptoError):
    """Raised when a proof, a signed note or a cosignature does not verify.

    Same message for every cause (wrong root, changed hash, bad signature, no trusted
    signature), like CryptoError: a caller learns that the check failed, not where.
    """

    def __init__(self) -> None:
        super().__init__("verification failed")
