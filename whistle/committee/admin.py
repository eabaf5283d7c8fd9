"""Account management: invitations and deactivation (admins), and the confirmation of
enrolments (whoever the rules file's ``[enrolment] confirmers`` names). Admins never read
cases: they have no key, and routing never grants them one. The rules themselves (who acts,
two people, audit) live in whistle.committee.enrolment; these views only call it."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from whistle import db
from whistle.committee import enrolment
from whistle.clock import committee_today
from whistle.committee.access import current_member, role_required
from whistle.committee.auth import bp
from whistle.models import Member
from whistle.services import services


def _refusal(code: str) -> str:
    """The message of a refused account action."""
    return {
        "self": _("Nobody may do that to their own account."),
        "unknown": _("Only people listed in the rules file can be invited."),
        "inviter": _("The person who invited this account cannot confirm it."),
        "not_confirmer": _("You may not confirm this enrolment."),
        "not_waiting": _("This account is not waiting for confirmation."),
        "fingerprint": _(
            "The fingerprint does not match. Ask the new member to read it again; if it still differs, do not confirm."
        ),
        "requester": _("Another admin must confirm this deactivation."),
    }.get(code, _("That account cannot be changed."))


def _members_page(**extra):
    accounts = {m.username: m for m in db.session().scalars(select(Member))}
    extra.setdefault("invite_link", None)
    return render_template(
        "committee/admin_members.html",
        people=services().rules.members,
        accounts=accounts,
        requests=enrolment.pending_requests(db.session()),
        **extra,
    )


@bp.get("/admin/members")
@role_required("admin")
def admin_members():
    """Everyone in the rules file, with their enrolment state."""
    return _members_page()


@bp.post("/admin/members/<username>/invite")
@role_required("admin")
def admin_invite(username):
    """Create a one-time enrolment link (shown once) for a person listed in the rules file.
    The account then waits for a second person's confirmation."""
    with db.transaction() as s:
        outcome = enrolment.invite(s, services().rules, current_member().username, username[:64], committee_today())
    if not outcome.ok:
        flash(_refusal(outcome.code), "error")
        return redirect(url_for("committee.admin_members"))
    link = url_for("committee.enrol", token=outcome.token, _external=True)
    return _members_page(invite_link=link, invited=username)


@bp.post("/admin/members/<username>/deactivate")
@role_required("admin")
def admin_deactivate(username):
    """Switch an account off (a member who leaves); their cases are handed on by re-granting.
    The only holder of a case, or the overseer, is switched off by a second admin."""
    with db.transaction() as s:
        outcome = enrolment.deactivate(s, services().rules, current_member().username, username[:64], committee_today())
    if not outcome.ok:
        flash(_refusal(outcome.code), "error")
    elif outcome.code == "requested":
        flash(_("Deactivation requested: another admin must confirm it."), "info")
    return redirect(url_for("committee.admin_members"))


@bp.get("/enrolments")
@role_required("admin", "overseer", "unit_lead")
def enrolments():
    """Accounts waiting for this member's confirmation."""
    return _enrolments_page()


def _enrolments_page(error: str | None = None):
    me = current_member().username
    waiting = [
        m
        for m in db.session().scalars(select(Member).order_by(Member.username))
        if enrolment.waiting(m) and m.invited_by != me and enrolment.may_confirm(services().rules, me, m.username)
    ]
    unit_of = {p.username: p.unit for p in services().rules.members}
    return render_template("committee/enrolments.html", waiting=waiting, unit_of=unit_of, error=error), (
        400 if error else 200
    )


@bp.post("/enrolments/<username>/confirm")
@role_required("admin", "overseer", "unit_lead")
def confirm_enrolment(username):
    """Confirm an enrolment with the fingerprint the new member read out."""
    with db.transaction() as s:
        outcome = enrolment.confirm(
            s,
            services().rules,
            current_member().username,
            username[:64],
            request.form.get("fingerprint", ""),
            committee_today(),
        )
    if outcome.ok:
        flash(_("%(name)s is confirmed: cases can now be sealed to them.", name=username), "info")
        return redirect(url_for("committee.enrolments"))
    return _enrolments_page(_refusal(outcome.code))
