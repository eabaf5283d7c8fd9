"""Triage as members see it: deadlines and urgency, the grade and why, and who may receive
a grant. (What members change, with the two-person rule, is in whistle.cases.actions.)"""

import datetime as dt

from sqlalchemy import select

from whistle import catalog
from whistle.cases import store as cases
from whistle.models import Case, CaseGrant, Member
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
    fed_back = cases.outcome_told(case) is not None  # an interim reply is not the feedback
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
    return {
        "assessment": assessment,
        "computed": assessment.grade,
        "current": case.risk_grade,
        "override_reason": case.risk_override_reason,
    }


def grantable(case: Case, member: Member) -> list[Member]:
    """Enrolled members this case may be handed to (conflicted members are never offered)."""
    from whistle import db

    session = db.session()
    holders = set(session.scalars(select(CaseGrant.member_id).where(CaseGrant.case_id == case.id)))
    result = []
    for other in session.scalars(select(Member).where(routing.KEY_HOLDER).order_by(Member.username)):
        allowed, _reason = routing.can_grant(services().rules, header_of(case), other.username)
        if allowed and other.id not in holders:
            result.append(other)
    return result
