"""Retention: closed cases are purged after a period that depends on their disposition.

Purging removes every sealed item, attachment stream, key and grant of a case, and the
written reason of a manual grade. The case row stays as a tombstone (routing codes, grade,
disposition, dates, status "purged") so published
statistics and the reporter's timeline still add up, and an audit entry records the purge.
SQLite runs with secure_delete on, and the WAL is checkpointed, so freed pages are zeroed.
A purge before the period ends needs two members (whistle.cases.actions.propose_purge).

The period is decided when a case closes (whistle.cases.actions.close): ``retention_ends``
is the closing day plus the period of the disposition it closed under. The purge follows
that decision: a later change of the disposition or of the rules file that would shorten it
does not (a disposition change needs a second member to shorten it; a rules change never
shortens a closed case's date, it can only lengthen it). A 高危 case is purged only when
its closure was confirmed by a second member (``closure_confirmed_by``).

Integrity surveys: their sealed free-text answers are deleted ``[surveys] texts_kept_days``
after the survey's period ends (an audit entry records how many). The closed answers, small
anonymous integers behind the published results, stay.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from whistle.custody import audit
from whistle.cases import store as cases
from whistle.channels import surveys
from whistle.models import (
    Attachment,
    AttachmentChunk,
    AuditEntry,
    Case,
    CaseEvent,
    CaseGrant,
    CaseItem,
    ItemKey,
    PendingAction,
    Survey,
    SurveyText,
)

DEFAULT_DAYS = 5 * 365


@dataclass(frozen=True)
class Purged:
    """One line of a purge report."""

    case_id: str
    disposition: str | None
    closed_on: dt.date
    items: int
    attachments: int
    stored_bytes: int


def closed_on(db: Session, case: Case) -> dt.date | None:
    """The day the case was (last) closed."""
    return db.scalar(
        select(CaseEvent.happened_on)
        .where(CaseEvent.case_id == case.id, CaseEvent.event == "closed")
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    )


def retention_days(periods: dict, disposition: str | None) -> int:
    """Days a closed case is kept, by disposition (with a default)."""
    return int(periods.get(disposition or "", periods.get("default", DEFAULT_DAYS)))


def period_end(periods: dict, disposition: str | None, closed: dt.date) -> dt.date:
    """The day the retention period of a case closed on ``closed`` under ``disposition`` ends."""
    return closed + dt.timedelta(days=retention_days(periods, disposition))


def ends_on(db: Session, case: Case, periods: dict) -> dt.date | None:
    """When a closed case's retention ends: the date decided at closing, or later if the
    rules or its disposition have lengthened it since, never earlier."""
    closed = closed_on(db, case)
    if closed is None:
        return None
    current = period_end(periods, case.disposition, closed)
    return current if case.retention_ends is None else max(case.retention_ends, current)


def _legacy_confirmation(db: Session, case: Case) -> str | None:
    """Who confirmed the last closure of a case closed before it was recorded on the case:
    the audit log's confirmation, if there is one."""
    return db.scalar(
        select(AuditEntry.actor)
        .where(AuditEntry.case_id == case.id, AuditEntry.action == "confirmed_close")
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )


def legacy_cases(db: Session) -> list[Case]:
    """Closed cases whose retention was not recorded when they closed (closed before it was)."""
    return list(
        db.scalars(
            select(Case)
            .where(Case.status == "closed", Case.retention_ends.is_(None))
            .order_by(Case.received_on, Case.id)
        )
    )


def fix_legacy(db: Session, case: Case, periods: dict, on: dt.date) -> None:
    """A case closed before retention was decided at closing gets its date now, from the
    fields as they are (the best record there is), and the second member of its closure
    from the audit log's confirmation, if one was recorded. Call with the case locked."""
    closed = closed_on(db, case)
    if case.status != "closed" or case.retention_ends is not None or closed is None:
        return
    case.retention_ends = period_end(periods, case.disposition, closed)
    case.closure_confirmed_by = case.closure_confirmed_by or _legacy_confirmation(db, case)
    audit.record(
        db,
        "retention_fixed",
        actor=None,
        on=on,
        case_id=case.id,
        retention_ends=case.retention_ends.isoformat(),
        confirmed_by=case.closure_confirmed_by,
    )


def withheld(db: Session, case: Case) -> bool:
    """A 高危 case whose closure no second member confirmed: never purged by the console."""
    if case.risk_grade != "high":
        return False
    confirmed = case.closure_confirmed_by
    if confirmed is None and case.retention_ends is None:
        confirmed = _legacy_confirmation(db, case)
    return confirmed is None


def _period_ended(db: Session, case: Case, periods: dict, today: dt.date) -> bool:
    end = ends_on(db, case, periods)
    return end is not None and end <= today


def due_for_purge(db: Session, periods: dict, today: dt.date) -> tuple[list[Case], list[Case]]:
    """Closed cases whose retention period has ended: (to purge, withheld), the latter 高危
    cases with no recorded two-person decision. Reads only."""
    # Within a day by random id: the table's own order is the order the cases came in
    # (PostgreSQL), and each purge's audit entry would keep it.
    closed = db.scalars(select(Case).where(Case.status == "closed").order_by(Case.received_on, Case.id)).all()
    ended = [case for case in closed if _period_ended(db, case, periods, today)]
    return [c for c in ended if not withheld(db, c)], [c for c in ended if withheld(db, c)]


