"""What members and the console do to a case. Each action locks the case, applies its rule
(routing's permission for a hand-over, the two-person rule), writes the reporter's timeline
and the audit entry, all in the caller's transaction: the workspace views and the console
(`cases status`, `retention purge`, `keys recover`) call the same function and cannot
disagree. No Flask request here; the callers turn an Outcome into a page or a line of text.
"""

import datetime as dt
import enum
import json
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.keys import kid
from whistle import catalog
from whistle.cases import store as cases
from whistle.custody import audit, retention
from whistle.errors import CasePurged, WhistleError
from whistle.models import Case, CaseGrant, ItemKey, Member, PendingAction
from whistle.triage import routing

STATUS_EVENTS = ("acknowledged", "in_review", "closed")
# What waits for a second, different member ("disposition": one that shortens the retention
# decided when the case closed).
DUAL_CONTROL = ("close", "downgrade", "purge", "disposition")


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


def _propose_or_refuse(
    db: Session, case: Case, by: Actor, action: str, payload: dict, on: dt.date, refusal: str
) -> Outcome:
    if by.member is None:
        raise NeedsSecondMember(refusal)
    return Outcome.PROPOSED if propose(db, case, by.member, action, payload, on) else Outcome.ALREADY_WAITING


def set_status(db: Session, case: Case, event: str, *, by: Actor, on: dt.date, rules) -> Outcome:
    """Acknowledge / under review / closed, on the reporter's timeline; closing a 高危 case
    waits for a second member. Closing fixes the retention period (close)."""
    if event not in STATUS_EVENTS:
        raise ValueError(f"status must be one of: {', '.join(STATUS_EVENTS)}")
    case = _locked(db, case)
    if event == case.status:  # a second click, or two members at once: the timeline says it once
        return Outcome.UNCHANGED
    if event == "closed" and closing_needs_second_member(case):
        return _propose_or_refuse(
            db,
            case,
            by,
            "close",
            {},
            on,
            "closing a high-risk (高危) case needs a second member: propose it in the "
            "committee workspace, where another member confirms it",
        )
    if event == "closed":
        close(db, rules, case, actor=by.name, on=on)
        return Outcome.DONE
    cases.add_event(db, case, event, on)
    audit.record(db, "status", actor=by.name, on=on, case_id=case.id, event=event)
    return Outcome.DONE


def close(db: Session, rules, case: Case, *, actor: str, on: dt.date, confirmed_by: str | None = None) -> None:
    """Close a case and fix its retention: the period of the disposition it closes under,
    from today, never earlier than a date decided at an earlier closing (a reopened case
    closed again keeps at least what was decided then). ``confirmed_by``: the second member
    of a 高危 closure, whose record lets the retention purge delete it."""
    cases.add_event(db, case, "closed", on)
    decided = retention.period_end(rules.retention, case.disposition, on)
    case.retention_ends = decided if case.retention_ends is None else max(case.retention_ends, decided)
    case.closure_confirmed_by = confirmed_by
    audit.record(
        db,
        "status",
        actor=actor,
        on=on,
        case_id=case.id,
        event="closed",
        confirmed_by=confirmed_by,
        retention_ends=case.retention_ends.isoformat(),
    )


def set_disposition(
    db: Session, case: Case, code: str, *, duplicate_of: str | None, reason: str, by: Actor, on: dt.date, rules
) -> Outcome:
    """Record a disposition from the official taxonomy (the caller checked the code, the
    earlier case of a duplicate and the reason a refusal needs). One that would end the
    retention decided when the case closed earlier (移送审查调查 → duplicate, say) waits for
    a second member."""
    case = _locked(db, case)  # two members at once: one "disposition" event on the timeline
    payload = {
        "disposition": code,
        "duplicate_of": duplicate_of if code == "duplicate" else None,
        "reason": reason[:500] or None,
    }
    if _shortens(db, rules, case, code):
        return _propose_or_refuse(
            db,
            case,
            by,
            "disposition",
            payload,
            on,
            "a disposition that shortens a closed case's retention needs a second member",
        )
    _apply_disposition(db, rules, case, payload, by.name, on)
    return Outcome.DONE


def _shortens(db: Session, rules, case: Case, disposition: str) -> bool:
    """Would ``disposition`` end the retention decided at closing earlier?"""
    closed = retention.closed_on(db, case)
    if case.retention_ends is None or closed is None:
        return False
    return retention.period_end(rules.retention, disposition, closed) < case.retention_ends


