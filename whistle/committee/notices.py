"""Pre-appointment notices in the workspace: the organization department's cadre-supervision
members publish them; the members of every unit their comments are routed to see, per
notice, how many comments arrived, where they went and how they were disposed of (counts,
never content) for the appointment decision."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from whistle import catalog, db
from whistle.custody import audit
from whistle.channels import notices
from whistle.committee.access import current_member, login_required
from whistle.committee.auth import bp
from whistle.clock import committee_today
from whistle.models import Notice
from whistle.services import services


def _problem_messages(found: dict) -> dict:
    """Field -> a sentence in the member's language."""
    texts = {
        "required": _("Please fill this in."),
        "too_long": _("This is too long."),
        "unknown": _("Please choose one of the options."),
        "date": _("Please give a date as YYYY-MM-DD."),
        "past": _("The window cannot start before today."),
        "too_far": _("The window cannot start more than %(n)d days from today.", n=notices.MAX_LEAD_DAYS),
        "order": _("The last day cannot come before the first day."),
        "too_short": _(
            "The window must include at least %(n)d working days (public holidays and "
            "weekends do not count, make-up working days do).",
            n=notices.MIN_WORKING_DAYS,
        ),
        "too_wide": _("The last day cannot be more than %(n)d days after the first day.", n=notices.MAX_WINDOW_DAYS),
    }
    return {name: texts[code] for name, code in found.items()}


def _viewer():
    member = current_member()
    if not notices.may_view(services().rules, member.username):
        abort(403)
    return member


def _render_list(values=None, errors=None, status=200):
    member = current_member()
    today = committee_today()
    rows = [
        {"notice": n, "state": notices.state_on(n, today)}
        for n in notices.all_notices(db.session())
        if not notices.conflicted(services().rules, member.username, n)
    ]
    return render_template(
        "committee/notices.html",
        rows=rows,
        values=values or {},
        errors=errors or {},
        may_publish=notices.may_publish(services().rules, member.username),
        min_days=notices.MIN_WORKING_DAYS,
        today=today,
    ), status


@bp.get("/notices")
@login_required
def notice_list():
    """Every notice, and the publishing form for those who may publish."""
    _viewer()
    return _render_list()


@bp.post("/notices")
@login_required
def notice_publish():
    """Publish a notice; a window of fewer than five working days is refused with a message."""
    member = _viewer()
    if not notices.may_publish(services().rules, member.username):
        abort(403)
    draft = notices.draft_from(request.form)
    found = notices.problems(draft, services().rules, services().calendar, committee_today())
    if found:
        values = dict(request.form)
        if "closes_on" in found and found["closes_on"] == "too_short":
            values["working_days"] = notices.working_days(services().calendar, draft.opens_on, draft.closes_on)
        return _render_list(values, _problem_messages(found), 400)
    with db.transaction() as s:
        notice = notices.publish(s, draft, by=member.username, on=committee_today())
        audit.record(
            s,
            "notice_published",
            actor=member.username,
            on=committee_today(),
            notice=notice.id,
            opens_on=notice.opens_on.isoformat(),
            closes_on=notice.closes_on.isoformat(),
        )
    if notices.conflicted(services().rules, member.username, notice):
        return redirect(url_for("committee.notice_list"), 303)  # published, but not theirs to follow
    return redirect(url_for("committee.notice_page", notice_id=notice.id), 303)


@bp.get("/notices/<notice_id>")
@login_required
def notice_page(notice_id):
    """A notice with the summary of its comments: counts of routing and dispositions only. A
    member whose own department is the candidate's is refused as for a case about it: audited,
    and answered 404."""
    member = _viewer()
    notice = db.session().get(Notice, notice_id) if catalog.is_notice_id(notice_id) else None
    if notice is None:
        abort(404)
    if notices.conflicted(services().rules, member.username, notice):
        with db.transaction() as s:
            audit.record(
                s, "refused_view", actor=member.username, on=committee_today(), notice=notice.id, reason="conflict"
            )
        abort(404)
    tz = services().config.timezone
    state = notices.window_state(notice, datetime.now(ZoneInfo(tz)), tz)
    return render_template(
        "committee/notice.html",
        notice=notice,
        state=state,
        summary=notices.summary(db.session(), services().rules, notice),
        working_days=notices.working_days(services().calendar, notice.opens_on, notice.closes_on),
    )
