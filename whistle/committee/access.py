"""Who the logged-in member is, what the rules say about them, and what they may open."""
import functools

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import select

from whistle import db
from whistle.models import CaseGrant, Member


def rules():
    """The loaded rules."""
    return current_app.extensions["whistle.rules"]


def rule_of(username: str):
    """The rules-file entry of ``username`` (unit, own departments, role), or None."""
    return rules().member(username)


def current_member() -> Member | None:
    """The logged-in, active member of this request, if any."""
    if "member" not in g:
        member_id = session.get("member")
        member = db.session().get(Member, member_id) if member_id else None
        g.member = member if member is not None and member.active and rule_of(member.username) else None
    return g.member


def login_required(view):
    """Redirect to the login page unless a member is logged in."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_member() is None:
            if request.path.startswith("/committee/api/"):
                abort(401)
            return redirect(url_for("committee.login", next=request.path))
        return view(*args, **kwargs)
    return wrapped


def role_required(*roles):
    """Only members whose rules-file role is one of ``roles``."""
    def decorate(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if rule_of(current_member().username).role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorate


def conflicted(member: Member, case) -> bool:
    """True if the member's own departments include the case's accused department."""
    rule = rule_of(member.username)
    return rule is None or case.department in rule.departments


def may_open(member: Member, case) -> bool:
    """A case opens only for a member who holds a grant and has no conflict in it (the grant
    is what gives them the key; the conflict check refuses even a grant made by mistake)."""
    if member is None or conflicted(member, case) or case.held_for_superior:
        return False
    return db.session().scalar(select(CaseGrant).where(
        CaseGrant.case_id == case.id, CaseGrant.member_id == member.id)) is not None


def _has_nul(pairs) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def refuse_nul_characters() -> None:
    """before_request of the committee's blueprints: a NUL character in the query string, a
    form or a JSON body is a 400. Members' free text (reasons, notices, survey items) is
    stored in clear, and PostgreSQL refuses NUL in text: it would otherwise be a 500 there
    (and a stored NUL on SQLite). Multipart bodies are left to their views, which choose how
    their files are spooled before anything parses them."""
    if _has_nul(request.args.items(multi=True)):
        abort(400)
    if request.mimetype == "application/x-www-form-urlencoded" and _has_nul(request.form.items(multi=True)):
        abort(400)
    if request.is_json and b"\\u0000" in request.get_data(cache=True):
        abort(400)