def still_due(db: Session, case: Case, periods: dict, today: dt.date) -> bool:
    """Whether a case listed by due_for_purge is due still, read again under its row lock
    (held until the purge commits): a member may have reopened it since the list was made,
    or closed it again, and a case being worked on is not purged from under them."""
    case = cases.locked(db, case)
    return case.status == "closed" and _period_ended(db, case, periods, today) and not withheld(db, case)


def purge(
    db: Session, case: Case, *, on: dt.date, actor: str | None, reason: str, confirmed_by: str | None = None
) -> Purged:
    """Remove a case's ciphertext and keys, leave a tombstone and an audit entry."""
    item_ids = list(db.scalars(select(CaseItem.id).where(CaseItem.case_id == case.id)))
    attachments = db.execute(select(Attachment.id, Attachment.stored_size).where(Attachment.case_id == case.id)).all()
    line = Purged(
        case.id,
        case.disposition,
        closed_on(db, case) or on,
        len(item_ids),
        len(attachments),
        sum(size for _id, size in attachments),
    )
    if attachments:
        db.execute(delete(AttachmentChunk).where(AttachmentChunk.attachment_id.in_([a for a, _s in attachments])))
        db.execute(delete(Attachment).where(Attachment.case_id == case.id))
    if item_ids:
        db.execute(delete(ItemKey).where(ItemKey.item_id.in_(item_ids)))
        db.execute(delete(CaseItem).where(CaseItem.case_id == case.id))
    db.execute(delete(CaseGrant).where(CaseGrant.case_id == case.id))
    db.execute(delete(PendingAction).where(PendingAction.case_id == case.id))
    cases.add_event(db, case, "purged", on)
    case.status = "purged"
    case.risk_override_reason = None  # a member's own words; the audit entry keeps its history
    audit.record(
        db,
        "purge",
        actor=actor,
        on=on,
        case_id=case.id,
        reason=reason,
        items=line.items,
        attachments=line.attachments,
        confirmed_by=confirmed_by,
    )
    db.flush()
    return line


@dataclass(frozen=True)
class SurveyTextsDue:
    """A survey whose sealed free text has outlived its retention period."""

    survey_id: str
    period_end: dt.date
    texts: int


def survey_texts_due(db: Session, kept_days: int, today: dt.date) -> list[SurveyTextsDue]:
    """Surveys whose period ended ``kept_days`` or more days ago (no answer is taken after
    the period, whatever the survey's status) and that still hold sealed free text."""
    last_end = today - dt.timedelta(days=kept_days)
    rows = db.execute(
        select(Survey.id, Survey.period_end, func.count(SurveyText.id))
        .join(SurveyText, SurveyText.survey_id == Survey.id)
        .where(Survey.period_end <= last_end)
        .group_by(Survey.id, Survey.period_end)
        .order_by(Survey.period_end, Survey.id)
    ).all()
    return [SurveyTextsDue(survey_id, end, count) for survey_id, end, count in rows]


def purge_survey_texts(db: Session, due: SurveyTextsDue, *, on: dt.date, actor: str | None) -> int:
    """Delete a survey's sealed free text; an audit entry says how many answers went."""
    deleted = surveys.delete_texts(db, due.survey_id)
    audit.record(
        db,
        "survey_texts_purged",
        actor=actor,
        on=on,
        survey=due.survey_id,
        texts=deleted,
        reason="retention period ended",
    )
    db.flush()
    return deleted


def checkpoint(db: Session) -> None:
    """After a purge on SQLite, fold the WAL back so no copy of freed pages lingers there."""
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


def survey_lines(due: list[SurveyTextsDue], verb: str = "purged") -> list[str]:
    """The survey part of a purge report (``verb``: "purged", or "would purge" for a dry run)."""
    return [f"{verb} the free text of {len(due)} survey(s)"] + [
        f"survey {d.survey_id}  period ended {d.period_end}  texts {d.texts}" for d in due
    ]


def withheld_lines(withheld: list[Case]) -> list[str]:
    """High-risk cases past their period that the purge keeps: no second member's
    confirmation of their closure is recorded (close them again through the workspace, or
    purge them early there, with two members)."""
    return [f"kept {len(withheld)} high-risk case(s): no two-person decision recorded"] * bool(withheld) + [
        f"{c.id}  kept: closing it was not confirmed by a second member" for c in withheld
    ]


def report_lines(purged: list[Purged], texts: list[SurveyTextsDue]) -> list[str]:
    """A plain-text purge report: what was removed, nothing about what it said."""
    lines = [f"purged {len(purged)} case(s)"]
    for p in purged:
        lines.append(
            f"{p.case_id}  closed {p.closed_on}  disposition {p.disposition or '-'}  "
            f"items {p.items}  attachments {p.attachments}  bytes {p.stored_bytes}"
        )
    return lines + survey_lines(texts)
