"""The member's case list and case page. Content is decrypted in the browser
(static/js/committee-case.js); these views handle only routing fields, dates and actions."""

from contextlib import contextmanager

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from whistle import db
from whistle.custody import audit, retention
from whistle.cases import actions, store as cases
from whistle.committee import case_listing, dashboard, triage_view
from whistle.clock import committee_today
from whistle.committee.access import current_member, login_required, open_case, rule_of
from whistle.committee.auth import bp
from whistle.committee.case_listing import GRADE_ORDER, CaseListing, Position
from whistle.committee.labels import DISPOSITIONS  # the taxonomy, with labels
from whistle.errors import CasePurged
from whistle.models import Case, CaseGrant, PendingAction
from whistle.services import services

PAGE_SIZE = 50
# What the second member is told when the case outgrew a proposal (actions.OUTGROWN).
OUTGROWN_MESSAGES = {
    "purge": lambda: _("This case is no longer closed, so the request to purge it was withdrawn."),
    "close": lambda: _("This case is already closed, so the request to close it was withdrawn."),
    "downgrade": lambda: _("This case is no longer high risk, so the request to downgrade it was withdrawn."),
}


# What the member is told once a status change is recorded.
STATUS_DONE = {
    "acknowledged": lambda: _("The case is acknowledged; the reporter sees this on their timeline."),
    "in_review": lambda: _("The case is marked under review."),
    "closed": lambda: _("The case is closed."),
}


def _already_waiting() -> str:
    """What a member proposing what already waits on the case is told."""
    return _("A request of this kind is already waiting for a second member: confirm or reject that one.")


@bp.get("/")
@login_required
def case_list():
    """Cases granted to me: overdue first, then due soon, then by grade and age."""
    member = current_member()
    if rule_of(member.username).role == "admin":  # admins never hold cases: their home is Members
        return redirect(url_for("committee.admin_members"))
    today = committee_today()
    after = _cursor_arg()
    if after is not None and request.args.get("on") != today.isoformat():
        # Tiers are computed for one day: a cursor from another (a page left open over
        # midnight) could skip or repeat cases, so the list starts again from the top.
        return redirect(url_for("committee.case_list"))
    listing = CaseListing(db.session(), member.id, today, triage_view.soon_limit(today))
    cases_here, following = listing.page(after, PAGE_SIZE)
    if after is not None and not cases_here:  # nothing follows it any more (cases purged or moved up)
        return redirect(url_for("committee.case_list"))
    failed = (
        set(
            db.session().scalars(
                select(CaseGrant.case_id).where(
                    CaseGrant.member_id == member.id,
                    CaseGrant.key_failed.is_(True),
                    CaseGrant.case_id.in_([c.id for c in cases_here]),
                )
            )
        )
        if cases_here
        else set()
    )
    return render_template(
        "committee/cases.html",
        rows=[triage_view.summary(c, today) for c in cases_here],
        key_failed=failed,
        next_cursor=following.encode() if following else None,
        listed_on=today.isoformat(),
        first_page=after is None,
        new_count=listing.new_count(),
        new_count_cap=case_listing.NEW_COUNT_CAP,
        awaiting_regrant=dashboard.awaiting_regrant(rule_of(member.username).unit),
    )


def _cursor_arg() -> "Position | None":
    """The ``after`` cursor of this request; a malformed one is a bad request, not page one."""
    raw = request.args.get("after")
    if raw is None:
        return None
    position = Position.decode(raw)
    if position is None:
        abort(400)
    return position


@bp.get("/cases/<case_id>")
@login_required
def case_page(case_id):
    """Routing fields, grade and why, deadlines, timeline, actions; content comes via JS."""
    case = open_case(case_id)
    with db.transaction() as s:
        audit.record(s, "view", actor=current_member().username, on=committee_today(), case_id=case.id)
    from whistle.committee import identity

    pending = (
        db.session()
        .scalars(
            select(PendingAction).where(PendingAction.case_id == case.id, PendingAction.action != identity.DISCLOSE)
        )
        .all()
    )
    return render_template(
        "committee/case.html",
        case=case,
        view=triage_view.summary(case, committee_today()),
        why=triage_view.why(case),
        events=case.events,
        pending=pending,
        dispositions=DISPOSITIONS,
        member=current_member(),
        grantable=triage_view.grantable(case, current_member()),
        identity=identity.case_view(case, current_member()),
        real_name_result_days=services().rules.deadlines.real_name_result,
    )


def _post_case(case_id) -> Case:
    return open_case(case_id, action="change")


@contextmanager
def _purged_is_gone():
    """A case purged since it was opened is gone (404), as a case never granted is."""
    try:
        yield
    except CasePurged:
        abort(404)


def _locked(s, case: Case) -> Case:
    """The case under its row lock, read again; a case purged since it was opened is gone
    (404): a change applied to its tombstone would bring it back among the open cases."""
    case = cases.locked(s, s.merge(case))
    if case.status == "purged":
        abort(404)
    return case


@bp.post("/cases/<case_id>/status")
@login_required
def set_status(case_id):
    """Acknowledge / under review / closed (closing a 高危 case needs a second member)."""
    case = _post_case(case_id)
    event = request.form.get("event")
    if event not in ("acknowledged", "in_review", "closed"):
        abort(400)
    with _purged_is_gone(), db.transaction() as s:
        outcome = actions.set_status(
            s, case, event, by=actions.Actor.of(current_member()), on=committee_today(), rules=services().rules
        )
    if outcome is actions.Outcome.UNCHANGED:
        flash(_("The case already has this status."))
    elif outcome is actions.Outcome.ALREADY_WAITING:
        flash(_already_waiting())
    elif outcome is actions.Outcome.PROPOSED:
        flash(_("Closing a high-risk case needs a second member: your request is waiting for confirmation."))
    else:
        flash(STATUS_DONE[event]())
    return redirect(url_for("committee.case_page", case_id=case.id))


