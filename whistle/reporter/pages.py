"""Reporter pages. Every one works with JavaScript off; with it on, the same forms are
taken over by static/js/report.js and followup.js, which seal in the browser instead."""

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _

from crypto.errors import CryptoError, ReceiptError
from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, log_commitment
from crypto.stream import attachment_key, decrypt_stream
from whistle import clock, catalog, db
from whistle.cases import store as cases, sealing
from whistle.custody import public_log
from whistle.errors import BadReceipt, CasePurged, NoSuchReceipt, WhistleError
from whistle.extensions import followup_limits, submit_limits
from whistle.security.proof_of_work import nojs_limits
from whistle.models import Attachment
from whistle.reporter import timeline
from whistle.reporter.forms import read_identity, read_report_form, valid_channel
from whistle.cases.uploads import attachment_disposition, clean_filename, form_text
from whistle.scrub.gate import outcomes as scrub_outcomes
from whistle.services import services

bp = Blueprint("reporter", __name__)


def _today():
    return clock.today(services().config.timezone)


@bp.get("/")
def index():
    """Landing page: what this is, the two channels, follow-up, safety advice."""
    return render_template("reporter/index.html")


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico regardless of the page's icon link."""
    return current_app.send_static_file("img/favicon.svg")


@bp.get("/report/<channel>")
def report_form(channel):
    """The report form of ``channel``; 404 for an unknown channel."""
    if channel == catalog.NOTICE_CHANNEL:  # comments start from a notice's own page
        return redirect(url_for("notices.public_list"))
    if not valid_channel(channel):
        abort(404)
    return render_template("reporter/report_form.html", channel=channel, values={}, errors={})


@bp.post("/report/<channel>")
@submit_limits
@nojs_limits  # no proof of work without JavaScript: a stricter budget instead
def report_submit(channel):
    """No-JS submission: seal in memory, store ciphertext, show the receipt once."""
    if not valid_channel(channel):
        abort(404)
    files = request.seal_files(random_bytes(32))
    form = request.form  # parsing streams and encrypts the files (whistle.cases.uploads)
    header, body, errors = read_report_form(form, channel)
    identity, identity_errors = read_identity(form)
    errors.update(identity_errors)
    if errors:
        return render_template(
            "reporter/report_form.html", channel=channel, values=form, errors=errors, files_dropped=bool(files.spools)
        ), 400
    sealed = sealing.seal_report(
        services().config, header=header, body=body, files=files, rules=services().rules, on=_today(), identity=identity
    )
    return render_template(
        "reporter/receipt.html",
        code=sealed.code.grouped(),
        received_on=sealed.case.received_on,
        scrubbed=scrub_outcomes(files.spools),
    )


@bp.get("/followup")
def followup_form():
    """Where a reporter types their receipt code."""
    return render_template("reporter/followup.html", error=None)


def _open_case(code_text: str):
    """Derive keys from a typed code (server memory only) and find the case."""
    try:
        code = ReceiptCode.parse(code_text)
    except ReceiptError as exc:
        raise BadReceipt() from exc
    session = db.session()
    salt, ops, mem = cases.salt_for(
        session, code.locator, services().secret, services().config.receipt_opslimit, services().config.receipt_memlimit
    )
    db.end_reads()  # argon2id holds no pooled connection (it may wait for a slot, then runs a while)
    keys = services().derivations.derive(code, salt, ops, mem)
    return code, keys, cases.find_case(session, code.locator, keys.lookup)


def _shown_body(body: dict) -> dict:
    """The parts of an opened body the case page shows, checked first: whoever holds the
    receipt seals the reporter's messages, so a body may hold anything. A text that is not
    a string shows as empty; a malformed attachment entry is left out."""
    text = body.get("text")
    listed = body.get("attachments")
    attachments = [
        meta for meta in (listed if isinstance(listed, list) else []) if cases.attachment_meta_problem(meta) is None
    ]
    return {"text": text if isinstance(text, str) else "", "attachments": attachments}


def _conversation(case, keypair):
    """Items the reporter can read, opened in memory: (item, checked body, content key).
    An item that does not open with the receipt's key is left out, like the report."""
    shown = []
    for item in case.items:
        try:
            opened = sealing.open_for_reporter(item, keypair)
        except CryptoError:
            continue
        if opened is not None:
            shown.append((item, _shown_body(opened[0]), opened[1]))
    return shown


