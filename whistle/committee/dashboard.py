"""The member's dashboard: pictures of the cases they hold, drawn on the server as SVG.

Counts only; no content. A unit lead sees their whole unit's cases (still counts only)."""

import datetime as dt
from collections import Counter

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from whistle import db
from whistle.transparency import charts
from whistle.committee.access import current_member, login_required, rule_of
from whistle.committee.auth import bp
from whistle.committee.labels import DISPOSITIONS
from whistle.clock import committee_today
from whistle.models import Case, CaseGrant
from whistle.services import services

WEEKS = 12


def _scope():
    """Cases this member's dashboard covers: held by them, or (unit leads) routed to their unit."""
    member = current_member()
    rule = rule_of(member.username)
    held = select(CaseGrant.case_id).where(CaseGrant.member_id == member.id)
    condition = Case.id.in_(held)
    if rule.role == "unit_lead":
        condition = or_(condition, Case.handling_unit == rule.unit)
    return db.session().scalars(select(Case).where(condition)).all()


def awaiting_regrant(unit: str) -> int:
    """Cases routed to ``unit`` that no member holds a grant for (filed before anyone there
    enrolled, or their readers left): only the committee key opens them until it re-grants
    them. The list and the dashboard both say how many, and what to do."""
    granted = select(CaseGrant.case_id).where(CaseGrant.case_id == Case.id).exists()
    return (
        db.session().scalar(
            select(func.count(Case.id)).where(
                Case.handling_unit == unit, Case.held_for_superior.is_(False), Case.status != "purged", ~granted
            )
        )
        or 0
    )


def overdue_on(case: Case, day: dt.date) -> bool:
    """Was ``case`` overdue on ``day``: a deadline passed before the step it asks for?"""
    if case.received_on > day:
        return False
    done = {e.event: e.happened_on for e in case.events}

    def late(due, *events):
        finished = [done[e] for e in events if e in done]
        return due is not None and due < day and not any(f <= day for f in finished)

    return late(case.ack_due, "acknowledged", "in_review", "closed") or late(
        case.feedback_due, "feedback_sent", "closed"
    )


@bp.get("/dashboard")
@login_required
def dashboard():
    """Cases by department and grade, by disposition, and overdue over the last weeks."""
    found = _scope()
    lang = str(__import__("flask_babel").get_locale())
    departments = services().rules.department_codes
    by_department: dict[str, Counter] = {}
    for case in found:
        name = departments[case.department].name(lang) if case.department in departments else case.department
        by_department.setdefault(name, Counter())[case.risk_grade] += 1
    grades = [("high", _("High risk (高危)")), ("medium", _("Medium risk (中危)")), ("low", _("Low risk (低危)"))]
    dispositions = Counter(case.disposition or "" for case in found)
    today = committee_today()
    weeks = [today - dt.timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)]
    pictures = [
        charts.stacked_bar_chart(
            _("Cases by unit reported and risk grade"),
            sorted(((k, dict(v)) for k, v in by_department.items()), key=lambda r: -sum(r[1].values())),
            grades,
            empty_text=_("No cases"),
        ),
        charts.bar_chart(
            _("Cases by disposition"),
            [
                (str(DISPOSITIONS[k]) if k else _("No disposition yet"), n)
                for k, n in sorted(dispositions.items(), key=lambda kv: -kv[1])
            ],
            empty_text=_("No cases"),
        ),
        charts.line_chart(
            _("Overdue cases, week by week"),
            [(d.isoformat(), sum(overdue_on(c, d) for c in found)) for d in weeks],
            empty_text=_("No cases"),
            description=_("Number of overdue cases at the end of each of the last %(n)d weeks.", n=WEEKS),
        ),
    ]
    # The figures count what the member can open, as their case list does; a unit lead's
    # pictures also cover their unit's cases held by others.
    held = set(db.session().scalars(select(CaseGrant.case_id).where(CaseGrant.member_id == current_member().id)))
    mine = [c for c in found if c.id in held]
    return render_template(
        "committee/dashboard.html",
        pictures=pictures,
        total=len(mine),
        new_count=sum(1 for c in mine if c.status == "received"),
        overdue=sum(overdue_on(c, today) for c in mine),
        unit_wide=len(found) != len(mine),
        awaiting_regrant=awaiting_regrant(rule_of(current_member().username).unit),
    )