def _apply_disposition(
    db: Session, rules, case: Case, payload: dict, actor: str, on: dt.date, confirmed_by: str | None = None
) -> None:
    code = payload["disposition"]
    first = case.disposition is None
    case.disposition = code
    case.duplicate_of = payload.get("duplicate_of") if code == "duplicate" else None
    closed = retention.closed_on(db, case)
    if case.retention_ends is not None and closed is not None:
        # Lengthened freely; shortened only here, after a second member confirmed it.
        new_end = retention.period_end(rules.retention, code, closed)
        case.retention_ends = new_end if confirmed_by else max(case.retention_ends, new_end)
    if first:  # the reporter's timeline shows that (and when) a decision was made
        cases.add_event(db, case, "disposition", on)
    audit.record(
        db,
        "disposition",
        actor=actor,
        on=on,
        case_id=case.id,
        disposition=code,
        duplicate_of=case.duplicate_of,
        reason=payload.get("reason"),
        confirmed_by=confirmed_by,
        retention_ends=case.retention_ends.isoformat() if case.retention_ends else None,
    )


def set_grade(db: Session, case: Case, grade: str, reason: str, *, by: Actor, on: dt.date) -> Outcome:
    """A manual grade with a written reason; a downgrade from 高危 waits for a second member."""
    case = _locked(db, case)
    if case.risk_grade == "high" and grade != "high":
        return _propose_or_refuse(
            db,
            case,
            by,
            "downgrade",
            {"grade": grade, "reason": reason},
            on,
            "a downgrade from high risk (高危) needs a second member",
        )
    apply_grade(db, case, grade, reason, by.name, on)
    return Outcome.DONE


def propose_purge(db: Session, case: Case, reason: str, *, by: Actor, on: dt.date) -> Outcome | None:
    """Purging a closed case before its retention period ends waits for a second member;
    None (nothing recorded) for a case not closed or without a written reason."""
    case = _locked(db, case)
    if case.status != "closed" or not reason:
        return None
    return _propose_or_refuse(
        db, case, by, "purge", {"reason": reason}, on, "purging a case early needs a second member"
    )


def propose(db: Session, case: Case, member: Member, action: str, payload: dict, on: dt.date) -> PendingAction | None:
    """Record a sensitive action that waits for a second, different member; None (nothing
    recorded) when one of the same kind already waits on this case: a second click, or a
    colleague asking for the same thing, is a confirmation to give, not a new request.
    Call with the case locked (cases.locked), so two proposals cannot both pass the check."""
    waiting = db.scalar(
        select(PendingAction.id).where(PendingAction.case_id == case.id, PendingAction.action == action).limit(1)
    )
    if waiting is not None:
        return None
    pending = PendingAction(
        case_id=case.id,
        action=action,
        payload=json.dumps(payload, ensure_ascii=False),
        proposed_by=member.id,
        proposed_on=on,
    )
    db.add(pending)
    db.flush()
    audit.record(
        db, "proposed_" + action, actor=member.username, on=on, case_id=case.id, action_id=pending.id, **payload
    )
    return pending


def apply_grade(db: Session, case: Case, grade: str, reason: str, actor: str, on: dt.date, *, confirmed_by=None):
    """Set the grade by hand, keeping the reason and who did it."""
    before = case.risk_grade
    case.risk_grade = grade
    case.risk_override_reason = reason
    audit.record(
        db,
        "grade_override",
        actor=actor,
        on=on,
        case_id=case.id,
        before=before,
        after=grade,
        reason=reason,
        confirmed_by=confirmed_by,
    )


# A proposal the case has since outgrown: what the proposer asked no longer makes sense
# (a purge of a case reopened for review, a close of a case closed meanwhile, a downgrade
# from 高危 of a case no longer 高危). Approving it
# would act on a case the second member is not looking at as the proposer saw it.
OUTGROWN = {
    "purge": lambda case: case.status != "closed",
    "close": lambda case: case.status == "closed",
    "downgrade": lambda case: case.risk_grade != "high",
}


def confirm(
    db: Session, case: Case, pending: PendingAction, member: Member, approve: bool, on: dt.date, *, rules
) -> bool:
    """Second member's decision on a pending action; it is applied only on approval, and
    only if the case still is as the proposal assumed. Returns False when the proposal was
    withdrawn for that reason (it is deleted and recorded, nothing else changes)."""
    proposer = db.get(Member, pending.proposed_by)
    payload = json.loads(pending.payload)
    action, action_id = pending.action, pending.id
    db.delete(pending)  # first: a purge below removes the case's pending actions too
    db.flush()
    if approve and OUTGROWN.get(action, lambda _case: False)(case):
        audit.record(
            db,
            "withdrawn_" + action,
            actor=member.username,
            on=on,
            case_id=case.id,
            action_id=action_id,
            proposed_by=proposer.username,
            status=case.status,
            grade=case.risk_grade,
        )
        return False
    if approve and action == "downgrade":
        apply_grade(db, case, payload["grade"], payload["reason"], proposer.username, on, confirmed_by=member.username)
    elif approve and action == "purge":
        retention.purge(
            db, case, on=on, actor=proposer.username, reason=payload.get("reason", ""), confirmed_by=member.username
        )
    elif approve and action == "close":
        close(db, rules, case, actor=proposer.username, on=on, confirmed_by=member.username)
    elif approve and action == "disposition":
        _apply_disposition(db, rules, case, payload, proposer.username, on, confirmed_by=member.username)
    audit.record(
        db,
        ("confirmed_" if approve else "rejected_") + action,
        actor=member.username,
        on=on,
        case_id=case.id,
        action_id=action_id,
        proposed_by=proposer.username,
    )
    return True