@bp.post("/cases/<case_id>/disposition")
@login_required
def set_disposition(case_id):
    """Record a disposition from the official taxonomy (duplicates link to the earlier case)."""
    case = _post_case(case_id)
    code = request.form.get("disposition")
    if not code:  # the list has no preselected value: a careless submit records nothing
        flash(_("Choose a disposition before recording it."), "error")
        return redirect(url_for("committee.case_page", case_id=case.id)), 303
    if code not in DISPOSITIONS:
        abort(400)
    duplicate_of = (request.form.get("duplicate_of") or "").strip().lower() or None
    reason = (request.form.get("reason") or "").strip()
    if code == "duplicate":
        other = db.session().get(Case, duplicate_of) if duplicate_of and len(duplicate_of) == 32 else None
        if other is None or other.id == case.id:
            flash(_("Give the id of the earlier case this one duplicates."), "error")
            return redirect(url_for("committee.case_page", case_id=case.id)), 303
    if code == "not_accepted" and not reason:
        flash(_("Not accepting a report needs a reason."), "error")
        return redirect(url_for("committee.case_page", case_id=case.id)), 303
    with _purged_is_gone(), db.transaction() as s:
        outcome = actions.set_disposition(
            s,
            case,
            code,
            duplicate_of=duplicate_of,
            reason=reason,
            by=actions.Actor.of(current_member()),
            on=committee_today(),
            rules=services().rules,
        )
    if outcome is actions.Outcome.ALREADY_WAITING:
        flash(_already_waiting())
    elif outcome is actions.Outcome.PROPOSED:
        flash(
            _(
                "This disposition would shorten how long the closed case is kept: it needs a second member, "
                "and your request is waiting for confirmation."
            )
        )
    else:
        flash(_("Disposition recorded."))
    return redirect(url_for("committee.case_page", case_id=case.id))


@bp.post("/cases/<case_id>/grade")
@login_required
def override_grade(case_id):
    """Manual grade with a written reason; a downgrade from 高危 waits for a second member."""
    case = _post_case(case_id)
    grade = request.form.get("grade")
    reason = (request.form.get("reason") or "").strip()
    if grade not in GRADE_ORDER:
        abort(400)
    if not reason:
        flash(_("A manual grade needs a written reason."), "error")
        return redirect(url_for("committee.case_page", case_id=case.id)), 303
    with _purged_is_gone(), db.transaction() as s:
        outcome = actions.set_grade(s, case, grade, reason, by=actions.Actor.of(current_member()), on=committee_today())
    if outcome is actions.Outcome.ALREADY_WAITING:
        flash(_already_waiting())
    elif outcome is actions.Outcome.PROPOSED:
        flash(_("A downgrade from high risk needs a second member: your request is waiting for confirmation."))
    else:
        flash(_("Grade changed."))
    return redirect(url_for("committee.case_page", case_id=case.id))


@bp.post("/cases/<case_id>/purge")
@login_required
def propose_purge(case_id):
    """Purging a closed case before its retention period ends needs a second member."""
    case = _post_case(case_id)
    reason = (request.form.get("reason") or "").strip()
    back = redirect(url_for("committee.case_page", case_id=case.id), 303)
    with _purged_is_gone(), db.transaction() as s:
        outcome = actions.propose_purge(s, case, reason, by=actions.Actor.of(current_member()), on=committee_today())
    if outcome is None:
        flash(_("Only a closed case can be purged early, and only with a written reason."), "error")
        return back
    if outcome is actions.Outcome.ALREADY_WAITING:
        flash(_already_waiting())
        return back
    flash(_("Purging needs a second member: your request is waiting for confirmation."))
    return redirect(url_for("committee.case_page", case_id=case.id))


@bp.post("/cases/<case_id>/confirm/<pending_id>")
@login_required
def confirm(case_id, pending_id):
    """A second member confirms (or rejects) a pending sensitive action."""
    case = _post_case(case_id)
    with db.transaction() as s:
        # The case's lock first, then the request read again under it: a double click, or
        # two members confirming at once, decide it once; the later one finds it gone.
        locked = _locked(s, case)
        pending = s.get(PendingAction, pending_id, populate_existing=True)
        if pending is None and len(pending_id) == 32:
            flash(_("This request has already been decided."))
            return redirect(url_for("committee.case_page", case_id=case.id)), 303
        if pending is None or pending.case_id != case.id or pending.action == "disclose":
            abort(404)  # a disclosure request is decided by a custodian (whistle.committee.identity)
        if pending.proposed_by == current_member().id:
            audit.record(
                s,
                "refused_self_confirm",
                actor=current_member().username,
                on=committee_today(),
                case_id=case.id,
                action_id=pending.id,
            )
            flash(_("The confirmation must come from a different member."), "error")
            return redirect(url_for("committee.case_page", case_id=case.id)), 303
        action = pending.action
        approve = request.form.get("decision") == "approve"
        applied = actions.confirm(
            s, locked, pending, current_member(), approve, committee_today(), rules=services().rules
        )
    if not applied:
        flash(OUTGROWN_MESSAGES[action](), "error")
        return redirect(url_for("committee.case_page", case_id=case.id)), 303
    if approve and action == "purge":
        # As the console's purge does: on SQLite the freed pages' old copies stay in the WAL
        # (and the main file keeps them until a checkpoint overwrites them) otherwise.
        with db.transaction() as s:
            retention.checkpoint(s)
    return redirect(url_for("committee.case_page", case_id=case.id))
