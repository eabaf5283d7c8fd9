"""Errors a request can end in, each with its HTTP status and a translatable message."""

from flask_babel import lazy_gettext as _l


class WhistleError(Exception):
    """Base of the errors that become a clear 4xx page or JSON error, never a 500."""

    status = 400
    code = "bad_request"
    message = _l("The request could not be understood.")

    def __init__(self, message=None, *, detail: str | None = None) -> None:
        super().__init__(detail or self.code)
        if message is not None:
            self.message = message
        self.detail = detail


class InvalidSubmission(WhistleError):
    """Raised when a submission is malformed: bad envelope, unknown routing code, bad field."""

    code = "invalid_submission"
    message = _l("The submission is incomplete or malformed. Please check the form and try again.")


class RecipientsChanged(InvalidSubmission):
    """Raised when an envelope is not sealed to exactly the keys it must be sealed to: most
    often a grant changed after the sender's page read the recipients (it reads them again
    and seals once more)."""

    code = "recipients_changed"
    message = _l("Who can read this case changed in the meantime, so nothing was sent. Please try again.")


class LocatorTaken(WhistleError):
    """Raised when a browser-chosen receipt locator is already in use (the browser retries)."""

    status = 409
    code = "locator_taken"
    message = _l("Please submit again: a new receipt code is needed.")


class NoSuchReceipt(WhistleError):
    """Raised when a receipt code matches no case. Deliberately says nothing more."""

    status = 404
    code = "no_match"
    message = _l("No case matches this receipt code. Check every digit and try again.")


class BadReceipt(WhistleError):
    """Raised when a receipt code fails its length or check-digit test (typo)."""

    code = "bad_receipt"
    message = _l(
        "This receipt code has a typo: it must be 28 digits and its last digit must match. Check it and try again."
    )


class CasePurged(WhistleError):
    """Raised when a message or note is added to a purged case: its tombstone still answers
    the receipt, but nobody could read what is added and retention would never delete it."""

    status = 409
    code = "case_purged"
    message = _l("This report was closed and its records deleted; new messages can no longer be sent.")


class TooLarge(WhistleError):
    """Raised while streaming when a file, the file count or the request is over its limit."""

    status = 413
    code = "too_large"
    message = _l("The upload is too large or has too many files.")


class NotReady(WhistleError):
    """Raised when no committee key exists yet, so nothing can be sealed."""

    status = 503
    code = "not_ready"
    message = _l("The service is not ready to accept reports yet: the committee has not set up its keys.")