def _render_case(code, keys, case, status=200, **extra):
    return render_template(
        "reporter/case.html",
        steps=timeline.steps(case, _today(), services().rules, services().calendar),
        code=code.grouped(),
        case=case,
        conversation=_conversation(case, keys.keypair),
        log_claim=public_log.intake_proof(db.session(), log_commitment(keys.lookup)),
        **extra,
    ), status


def _followup_failure(exc: WhistleError):
    # The digits typed go back in the box (they are the reporter's own input, never logged),
    # so a typo costs one digit, not all 28; capped, so the page echoes no long input.
    typed = request.form.get("code", "")[:64]
    return render_template("reporter/followup.html", error=str(exc.message), typed=typed), exc.status


@bp.post("/followup")
@followup_limits
def followup_open():
    """No-JS follow-up: show the timeline and the conversation."""
    try:
        code, keys, case = _open_case(request.form.get("code", ""))
    except (BadReceipt, NoSuchReceipt) as exc:
        return _followup_failure(exc)
    return _render_case(code, keys, case)


@bp.post("/followup/message")
@followup_limits
@nojs_limits
def followup_message():
    """No-JS follow-up message with optional files, sealed in memory."""
    files = request.seal_files(random_bytes(32))
    form = request.form
    try:
        code, keys, case = _open_case(form.get("code", ""))
    except (BadReceipt, NoSuchReceipt) as exc:
        return _followup_failure(exc)
    if case.status == "purged":  # the page says so in place of the form
        return _render_case(code, keys, case, CasePurged.status)
    text = form_text(form, "text")
    if not text and not files.spools:
        return _render_case(code, keys, case, 400, message_error=_("Please write a message or attach a file."))
    if len(text) > services().config.max_narrative_chars:  # the text goes back in the box, to be shortened
        return _render_case(
            code,
            keys,
            case,
            400,
            message_text=text,
            message_error=_(
                "Please shorten the message to at most %(n)d characters.", n=services().config.max_narrative_chars
            ),
        )
    with db.transaction() as session:  # CasePurged (a 409) if purged since the check above
        case = session.merge(case)
        sealing.seal_message(
            session, services().rules, case, text=text, files=files, on=_today(), reporter_key=keys.keypair.public
        )
    db.session().refresh(case)
    return _render_case(code, keys, case, sent=True, scrubbed=scrub_outcomes(files.spools))


@bp.post("/followup/attachment/<attachment_id>")
@followup_limits
def followup_attachment(attachment_id):
    """No-JS download: decrypt one attachment of the conversation, streaming."""
    try:
        _code, keys, case = _open_case(request.form.get("code", ""))
    except (BadReceipt, NoSuchReceipt) as exc:
        return _followup_failure(exc)
    for item, body, content_key in _conversation(case, keys.keypair):
        for meta in body["attachments"]:
            if meta["id"] == attachment_id and _stored_in(item, attachment_id):
                return _download(meta, content_key)
    abort(404)


def _stored_in(item, attachment_id: str) -> bool:
    """True if the attachment is stored with ``item`` (a message may name any id)."""
    attachment = db.session().get(Attachment, attachment_id)
    return attachment is not None and attachment.item_id == item.id


def _download(meta: dict, content_key: bytes) -> Response:
    session = db.session()
    plain = decrypt_stream(
        attachment_key(content_key, meta["id"]), cases.attachment_stream(session, meta["id"]), int(meta["size"])
    )
    try:
        first = next(plain, b"")
    except CryptoError:
        abort(404)

    def generate():
        yield first
        yield from plain

    # Cleaned again here: the name may come from a browser-sealed message, and a CR/LF
    # would split the header (werkzeug refuses it with a 500).
    name = clean_filename(meta.get("name")).replace('"', "")
    response = Response(stream_with_context(generate()), mimetype="application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", **attachment_disposition(name))
    return response


def catalog_context():
    """Template globals: the catalogues, the rules' departments, and the committee members
    who read cases (a report may name one of them as the accused, to keep it from them)."""
    from whistle.triage.routing import READER_ROLES

    return {
        "catalog": catalog,
        "departments": services().rules.departments,
        "committee_readers": sorted(m.username for m in services().rules.members if m.role in READER_ROLES),
        "real_name_days": services().rules.deadlines.real_name_acceptance,
    }
