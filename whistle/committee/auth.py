"""Login (password + TOTP), logout, and enrolment from a one-time invitation."""

import io
import json

import segno
from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import Markup

from crypto.encoding import unb64u
from crypto.errors import FormatError
from whistle import db
from whistle.custody import audit
from whistle.committee import enrolment, members
from whistle.clock import today
from whistle.committee.access import current_member, refuse_nul_characters, rule_of, session_ended
from whistle.triage.routing import READER_ROLES
from whistle.extensions import limiter
from whistle.services import services

bp = Blueprint("committee", __name__, url_prefix="/committee")
bp.register_error_handler(CSRFError, session_ended)
bp.before_request(refuse_nul_characters)


def _typed_username() -> str:
    """The username as it is looked up (members.authenticate reads no more than 64
    characters), so that the per-account limit and the lookup see the same account."""
    return (request.form.get("username") or "").strip().lower()[:64]


def _login_key() -> str:
    """Per-account throttling: the limit follows the username, whoever tries it."""
    from whistle.security.privacy import keyed

    return "account:" + keyed(_typed_username())


def _refund_login_limits() -> None:
    """Give back what a successful login spent: only failures use up the login budget.
    Every attempt is counted before its password is checked (a check first and a count
    after the answer would let attempts sent at once all pass the check), so a success
    is handed back afterwards instead."""
    for spent in limiter.current_limits:
        spent.limiter.hit(spent.limit, *spent.request_args, cost=-1)


@bp.get("/login")
def login():
    """The login form."""
    if current_member() is not None:
        return redirect(url_for("committee.case_list"))
    return render_template("committee/login.html", error=None)


@bp.post("/login")
@limiter.limit("10 per 15 minutes", key_func=_login_key, scope="login-account")
@limiter.limit("30 per 15 minutes", scope="login-client")
def login_post():
    """Check password and TOTP together; one generic message whatever was wrong."""
    username = _typed_username()  # NUL: refused before (access.py)
    with db.transaction() as s:
        member = members.authenticate(
            s,
            services().secret,
            username,
            request.form.get("password", ""),
            request.form.get("totp", ""),
            services().totp_used,
        )
        if member is None or rule_of(member.username) is None:
            audit.record(s, "login_failed", actor=username[:64] or None, on=today(services().config.timezone))
            member = None
        elif member.confirmed_on is None:
            # Right credentials, but nobody confirmed the enrolment yet: no session, only
            # what to do next.
            return _waiting_page(s, member)
        else:
            audit.record(s, "login", actor=member.username, on=today(services().config.timezone))
    if member is None:
        return render_template("committee/login.html", error=_("The username, password or code is wrong.")), 401
    _refund_login_limits()
    session.rotate()
    session["member"] = member.id
    target = request.args.get("next", "")
    # Our own pages only; and no control character (a line break is refused as a header value).
    if not target.startswith("/committee/") or target.startswith("//") or not target.isprintable():
        target = url_for("committee.case_list")
    return redirect(target)


@bp.post("/logout")
def logout():
    """End the session on the server (the browser's unlocked key goes with it)."""
    member = current_member()
    if member is not None:
        with db.transaction() as s:
            audit.record(s, "logout", actor=member.username, on=today(services().config.timezone))
    session.end()
    return redirect(url_for("committee.login"))


def _qr_data_uri(uri: str) -> str:
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, svgclass=None, lineclass=None)
    import base64

    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@bp.route("/enrol/<token>", methods=["GET", "POST"])
@limiter.limit("30 per hour", scope="enrol")
def enrol(token):
    """Enrolment: set a password, pair an authenticator, and (members) create a key pair in
    the browser whose private half is wrapped under a passphrase the server never sees."""
    s = db.session()
    try:
        member = members.by_invite(s, token)
    except members.EnrolmentError:
        abort(404)
    rule = rule_of(member.username)
    if rule is None:
        abort(404)
    needs_key = rule.role in READER_ROLES  # admins and overseers never read cases: no key
    if "enrol_totp" not in session or session.get("enrol_for") != member.id:
        session["enrol_totp"] = members.new_totp_secret()
        session["enrol_for"] = member.id
    secret = session["enrol_totp"]
    uri = members.provisioning_uri(secret, member.username)
    errors = {}
    if request.method == "POST":
        form = request.form
        password = form.get("password", "")
        if len(password) < members.MIN_PASSWORD:
            errors["password"] = _("Use at least %(n)d characters.", n=members.MIN_PASSWORD)
        elif password != form.get("password2", ""):
            errors["password2"] = _("The two passwords differ.")
        step = members.check_totp(secret, form.get("totp", ""), lambda step: True)  # spent on success
        if step is None:
            errors["totp"] = _("The code does not match. Check the time on your phone and try again.")
        public_key = wrapped = None
        if needs_key:
            try:
                public_key = unb64u(form.get("public_key", ""))
                wrapped = form.get("wrapped_key", "")
                data = json.loads(wrapped)
                if len(public_key) != 32 or data.get("public_key") != form.get("public_key"):
                    raise FormatError("key mismatch")
            except (FormatError, ValueError, AttributeError):
                errors["key"] = _("Your key was not created. This step needs JavaScript.")
        if not errors:
            with db.transaction() as tx:
                member = tx.merge(member)
                members.complete_enrolment(
                    member,
                    password=password,
                    totp_secret_blob=members.seal_totp(services().secret, secret),
                    public_key=public_key,
                    wrapped_key=wrapped,
                    on=today(services().config.timezone),
                )
                # The code that enrolled cannot log in as well.
                members.step_claim(services().totp_used, secret)(step)
                enrolment.record_enrolled(tx, member, today(services().config.timezone), public_key)
                page = _waiting_page(tx, member)
            session.pop("enrol_totp", None)
            session.pop("enrol_for", None)
            return page
    return render_template(
        "committee/enrol.html",
        invitee=member,
        rule=rule,
        needs_key=needs_key,
        secret=secret,
        qr=Markup(_qr_data_uri(uri)),
        errors=errors,
    ), (400 if errors else 200)


def _waiting_page(s, member):
    """What a newly enrolled account sees until someone confirms it: who can, and the
    fingerprint to read to them (the browser shows its own, computed from the key it made)."""
    return render_template(
        "committee/enrolled.html",
        invitee=member,
        code=enrolment.enrolment_code(member),
        confirmers=enrolment.confirmers_of(s, services().rules, member),
    )


@bp.context_processor
def _committee_context():
    from whistle.committee.labels import context

    return context()
