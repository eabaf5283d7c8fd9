"""Public pages of pre-appointment notices (任前公示): the list, one notice, and the reporter
form with the notice attached. Like every reporter page they work without JavaScript, set
no cookie and record nothing about the visitor; with JavaScript on, report.js seals the
comment in the browser and posts it to /api/v1/reports with the notice in its header.

Outside its window a notice takes no comment: the pages say so plainly (HTTP 200 for a
GET, 409 for a submission), in the visitor's language, never with an error page.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request

from crypto.keys import random_bytes
from whistle import clock, catalog, db
from whistle.cases import sealing
from whistle.channels import notices
from whistle.extensions import submit_limits
from whistle.models import Notice
from whistle.security.proof_of_work import nojs_limits
from whistle.reporter.forms import read_identity, read_report_form
from whistle.scrub.gate import outcomes as scrub_outcomes
from whistle.services import services

bp = Blueprint("notices", __name__)


def _now() -> datetime:
    return datetime.now(ZoneInfo(services().config.timezone))


def _notice(notice_id: str) -> Notice:
    notice = db.session().get(Notice, notice_id) if catalog.is_notice_id(notice_id) else None
    if notice is None:
        abort(404)
    return notice


def _window_message(state: str) -> str | None:
    """What the page says instead of a form when the window is not open."""
    if state == notices.CLOSED:
        return str(notices.NoticeClosed.message)
    if state == notices.UPCOMING:
        return str(notices.NoticeNotOpen.message)
    return None


def _department_name(notice: Notice) -> str:
    from flask_babel import get_locale

    department = services().rules.department_codes.get(notice.department)
    return department.name(str(get_locale())) if department else notice.department


@bp.get("/notices")
def public_list():
    """Open notices, and those closed in the last RECENT_DAYS days."""
    open_, recent = notices.public_lists(db.session(), clock.today(services().config.timezone))
    return render_template(
        "notices/list.html",
        open_notices=open_,
        recent_notices=recent,
        recent_days=notices.RECENT_DAYS,
        department_name=_department_name,
    )


@bp.get("/notices/<notice_id>")
def public_notice(notice_id):
    """One notice, with a comment button while its window is open."""
    notice = _notice(notice_id)
    state = notices.window_state(notice, _now(), services().config.timezone)
    return render_template(
        "notices/notice.html",
        notice=notice,
        state=state,
        window_message=_window_message(state),
        department_name=_department_name,
    )


def _form(notice, state, status=200, **extra):
    return render_template(
        "reporter/report_form.html",
        channel=catalog.NOTICE_CHANNEL,
        notice=notice,
        window_message=_window_message(state),
        department_name=_department_name,
        values=extra.pop("values", {}),
        errors=extra.pop("errors", {}),
        **extra,
    ), status


@bp.get("/report/notice/<notice_id>")
def comment_form(notice_id):
    """The reporter form with the notice on top; a plain message when comments are closed."""
    notice = _notice(notice_id)
    return _form(notice, notices.window_state(notice, _now(), services().config.timezone))


@bp.post("/report/notice/<notice_id>")
@submit_limits
@nojs_limits  # no proof of work without JavaScript: the same stricter budget as a report
def comment_submit(notice_id):
    """No-JS comment: checked against the window first (nothing is read or sealed for a
    closed notice), then sealed in memory like any report; the receipt is shown once."""
    notice = _notice(notice_id)
    now = _now()
    state = notices.window_state(notice, now, services().config.timezone)
    if state != notices.OPEN:
        return _form(notice, state, 409)
    files = request.seal_files(random_bytes(32))
    form = request.form  # parsing streams and encrypts the files (whistle.cases.uploads)
    fixed = {catalog.NOTICE_FIELD: notice.id, "department": notice.department}
    header, body, errors = read_report_form(form, catalog.NOTICE_CHANNEL, fixed)
    identity, identity_errors = read_identity(form)
    errors.update(identity_errors)
    if errors:
        return _form(notice, state, 400, values=form, errors=errors, files_dropped=bool(files.spools))
    try:
        sealed = sealing.seal_report(
            services().config,
            header=header,
            body=body,
            files=files,
            rules=services().rules,
            on=clock.today(services().config.timezone),
            identity=identity,
            now=now,
        )
    except (notices.NoticeClosed, notices.NoticeNotOpen) as exc:  # pragma: no cover - checked above
        return _form(notice, notices.CLOSED if isinstance(exc, notices.NoticeClosed) else notices.UPCOMING, exc.status)
    return render_template(
        "reporter/receipt.html",
        code=sealed.code.grouped(),
        received_on=sealed.case.received_on,
        scrubbed=scrub_outcomes(files.spools),
    )
