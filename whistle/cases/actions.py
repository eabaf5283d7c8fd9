"""What members and the console do to a case. Each action locks the case, applies its rule
(the two-person rule included), writes the reporter's timeline and the audit entry, all in
the caller's transaction: the workspace views and the console call the same function and
cannot disagree. No Flask here; the callers turn an Outcome into a page or a line of text.
"""
import datetime as dt
import enum
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from whistle.cases import store as cases
from whistle.custody import audit, retention
from whistle.errors import CasePurged
from whistle.models import Case, Member, PendingAction

STATUS_EVENTS = ("acknowledged", "in_review", "closed")
DUAL_CONTROL = ("close", "downgrade", "purge")  # what waits for a second, different member


@dataclass(frozen=True)
class Actor:
    """Who acts: a member (who can propose what needs a second member), or the console."""

    name: str  # as the audit log records it
    member: Member | None = None

    @classmethod
    def of(cls, member: Member) -> "Actor":
        return cls(member.username, member)


CONSOLE = Actor(audit.CONSOLE)


class Outcome(enum.Enum):
    DONE = "done"
    UNCHANGED = "unchanged"  # the case already was so: nothing recorded
    PROPOSED = "proposed"  # recorded as waiting for a second member
    ALREADY_WAITING = "already_waiting"  # a proposal of that kind already waits: nothing recorded


class NeedsSecondMember(Exception):
    """A change only two members may make, asked for where no second member can confirm it
    (the console): refused rather than be a way around the rule."""


def closing_needs_second_member(case: Case) -> bool:
    """Closing a 高危 (high-risk) case needs a second member."""
    return case.risk_grade == "high"


def _locked(db: Session, case: Case) -> Case:
    """The case under its row lock, read again; CasePurged for a tombstone, which no change
    may bring back among the open cases."""
    case = cases.locked(db, case)
    if case.status == "purged":
        raise CasePurged()
    return case


def _propose_or_refuse(db: Session, case: Case, by: Actor, action: str, payload: dict, on: dt.date,
                       refusal: str) -> Outcome:
    if by.member is None:
        raise NeedsSecondMember(refusal)
    return Outcome.PROPOSED if propose(db, case, by.member, action, payload, on) else Outcome.ALREADY_WAITING


def set_status(db: Session, case: Case, event: str, *, by: Actor, on: dt.date) -> Outcome:
    """Acknowledge / under review / closed, on the reporter's timeline; closing a 高危 case
    waits for a second member."""
    if event not in STATUS_EVENTS:
        raise ValueError(f"status must be one of: {', '.join(STATUS_EVENTS)}")
    case = _locked(db, case)
    if event == case.status:  # a second click, or two members at once: the timeline says it once
        return Outcome.UNCHANGED
    if event == "closed" and closing_needs_second_member(case):
        return _propose_or_refuse(db, case, by, "close", {}, on,
                                  "closing a high-risk (高危) case needs a second member: propose it in the "
                                  "committee workspace, where another member confirms it")
    cases.add_event(db, case, event, on)
    audit.record(db, "status", actor=by.name, on=on, case_id=case.id, event=event)
    return Outcome.DONE


def set_disposition(db: Session, case: Case, code: str, *, duplicate_of: str | None, reason: str,
                    by: Actor, on: dt.date) -> Outcome:
    """Record a disposition from the official taxonomy (the caller checked the code, the
    earlier case of a duplicate and the reason a refusal needs)."""
    case = _locked(db, case)  # two members at once: one "disposition" event on the timeline
    first = case.disposition is None
    case.disposition = code
    case.duplicate_of = duplicate_of if code == "duplicate" else None
    if first:  # the reporter's timeline shows that (and when) a decision was made
        cases.add_event(db, case, "disposition", on)
    audit.record(db, "disposition", actor=by.name, on=on, case_id=case.id,
                 disposition=code, duplicate_of=case.duplicate_of, reason=reason[:500] or None)
    return Outcome.DONE


