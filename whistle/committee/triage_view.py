"""Triage as members see it: deadlines and urgency, the grade and why, who may receive a
grant, and the two-person rule for sensitive changes."""
import datetime as dt
import json

from sqlalchemy import select

from whistle import catalog
from whistle.custody import audit
from whistle.cases import store as cases
from whistle.models import Case, CaseGrant, Member, PendingAction
from whistle.triage import deadlines, risk, routing
from whistle.services import services


def soon_limit(today: dt.date) -> dt.date:
    """The last day that still counts as "due soon"."""
    return services().calendar.add_workdays(today, services().rules.deadlines.due_soon)


def first_closing_day(due_by: dt.date) -> dt.date:
    """The earliest day a real-name case can be closed on and have its notice of the result
    due on ``due_by`` or later: a case closed before it has that notice due earlier. (The
    due day, n working days after closing, never moves back as the closing day moves on.)"""
    days, cal = services().rules.deadlines.real_name_result, services().calendar
    low = due_by - dt.timedelta(days=2 * days + 60)  # n working days take fewer calendar days
    while cal.add_workdays(low, days) >= due_by:
        low -= dt.timedelta(days=2 * days + 60)
    high = due_by  # add_workdays(high, n) >= due_by; add_workdays(low, n) < due_by
    while (high - low).days > 1:
        middle = low + (high - low) // 2
        if cal.add_workdays(middle, days) >= due_by:
            high = middle
        else:
            low = middle
    return high


def _next_due(case: Case) -> tuple[str, dt.date | None]:
    """The deadline a case waits on now and its kind (the row's and the header's badge; the
    case list's tiers, case_listing.Tiers, are the same rule in SQL)."""
    acknowledged = case.status != "received"
    if not acknowledged and case.ack_due:
        return "acknowledge", case.ack_due
    fed_back = any(e.event == "feedback_sent" for e in case.events)
    if case.status != "closed" and not fed_back and case.feedback_due:
        return "feedback", case.feedback_due
    if case.status == "closed" and case.real_name and not cases.result_notice_sent(case):
        due = cases.real_name_due(services().rules, services().calendar, case)
        if due and due["result_notice"]:  # 实名举报: the reporter is told the result
            return "result_notice", due["result_notice"]
    return "", None


def summary(case: Case, today: dt.date) -> dict:
    """What a case list row and the case header show."""
    kind, due = _next_due(case)
    urgency = deadlines.urgency(due, today, services().calendar, services().rules.deadlines.due_soon) if due else "ok"
    return {"case": case, "due_kind": kind, "due": due, "urgency": urgency}


def header_of(case: Case) -> dict:
    """The routing header the grade and route were computed from."""
    return catalog.routing_header(case)


def why(case: Case) -> dict:
    """The factors behind the computed grade, and any manual override."""
    assessment = risk.assess(services().rules, header_of(case))
    return {"assessment": assessment, "computed": assessment.grade, "current": case.risk_grade,
            "override_reason": case.risk_override_reason}


def grantable(case: Case, member: Member) -> list[Member]:
    """Enrolled members this case may be handed to (conflicted members are never offered)."""
    from whistle import db

    session = db.session()
    holders = set(session.scalars(select(CaseGrant.member_id).where(CaseGrant.case_id == case.id)))
    result = []
    for other in session.scalars(select(Member).where(routing.KEY_HOLDER)
                                 .order_by(Member.username)):
        allowed, _reason = routing.can_grant(services().rules, header_of(case), other.username)
        if allowed and other.id not in holders:
            result.append(other)
    return result


def propose(session, case: Case, member: Member, action: str, payload: dict, on: dt.date) -> PendingAction | None:
    """Record a sensitive action that waits for a second, different member; None (nothing
    recorded) when one of the same kind already waits on this case: a second click, or a
    colleague asking for the same thing, is a confirmation to give, not a new request.
    Call with the case locked (cases.locked), so two proposals cannot both pass the check."""
    waiting = session.scalar(select(PendingAction.id).where(PendingAction.case_id == case.id,
                                                            PendingAction.action == action).limit(1))
    if waiting is not None:
        return None
    pending = PendingAction(case_id=case.id, action=action, payload=json.dumps(payload, ensure_ascii=False),
                            proposed_by=member.id, proposed_on=on)
    session.add(pending)
    session.flush()
    audit.record(session, "proposed_" + action, actor=member.username, on=on, case_id=case.id,
                 action_id=pending.id, **payload)
    return pending


def apply_grade(session, case: Case, grade: str, reason: str, member: Member, on: dt.date, *, confirmed_by=None):
    """Set the grade by hand, keeping the reason and who did it."""
    before = case.risk_grade
    case.risk_grade = grade
    case.risk_override_reason = reason
    audit.record(session, "grade_override", actor=member.username, on=on, case_id=case.id,
                 before=before, after=grade, reason=reason, confirmed_by=confirmed_by)


# A proposal the case has since outgrown: what the proposer asked no longer makes sense
# (a purge of a case reopened for review, a close of a case closed meanwhile, a downgrade
# from 高危 of a case no longer 高危). Approving it
# would act on a case the second member is not looking at as the proposer saw it.
OUTGROWN = {"purge": lambda case: case.status != "closed", "close": lambda case: case.status == "closed",
            "downgrade": lambda case: case.risk_grade != "high"}


def confirm(session, case: Case, pending: PendingAction, member: Member, approve: bool, on: dt.date) -> bool:
    """Second member's decision on a pending action; it is applied only on approval, and
    only if the case still is as the proposal assumed. Returns False when the proposal was
    withdrawn for that reason (it is deleted and recorded, nothing else changes)."""
    proposer = session.get(Member, pending.proposed_by)
    payload = json.loads(pending.payload)
    action, action_id = pending.action, pending.id
    session.delete(pending)  # first: a purge below removes the case's pending actions too
    session.flush()
    if approve and OUTGROWN.get(action, lambda _case: False)(case):
        audit.record(session, "withdrawn_" + action, actor=member.username, on=on, case_id=case.id,
                     action_id=action_id, proposed_by=proposer.username, status=case.status, grade=case.risk_grade)
        return False
    if approve and action == "downgrade":
        apply_grade(session, case, payload["grade"], payload["reason"], proposer, on, confirmed_by=member.username)
    elif approve and action == "purge":
        from whistle.custody import retention

        retention.purge(session, case, on=on, actor=proposer.username, reason=payload.get("reason", ""),
                        confirmed_by=member.username)
    elif approve and action == "close":
        cases.add_event(session, case, "closed", on)
        audit.record(session, "status", actor=proposer.username, on=on, case_id=case.id, event="closed",
                     confirmed_by=member.username)
    audit.record(session, ("confirmed_" if approve else "rejected_") + action, actor=member.username,
                 on=on, case_id=case.id, action_id=action_id, proposed_by=proposer.username)
    return True
