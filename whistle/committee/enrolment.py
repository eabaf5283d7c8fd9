"""Enrolment needs two people: the business rules of inviting, confirming and deactivating
accounts. Views and the CLI call these functions inside their transaction; each function
checks who acts, changes the accounts and writes the audit entry, refusals included (the
caller commits either way).

An invitation (first or again) leaves the account unconfirmed. The invitee enrols (password,
authenticator, and for readers a key made in their browser) and reads the key's fingerprint
(crypto.keys.fingerprint) to a second person, who types it on their own page; it is compared
here with the fingerprint of the key the server holds. Until then the account cannot log
in and is sealed nothing (whistle.triage.routing.KEY_HOLDER). Re-inviting an account
revokes every grant it held and every key re-sealed to its old key: a colleague or the split
committee key hands each case on again, as after a lost passphrase.
"""

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crypto.keys import fingerprint, kid
from whistle.committee import members
from whistle.custody import audit
from whistle.models import CaseGrant, ItemKey, Member, MemberRequest
from whistle.triage.routing import READER_ROLES

CONSOLE = "cli"  # the actor of what the operator does on the server's console
DEACTIVATE = "deactivate"


@dataclass(frozen=True)
class Outcome:
    """What an action did: ``ok`` and a code (``invited``, ``confirmed``, ``requested`` …, or
    the reason of a refusal: ``self``, ``unknown``, ``inviter``, ``not_confirmer``,
    ``not_waiting``, ``fingerprint``, ``no_request``), and the invitation token if one was made."""

    ok: bool
    code: str
    token: str | None = None


def _account(db: Session, username: str) -> Member | None:
    return db.scalar(select(Member).where(Member.username == username))


def enrolment_code(member: Member) -> str | None:
    """The groups the confirmer types: the fingerprint of the member's public key; for an
    account without a key (admin, overseer), of a hash of its second factor as sealed at rest
    (shown on their enrolment page by the server). None before enrolment."""
    if member.enrolled_on is None:
        return None
    if member.public_key is not None:
        return fingerprint(bytes(member.public_key))
    if member.totp_secret is None:
        return None
    return fingerprint(hashlib.blake2b(bytes(member.totp_secret), digest_size=32).digest())


def waiting(member: Member | None) -> bool:
    """Enrolled and active, but not confirmed yet."""
    return member is not None and member.active and member.enrolled_on is not None and member.confirmed_on is None


def confirmed(member: Member | None) -> bool:
    """An account that may act and be sealed to: active, enrolled, confirmed."""
    return member is not None and member.active and member.enrolled_on is not None and member.confirmed_on is not None


def may_confirm(rules, confirmer: str, username: str) -> bool:
    """Does the rules file let ``confirmer`` confirm ``username``'s enrolment? (Who invited
    and whether the confirmer's own account is confirmed are checked by ``confirm``.)"""
    who, whom = rules.member(confirmer), rules.member(username)
    if who is None or whom is None or confirmer == username:
        return False
    return (
        ("admin" in rules.confirmers and who.role == "admin")
        or ("overseer" in rules.confirmers and who.role == "overseer")
        or ("unit_lead" in rules.confirmers and who.role == "unit_lead" and who.unit == whom.unit)
    )


def confirmers_of(db: Session, rules, member: Member) -> list[str]:
    """Who can confirm ``member`` now: for the page the new member lands on."""
    names = [
        m.username
        for m in rules.members
        if m.username != member.invited_by and may_confirm(rules, m.username, member.username)
    ]
    if not names:
        return []
    accounts = db.scalars(select(Member).where(Member.username.in_(names))).all()
    ready = {a.username for a in accounts if confirmed(a)}
    return [n for n in names if n in ready]


