"""Committee member accounts: invitations, passwords (argon2id), TOTP, authentication.

Who a member is in the organisation (unit, own departments, role) is read from the rules
file by username; the database only holds credentials and the member's public key.
"""

import datetime as dt
import hashlib
import hmac
import re
import secrets

import nacl.bindings as sodium
import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crypto.keys import derive, random_bytes
from whistle.custody import audit
from whistle.security import passwords
from whistle.models import CaseGrant, Member
from whistle.rules.parse import USERNAME  # the rules file's own test: a listed member can be invited

MIN_PASSWORD = 12
TOTP_ISSUER = "whistle"
TOTP_STEP_SECONDS = 30  # pyotp's default interval, which every authenticator app uses


class EnrolmentError(Exception):
    """Raised when an invitation is unknown or used, or a chosen password is too weak."""


def _totp_key(instance_secret: bytes) -> bytes:
    return derive(instance_secret, "whistle/v1/member/totp-at-rest")


def seal_totp(instance_secret: bytes, secret: str) -> bytes:
    """Encrypt a TOTP secret at rest (a database copy alone does not give second factors)."""
    nonce = random_bytes(24)
    return nonce + sodium.crypto_secretbox(secret.encode("ascii"), nonce, _totp_key(instance_secret))


def open_totp(instance_secret: bytes, blob: bytes) -> str:
    """Decrypt a stored TOTP secret."""
    return sodium.crypto_secretbox_open(blob[24:], blob[:24], _totp_key(instance_secret)).decode("ascii")


def account_state(db: Session, username: str) -> str:
    """``none``, ``invited``, ``enrolled`` or ``deactivated``: what an invitation finds, for
    the audit log. Inviting an enrolled account again wipes their password, second factor
    and key (a lost phone or passphrase), so the overseer must be able to tell it from a
    first invitation."""
    member = db.scalar(select(Member).where(Member.username == username))
    if member is None:
        return "none"
    if not member.active:
        return "deactivated"
    return "enrolled" if member.enrolled_on is not None else "invited"


def invite(db: Session, username: str, on: dt.date) -> str:
    """Create (or renew) the one-time enrolment token of ``username``; returns the token.

    Inviting a deactivated account switches it back on, to be enrolled afresh: until the
    link is used it has no password, second factor or key, so it can neither log in nor be
    sealed to, like any new invitee. (Left deactivated, the link would be refused.) The
    cases they held before leaving are not theirs again: their grants are dropped, and a
    colleague hands a case on again if it should be."""
    if not USERNAME.match(username):
        raise EnrolmentError("bad username")
    token = secrets.token_urlsafe(24)
    member = db.scalar(select(Member).where(Member.username == username))
    if member is None:
        member = Member(username=username, created_on=on, active=True, totp_last_step=0)
        db.add(member)
    if not member.active:
        db.execute(delete(CaseGrant).where(CaseGrant.member_id == member.id))
    member.active = True
    member.invite_hash = hashlib.sha256(token.encode()).digest()
    member.password_hash = None  # re-enrolment starts from scratch
    member.totp_secret = None
    member.public_key = None
    member.wrapped_key = None
    member.enrolled_on = None
    member.confirmed_on = None  # a second person confirms the new enrolment (whistle.committee.enrolment)
    db.flush()
    return token


def invite_recorded(db: Session, username: str, on: dt.date, *, by: str | None) -> str:
    """``invite``, with its audit entry (who invited, and what the account was before): the
    Members page (``by`` the administrator) and the console (``by`` None, the first
    administrator) invite the same way."""
    before = account_state(db, username)
    token = invite(db, username, on)
    audit.record(db, "invite", actor=by, on=on, member=username, before=before)
    return token


def by_invite(db: Session, token: str) -> Member:
    """The member an unused invitation token belongs to."""
    digest = hashlib.sha256(str(token).encode()).digest()
    member = db.scalar(select(Member).where(Member.invite_hash == digest))
    if member is None or not member.active:
        raise EnrolmentError("unknown or used invitation")
    return member


def new_totp_secret() -> str:
    """A fresh base32 TOTP secret."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str, issuer: str = TOTP_ISSUER) -> str:
    """otpauth:// URI for authenticator apps."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def check_totp(secret: str, code: str, claim) -> int | None:
    """The time step a code matches (±1 step), if ``claim(step)`` lets it be used (True: not
    used before); else None."""
    code = re.sub(r"\s", "", str(code or ""))
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(dt.datetime.now(dt.timezone.utc))
    for step in (now, now - 1, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if claim(step) else None
    return None


def step_claim(used_steps, secret: str):
    """``check_totp``'s claim for the TOTP ``secret``: a step counts as used in ``used_steps``
    (a spent store: memory or Redis, like sessions) until its codes are refused anyway, under
    a hash of the secret and the step (a new secret, enrolled afresh, starts clean). Not in
    the database: the step a member last used is the time of their last login, to the
    half-minute."""

    def claim(step: int) -> bool:
        name = hashlib.sha256(f"{secret}:{step}".encode("ascii")).hexdigest()[:32]
        return used_steps.add(name, (step + 3) * TOTP_STEP_SECONDS)

    return claim


def set_password(member: Member, password: str) -> None:
    """Hash and set a password; EnrolmentError if too short."""
    if len(password) < MIN_PASSWORD:
        raise EnrolmentError("password too short")
    member.password_hash = passwords.current().hash(password)


def complete_enrolment(
    member: Member,
    *,
    password: str,
    totp_secret_blob: bytes,
    public_key: bytes | None,
    wrapped_key: str | None,
    on: dt.date,
) -> None:
    """Finish enrolment: password, second factor, key (none for admins), invitation used up."""
    set_password(member, password)
    member.totp_secret = totp_secret_blob
    member.public_key = public_key
    member.wrapped_key = wrapped_key
    member.invite_hash = None
    member.enrolled_on = on


def authenticate(
    db: Session, instance_secret: bytes, username: str, password: str, code: str, used_steps
) -> Member | None:
    """The member if username, password and TOTP code all match, the code's step not used
    before (``used_steps``, see ``step_claim``); None otherwise.

    Always spends one argon2 verification so an unknown username takes as long as a known one.
    """
    member = db.scalar(select(Member).where(Member.username == str(username)[:64]))
    stored = member.password_hash if member is not None and member.password_hash else None
    password_ok = passwords.current().check(stored, str(password))  # one verification, always
    if not password_ok or not member.active or member.totp_secret is None:
        return None
    secret = open_totp(instance_secret, member.totp_secret)
    if check_totp(secret, code, step_claim(used_steps, secret)) is None:
        return None
    if passwords.current().needs_rehash(member.password_hash):
        member.password_hash = passwords.current().hash(str(password))
    return member
