"""Who the logged-in member is, what the rules say about them, and what they may open."""

import functools

from flask import abort, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Unauthorized
from sqlalchemy import select

from whistle import db
from whistle.clock import committee_today
from whistle.custody import audit
from whistle.models import Case, CaseGrant, Member
from whistle.triage.routing import holder_refusal
from whistle.web import HTTP_MESSAGES, http_error_response
from whistle.services import services


def rule_of(username: str):
    """The rules-file entry of ``username`` (unit, own departments, role), or None."""
    return services().rules.member(username)


def current_member() -> Member | None:
    """The logged-in, active member of this request, if any."""
    if "member" not in g:
        member_id = session.get("member")
        member = db.session().get(Member, member_id) if member_id else None
        # Confirmed too: an account invited again (or never confirmed) has no session, so a
        # session opened before a re-invitation ends with it.
        g.member = (
            member
            if member is not None and member.active and member.confirmed_on is not None and rule_of(member.username)
            else None
        )
    return g.member


# Flask-WTF's reasons for refusing a token when the session it was made for is gone: the
# session holds no token any more, or (a new one started meanwhile, in another tab) another.
SESSION_ENDED = {"The CSRF session token is missing.", "The CSRF tokens do not match."}


def session_ended(exc: CSRFError):
    """Error handler of the committee's blueprints for a refused CSRF token. A page of ours
    sends the token it was served with; refused for one of those reasons while nobody is
    logged in, the page's session has ended since (logout in another tab, the idle or
    absolute timeout). It is told so instead of "the request could not be understood": the
    API answers 401, a form goes back to the login page with the message, and the
    enrolment form (whose invitee has no login yet) back to itself. Flask-WTF gives the
    first reason before it checks the token's signature, so a made-up token without a
    session gets the same answer; nothing runs either way. A request without a token, a
    token refused for another reason, or one from a member still logged in: the usual 400."""
    if exc.description not in SESSION_ENDED or current_member() is not None:
        return http_error_response(exc)
    if request.path.startswith("/committee/api/"):
        return http_error_response(Unauthorized())
    if request.path.startswith("/committee/enrol/"):
        flash(_("This page had expired. Please fill it in again."), "error")
        # Built again, not request.path: that is decoded, and a line break in it (%0A) is
        # refused as a header value.
        return redirect(url_for(request.endpoint, **(request.view_args or {})))
    flash(HTTP_MESSAGES[401](), "error")
    return redirect(url_for("committee.login"))


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


def may_open(member: Member, case) -> bool:
    """A case opens only for a member who holds a grant and, by the rules as they are now,
    may hold it: no conflict in it, a reader's role (the grant is what gives them the key;
    the rules check refuses even a grant made by mistake, or one the rules have outgrown)."""
    if (
        member is None
        or member.confirmed_on is None
        or case.held_for_superior
        or holder_refusal(services().rules, member.username, case.department, case.accused_member) is not None
    ):
        return False
    return (
        db.session().scalar(select(CaseGrant).where(CaseGrant.case_id == case.id, CaseGrant.member_id == member.id))
        is not None
    )


COMMITTEE_JSON_BYTES = 4 * 1024 * 1024  # a sealed reply or note, a grant's re-sealed keys


def open_case(case_id: str, action: str = "view") -> Case:
    """The case, if this member may open it; a refusal is audited and answered 404 (the
    member learns nothing about a case they have no grant for)."""
    member = current_member()
    case = db.session().get(Case, case_id) if len(case_id) == 32 else None
    if case is None or not may_open(member, case):
        with db.transaction() as s:
            audit.record(
                s,
                "refused_" + action,
                actor=member.username,
                on=committee_today(),
                case_id=case.id if case is not None else None,
            )
        abort(404)
    return case


def _bad_text(value) -> bool:
    """A NUL (PostgreSQL refuses it in text) or a lone surrogate (not encodable as UTF-8)."""
    if not isinstance(value, str):
        return False
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _bad_pairs(pairs) -> bool:
    return any(_bad_text(key) or _bad_text(value) for key, value in pairs)


def _bad_json(data) -> bool:
    """Any key or string anywhere in parsed JSON that _bad_text refuses."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if any(_bad_text(key) for key in item):
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif _bad_text(item):
            return True
    return False


def refuse_nul_characters() -> None:
    """before_request of the committee's blueprints: text no database column could take, a
    NUL character (PostgreSQL refuses it: a 500 there, a stored NUL on SQLite) or a lone
    surrogate, is a 400 wherever a member can type it: the path, the query string, a form,
    a JSON body. Members' free text (reasons, notices, survey items) is stored in clear.

    Bodies are read here only as far as their view would read them anyway: a small form
    (login, enrolment) always; multipart and JSON only for a logged-in member, JSON at most
    COMMITTEE_JSON_BYTES, so an anonymous request never makes the server read a large body."""
    if _bad_pairs(request.args.items(multi=True)) or _bad_pairs((request.view_args or {}).items()):
        abort(400)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype == "application/x-www-form-urlencoded":
        if _bad_pairs(request.form.items(multi=True)):
            abort(400)
        return
    if current_member() is None:
        return  # the view refuses the request without reading its body
    if request.mimetype == "multipart/form-data":
        # Files are spooled as the views spool them (ciphertext: the committee only uploads
        # what the browser sealed); only the text fields are checked.
        if _bad_pairs(request.form.items(multi=True)):
            abort(400)
    elif request.is_json:
        if (request.content_length or 0) > COMMITTEE_JSON_BYTES:
            abort(413)
        request.max_content_length = COMMITTEE_JSON_BYTES
        data = request.get_json(silent=True)
        if data is not None and _bad_json(data):
            abort(400)