def revoke_grants(db: Session, member: Member) -> int:
    """Drop every grant ``member`` holds and every content key re-sealed to their current key;
    returns how many grants went. Their cases count as orphaned if nobody else holds them."""
    grants = db.scalar(select(func.count()).select_from(CaseGrant).where(CaseGrant.member_id == member.id))
    db.execute(delete(CaseGrant).where(CaseGrant.member_id == member.id))
    if member.public_key is not None:
        db.execute(delete(ItemKey).where(ItemKey.kid == kid(bytes(member.public_key))))
    return int(grants or 0)


def invite(db: Session, rules, actor: str, username: str, on: dt.date) -> Outcome:
    """Invite (or invite again) a person listed in the rules file; ``actor`` is the admin's
    username or CONSOLE. Nobody invites themselves."""
    if actor == username or rules.member(username) is None:
        reason = "self" if actor == username else "unknown"
        audit.record(db, "refused_invite", actor=actor, on=on, member=username[:64], reason=reason)
        return Outcome(False, reason)
    account = _account(db, username)
    revoked = revoke_grants(db, account) if account is not None else 0
    # The console's invitations are recorded without an actor, as before (the first admin's).
    token = members.invite_recorded(db, username, on, by=None if actor == CONSOLE else actor)
    account = _account(db, username)
    account.invited_by = actor
    db.execute(delete(MemberRequest).where(MemberRequest.username == username))
    if revoked:
        audit.record(db, "grants_revoked", actor=actor, on=on, member=username, grants=revoked)
    db.flush()
    return Outcome(True, "invited", token)


def _matches(typed: str, account: Member) -> bool:
    """Do the typed groups equal the account's enrolment code? Only the digits count (spaces
    and dashes as the reader likes); compared in constant time."""
    digits = re.sub(r"\D", "", str(typed or ""))[:64]
    expected = re.sub(r"\D", "", enrolment_code(account) or "")
    return bool(expected) and hmac.compare_digest(digits.encode(), expected.encode())


def confirm(db: Session, rules, actor: str, username: str, typed: str, on: dt.date) -> Outcome:
    """``actor`` confirms ``username``'s enrolment after comparing the fingerprint: ``typed``
    is what the new member read to them, compared in constant time with the fingerprint of
    the key the server holds. ``actor`` must be a confirmed account the rules let confirm
    (``[enrolment] confirmers``), neither the inviter nor the enrolled person."""
    account = _account(db, username)
    me = _account(db, actor)
    if actor == username:
        reason = "self"
    elif not waiting(account):
        reason = "not_waiting"
    elif account.invited_by == actor:
        reason = "inviter"
    elif not confirmed(me) or not may_confirm(rules, actor, username):
        reason = "not_confirmer"
    elif not _matches(typed, account):
        reason = "fingerprint"
    else:
        account.confirmed_on = on
        audit.record(db, "enrolment_confirmed", actor=actor, on=on, member=username, invited_by=account.invited_by)
        return Outcome(True, "confirmed")
    audit.record(db, "refused_enrolment_confirm", actor=actor, on=on, member=username[:64], reason=reason)
    return Outcome(False, reason)


def console_confirm(
    db: Session,
    rules,
    username: str,
    typed: str,
    on: dt.date,
    confirmer: str | None = None,
    confirmer_code: str | None = None,
    instance_secret: bytes | None = None,
    used_steps=None,
) -> Outcome:
    """The console's way: the confirmer named, proving it with a current code of their own
    authenticator (the operator alone is one person). Without a confirmer, only the very
    first account of the installation (nobody confirmed exists yet, so nobody could confirm
    it) is confirmed as CONSOLE."""
    if confirmer is None:
        anyone = db.scalar(select(Member.id).where(Member.confirmed_on.is_not(None), Member.active.is_(True)).limit(1))
        account = _account(db, username)
        if anyone is not None:
            reason = "not_confirmer"
        elif not waiting(account):
            reason = "not_waiting"
        elif not _matches(typed, account):
            reason = "fingerprint"
        else:
            account.confirmed_on = on
            audit.record(db, "enrolment_confirmed", actor=CONSOLE, on=on, member=username, first=True)
            return Outcome(True, "confirmed")
        audit.record(db, "refused_enrolment_confirm", actor=CONSOLE, on=on, member=username[:64], reason=reason)
        return Outcome(False, reason)
    me = _account(db, confirmer)
    secret = members.open_totp(instance_secret, me.totp_secret) if confirmed(me) and me.totp_secret else None
    if secret is None or members.check_totp(secret, confirmer_code, members.step_claim(used_steps, secret)) is None:
        audit.record(
            db, "refused_enrolment_confirm", actor=confirmer[:64], on=on, member=username[:64], reason="not_confirmer"
        )
        return Outcome(False, "not_confirmer")
    return confirm(db, rules, confirmer, username, typed, on)