def set_grade(db: Session, case: Case, grade: str, reason: str, *, by: Actor, on: dt.date) -> Outcome:
    """A manual grade with a written reason; a downgrade from 高危 waits for a second member."""
    case = _locked(db, case)
    if case.risk_grade == "high" and grade != "high":
        return _propose_or_refuse(db, case, by, "downgrade", {"grade": grade, "reason": reason}, on,
                                  "a downgrade from high risk (高危) needs a second member")
    apply_grade(db, case, grade, reason, by.name, on)
    return Outcome.DONE


def propose_purge(db: Session, case: Case, reason: str, *, by: Actor, on: dt.date) -> Outcome | None:
    """Purging a closed case before its retention period ends waits for a second member;
    None (nothing recorded) for a case not closed or without a written reason."""
    case = _locked(db, case)
    if case.status != "closed" or not reason:
        return None
    return _propose_or_refuse(db, case, by, "purge", {"reason": reason}, on,
                              "purging a case early needs a second member")


def propose(db: Session, case: Case, member: Member, action: str, payload: dict, on: dt.date) -> PendingAction | None:
    """Record a sensitive action that waits for a second, different member; None (nothing
    recorded) when one of the same kind already waits on this case: a second click, or a
    colleague asking for the same thing, is a confirmation to give, not a new request.
    Call with the case locked (cases.locked), so two proposals cannot both pass the check."""
    waiting = db.scalar(select(PendingAction.id).where(PendingAction.case_id == case.id,
                                                       PendingAction.action == action).limit(1))
    if waiting is not None:
        return None
    pending = PendingAction(case_id=case.id, action=action, payload=json.dumps(payload, ensure_ascii=False),
                            proposed_by=member.id, proposed_on=on)
    db.add(pending)
    db.flush()
    audit.record(db, "proposed_" + action, actor=member.username, on=on, case_id=case.id,
                 action_id=pending.id, **payload)
    return pending


def apply_grade(db: Session, case: Case, grade: str, reason: str, actor: str, on: dt.date, *, confirmed_by=None):
    """Set the grade by hand, keeping the reason and who did it."""
    before = case.risk_grade
    case.risk_grade = grade
    case.risk_override_reason = reason
    audit.record(db, "grade_override", actor=actor, on=on, case_id=case.id,
                 before=before, after=grade, reason=reason, confirmed_by=confirmed_by)


# A proposal the case has since outgrown: what the proposer asked no longer makes sense
# (a purge of a case reopened for review, a close of a case closed meanwhile, a downgrade
# from 高危 of a case no longer 高危). Approving it
# would act on a case the second member is not looking at as the proposer saw it.
OUTGROWN = {"purge": lambda case: case.status != "closed", "close": lambda case: case.status == "closed",
            "downgrade": lambda case: case.risk_grade != "high"}


def confirm(db: Session, case: Case, pending: PendingAction, member: Member, approve: bool, on: dt.date) -> bool:
    """Second member's decision on a pending action; it is applied only on approval, and
    only if the case still is as the proposal assumed. Returns False when the proposal was
    withdrawn for that reason (it is deleted and recorded, nothing else changes)."""
    proposer = db.get(Member, pending.proposed_by)
    payload = json.loads(pending.payload)
    action, action_id = pending.action, pending.id
    db.delete(pending)  # first: a purge below removes the case's pending actions too
    db.flush()
    if approve and OUTGROWN.get(action, lambda _case: False)(case):
        audit.record(db, "withdrawn_" + action, actor=member.username, on=on, case_id=case.id,
                     action_id=action_id, proposed_by=proposer.username, status=case.status, grade=case.risk_grade)
        return False
    if approve and action == "downgrade":
        apply_grade(db, case, payload["grade"], payload["reason"], proposer.username, on, confirmed_by=member.username)
    elif approve and action == "purge":
        retention.purge(db, case, on=on, actor=proposer.username, reason=payload.get("reason", ""),
                        confirmed_by=member.username)
    elif approve and action == "close":
        cases.add_event(db, case, "closed", on)
        audit.record(db, "status", actor=proposer.username, on=on, case_id=case.id, event="closed",
                     confirmed_by=member.username)
    audit.record(db, ("confirmed_" if approve else "rejected_") + action, actor=member.username,
                 on=on, case_id=case.id, action_id=action_id, proposed_by=proposer.username)
    return True
