"""What decides who can read, put into the public log: every report's intake, and every load
of a rules file that differs from the last one recorded.

Intake
    A report cannot get its audit entry when it arrives: the entry's place in the log would
    tell when it came (between which logins, views and grants), and so who might have sent
    it. It is held in ``pending_intake`` (case id, day, the receipt's log commitment) in the
    report's own transaction, and after the day ends the whole day enters the log as one
    batch, ordered by a keyed hash of the case ids under a key drawn for the batch and then
    forgotten: the order is a random permutation, unrelated to arrival. ``seal_days`` does
    it: `whistle log seal-day` from cron, and lazily on the first request of a new day.
    An ``intake`` entry carries the case id, the commitment (``commitment``, which only the
    receipt holder can recompute, crypto/FORMAT.md §10) and the members the report was
    sealed to (``recipients``, withheld from the public leaf: who handles a case would tell
    which department it is about).

Rules file
    ``rules_loaded`` [sha256 of the file, published: sha256 of the text /log/rules serves],
    appended when the file's hash differs from the last one recorded.
"""

import datetime as dt
import hashlib
import hmac
import re
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from whistle.custody import audit
from whistle.models import AuditEntry, CaseGrant, LogCommitment, Member, PendingIntake

# A member's e-mail line: the published rules file leaves it out.
_EMAIL_LINE = re.compile(r"^[ \t]*email[ \t]*=.*(?:\n|\Z)", re.MULTILINE)


def hold(db: Session, case_id: str, on: dt.date, commitment: str | None) -> None:
    """Keep a new report for its day's batch (in the report's transaction)."""
    db.add(PendingIntake(case_id=case_id, day=on, commitment=commitment))


def seal_days(db: Session, today: dt.date) -> int:
    """Append every finished day's held intake to the log, each day as one batch in keyed-hash
    order; the number of entries appended. The caller commits."""
    audit.lock_head(db)  # one sealer at a time; a second one then finds nothing left
    days = sorted(set(db.scalars(select(PendingIntake.day).where(PendingIntake.day < today))))
    appended = 0
    for day in days:
        rows = db.execute(select(PendingIntake.case_id, PendingIntake.commitment).where(PendingIntake.day == day)).all()
        key = secrets.token_bytes(32)  # this batch's order only; never stored
        for case_id, commitment in sorted(rows, key=lambda r: hmac.digest(key, r.case_id.encode(), "sha256")):
            recipients = sorted(
                db.scalars(
                    select(Member.username)
                    .join(CaseGrant, CaseGrant.member_id == Member.id)
                    .where(CaseGrant.case_id == case_id, CaseGrant.granted_by.is_(None))
                )
            )
            entry = audit.record(
                db, "intake", actor=None, on=day, case_id=case_id, commitment=commitment, recipients=recipients
            )
            if commitment:
                db.add(LogCommitment(commitment=commitment, seq=entry.seq))
            appended += 1
        db.execute(delete(PendingIntake).where(PendingIntake.day == day))
    db.flush()
    return appended


def published_rules(text: str) -> str:
    """The rules file as /log/rules serves it: members' e-mail lines removed."""
    return _EMAIL_LINE.sub("", text)


def record_rules(db: Session, raw: bytes, on: dt.date) -> bool:
    """Record a rules-file load, unless the last one recorded had the same file; True if
    recorded. The caller commits."""
    digest = hashlib.sha256(raw).hexdigest()
    audit.lock_head(db)
    last = db.scalar(
        select(AuditEntry.detail).where(AuditEntry.action == "rules_loaded").order_by(AuditEntry.seq.desc()).limit(1)
    )
    if last is not None and f'"sha256":"{digest}"' in last:
        return False
    public = hashlib.sha256(published_rules(raw.decode("utf-8")).encode("utf-8")).hexdigest()
    audit.record(db, "rules_loaded", actor=None, on=on, sha256=digest, published=public)
    return True
