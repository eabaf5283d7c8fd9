"""Account management for admins: invitations and deactivation. Admins never read cases:
they have no key, and routing never grants them one."""
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from whistle import db
from whistle.custody import audit
from whistle.committee import members
from whistle.clock import committee_today
from whistle.committee.access import current_member, role_required
from whistle.committee.auth import bp
from whistle.models import Member
from whistle.services import services


@bp.get("/admin/members")
@role_required("admin")
def admin_members():
    """Everyone in the rules file, with their enrolment state."""
    accounts = {m.username: m for m in db.session().scalars(select(Member))}
    return render_template("committee/admin_members.html", people=services().rules.members, accounts=accounts,
                           invite_link=None)


@bp.post("/admin/members/<username>/invite")
@role_required("admin")
def admin_invite(username):
    """Create a one-time enrolment link (shown once) for a person listed in the rules file."""
    if username not in services().rules.member_usernames:
        flash(_("Only people listed in the rules file can be invited."), "error")
        return redirect(url_for("committee.admin_members"))
    with db.transaction() as s:
        token = members.invite_recorded(s, username, committee_today(), by=current_member().username)
    link = url_for("committee.enrol", token=token, _external=True)
    accounts = {m.username: m for m in db.session().scalars(select(Member))}
    return render_template("committee/admin_members.html", people=services().rules.members, accounts=accounts,
                           invite_link=link, invited=username)


@bp.post("/admin/members/<username>/deactivate")
@role_required("admin")
def admin_deactivate(username):
    """Switch an account off (a member who leaves); their cases are handed on by re-granting."""
    with db.transaction() as s:
        member = s.scalar(select(Member).where(Member.username == username))
        if member is None or member.id == current_member().id:
            flash(_("That account cannot be deactivated."), "error")
            return redirect(url_for("committee.admin_members"))
        member.active = False
        audit.record(s, "deactivate", actor=current_member().username, on=committee_today(), member=username)
    return redirect(url_for("committee.admin_members"))