def record_enrolled(db: Session, member: Member, on: dt.date, public_key: bytes | None = None) -> None:
    """The invitee finished their part; the account now waits for its confirmation. The
    key's id goes into the public log: a key swapped later by SQL no longer matches the one
    its member enrolled with."""
    audit.record(
        db,
        "enrolled",
        actor=member.username,
        on=on,
        waiting_for="confirmation",
        **({"key": kid(public_key)} if public_key else {}),
    )


def sole_holder(db: Session, member: Member) -> bool:
    """Does ``member`` hold a case nobody else (active and confirmed) holds?"""
    others = (
        select(CaseGrant.case_id)
        .join(Member, Member.id == CaseGrant.member_id)
        .where(CaseGrant.member_id != member.id, Member.active.is_(True), Member.confirmed_on.is_not(None))
    )
    alone = select(CaseGrant.case_id).where(CaseGrant.member_id == member.id, CaseGrant.case_id.not_in(others)).limit(1)
    return db.scalar(alone) is not None


def needs_second_admin(db: Session, rules, member: Member) -> bool:
    """Deactivating the only holder of a case, or the overseer, waits for a second admin."""
    rule = rules.member(member.username)
    return (rule is not None and rule.role == "overseer") or (
        rule is not None and rule.role in READER_ROLES and sole_holder(db, member)
    )


def deactivate(db: Session, rules, actor: str, username: str, on: dt.date) -> Outcome:
    """Switch an account off (``deactivated``), or, when it needs a second admin, record the
    request (``requested``) or, asked by another admin than the one who requested it,
    carry it out (``deactivated``). Nobody deactivates themselves."""
    account = _account(db, username)
    if actor == username or account is None or not account.active:
        reason = "self" if actor == username else "unknown"
        audit.record(db, "refused_deactivate", actor=actor, on=on, member=username[:64], reason=reason)
        return Outcome(False, reason)
    if needs_second_admin(db, rules, account):
        request = db.scalar(
            select(MemberRequest).where(MemberRequest.action == DEACTIVATE, MemberRequest.username == username)
        )
        if request is None:
            db.add(MemberRequest(action=DEACTIVATE, username=username, proposed_by=actor, proposed_on=on))
            audit.record(db, "deactivate_requested", actor=actor, on=on, member=username)
            db.flush()
            return Outcome(True, "requested")
        if request.proposed_by == actor:
            audit.record(db, "refused_deactivate", actor=actor, on=on, member=username, reason="requester")
            return Outcome(False, "requester")
        proposer = request.proposed_by
        db.delete(request)
        account.active = False
        audit.record(db, "deactivate_confirmed", actor=actor, on=on, member=username, requested_by=proposer)
        return Outcome(True, "deactivated")
    account.active = False
    db.execute(delete(MemberRequest).where(MemberRequest.username == username))
    audit.record(db, "deactivate", actor=actor, on=on, member=username)
    return Outcome(True, "deactivated")


def pending_requests(db: Session) -> dict[str, MemberRequest]:
    """username -> the deactivation waiting for a second admin."""
    return {r.username: r for r in db.scalars(select(MemberRequest).where(MemberRequest.action == DEACTIVATE))}