# --- hand-overs -----------------------------------------------------------------------------

# Why a hand-over was refused (routing.can_grant's reasons, and not_enrolled), as members read it.
GRANT_REFUSALS = {
    "unknown": _l("There is no such member."),
    "unknown_department": _l(
        "The rules no longer list this case's department, so nobody can be cleared of a conflict."
    ),
    "held": _l("This case is held for the superior body: nobody here may receive it."),
    "accused": _l("The report names this member as the accused."),
    "conflict": _l("This member's own department is the accused department."),
    "admin": _l("Administrators never receive cases."),
    "not_routed": _l(
        "Routing does not send this case to this member's unit: a case goes only to its "
        "handling unit and the level above it, never back down."
    ),
    "not_enrolled": _l("This member has no enrolled key: nothing can be sealed to them."),
}


class Refused(WhistleError):
    """A hand-over routing does not allow; recorded in the audit log before it is raised."""

    status = 403
    code = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(GRANT_REFUSALS.get(reason), detail=reason)
        self.reason = reason
        self.code = f"refused_{reason}"


def grant_target(db: Session, rules, case: Case, username: str, *, actor: str, on: dt.date) -> Member:
    """The enrolled member ``case`` may be handed to, by routing (routing.can_grant); else
    ``refused_grant`` is recorded and Refused raised (the caller commits the entry)."""
    allowed, reason = routing.can_grant(rules, catalog.routing_header(case), username)
    target = db.scalar(select(Member).where(Member.username == username))
    if allowed and routing.account_refusal(target):  # not enrolled, or not yet confirmed
        allowed, reason = False, routing.account_refusal(target)
    if not allowed:
        audit.record(db, "refused_grant", actor=actor, on=on, case_id=case.id, to=username, reason=reason)
        raise Refused(reason)
    return target


def record_grant(
    db: Session,
    case: Case,
    target: Member,
    sealed: dict,
    *,
    actor: str,
    granted_by: str,
    on: dt.date,
    action: str = "grant",
    **detail,
) -> None:
    """Store the content keys re-sealed to ``target`` ({item id: sealed key}) and the grant.
    The server cannot open them: the new holder's browser checks them (report_bad_key)."""
    member_kid = kid(bytes(target.public_key))
    for item_id, sealed_key in sealed.items():
        db.merge(ItemKey(item_id=item_id, kid=member_kid, sealed_key=sealed_key))
    grant = db.get(CaseGrant, (case.id, target.id))
    if grant is None:
        db.add(CaseGrant(case_id=case.id, member_id=target.id, granted_on=on, granted_by=granted_by))
    else:  # handed over again (after a failed key, say): the new keys are checked afresh
        grant.key_failed = False
    audit.record(db, action, actor=actor, on=on, case_id=case.id, to=target.username, **detail)


def report_bad_key(db: Session, case: Case, member: Member, on: dt.date) -> bool:
    """The holder's browser found that a key handed to them does not open the case: the
    grant is marked failed (shown on the case list; the case counts as orphaned) and the
    audit log names who handed it over. False if already reported."""
    grant = db.get(CaseGrant, (case.id, member.id))
    if grant is None or grant.key_failed:
        return False
    grant.key_failed = True
    granter = db.get(Member, grant.granted_by) if grant.granted_by else None
    audit.record(
        db,
        "grant_key_failed",
        actor=member.username,
        on=on,
        case_id=case.id,
        granted_by=granter.username if granter is not None else grant.granted_by,
    )
    return True


# --- the retention purge ----------------------------------------------------------------------


def purge_due(db: Session, rules, on: dt.date) -> tuple[list, list[Case]]:
    """The console's retention purge: every closed case whose decided retention has ended,
    except 高危 cases whose closure no second member confirmed (returned apart, untouched).
    Cases closed before retention was recorded at closing get their date first. Every
    case's lock first, then the writes: a purge appends to the audit log and holds its head,
    and a member's change takes its case's lock before the head."""
    due, withheld = retention.due_for_purge(db, rules.retention, on)
    due = [c for c in due if retention.still_due(db, c, rules.retention, on)]
    legacy = [cases.locked(db, c) for c in retention.legacy_cases(db)]
    for case in legacy:
        retention.fix_legacy(db, case, rules.retention, on)
    purged = [
        retention.purge(db, c, on=on, actor=None, reason="retention period ended", confirmed_by=c.closure_confirmed_by)
        for c in due
    ]
    return purged, withheld
