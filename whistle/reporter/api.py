"""The JSON API the browser uses (described by /api/v1/openapi.json).

Receipt secrets never arrive here: the browser sends only the derived lookup token, which
the server checks against the stored verifier.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, jsonify, request, stream_with_context
from flask_babel import get_locale

from crypto.encoding import b64u, unb64u
from crypto.errors import FormatError
from crypto.keys import kid
from crypto.receipt import is_locator, log_commitment, verifier_of
from whistle import clock, catalog, db
from whistle.cases import store as cases
from whistle.channels import notices
from whistle.security import proof_of_work
from whistle.errors import InvalidSubmission
from whistle.extensions import followup_limits, submit_limits
from whistle.models import Attachment
from whistle.reporter import timeline
from whistle.reporter.openapi import document
from whistle.cases.uploads import is_attachment_id, parse_json
from whistle.services import services

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Endpoints that take files as multipart; every other endpoint takes a small JSON object.
MULTIPART_ENDPOINTS = {"api.submit_report", "api.followup_message"}
JSON_BODY_BYTES = 64 * 1024  # credentials, a routing header: a few hundred bytes in practice
SUBMISSION_BYTES = 4 * 1024 * 1024  # a sealed envelope sent as JSON, as large as its form field


@bp.before_request
def _limit_body_size() -> None:
    """Refuse big bodies while reading them (413), so a huge JSON body is never held in
    memory: only the file-carrying endpoints keep the site's large request limit."""
    if request.endpoint not in MULTIPART_ENDPOINTS:
        request.max_content_length = JSON_BODY_BYTES
    elif request.mimetype != "multipart/form-data":
        request.max_content_length = SUBMISSION_BYTES
    # Also when the view never reads its body (werkzeug checks only while reading).
    if (request.content_length or 0) > (request.max_content_length or float("inf")):
        abort(413)


def _json_object(*, multipart: bool = False) -> dict:
    """The request's JSON object: a JSON body or, with ``multipart``, the 'submission' field
    of a form body. Every JSON endpoint parses through here, so malformed, non-object or
    too deeply nested JSON is one clear 400, never a 500."""
    if request.is_json:
        raw = request.get_data()
    else:
        raw = request.form.get("submission") if multipart else None
    try:
        data = parse_json(raw) if raw is not None else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidSubmission(detail="expected a JSON object")
    return data


def _locator(data: dict) -> str:
    """The 7-digit locator of a submission: a string, never coerced from a number or list."""
    locator = data.get("locator")
    if not is_locator(locator):
        raise InvalidSubmission(detail="locator must be a string of 7 digits")
    return locator


def _kdf_cost(data: dict) -> tuple[int, int]:
    """The receipt cost of a new report, which must be exactly the site's: a higher one would
    make every no-JS follow-up of that case (stretched on the server) cost what the reporter
    chose, a lower one would weaken the receipt against a database thief."""
    cfg, kdf = services().config, data.get("kdf")
    ops = kdf.get("opslimit") if isinstance(kdf, dict) else None
    mem = kdf.get("memlimit") if isinstance(kdf, dict) else None
    # type() rather than isinstance(): True is an int equal to 1.
    if type(ops) is not int or type(mem) is not int or (ops, mem) != (cfg.receipt_opslimit, cfg.receipt_memlimit):
        raise InvalidSubmission(detail="kdf must be the site's receipt cost")
    return ops, mem


def _bytes_field(data: dict, name: str, size: int) -> bytes:
    try:
        value = unb64u(data.get(name))
    except FormatError as exc:
        raise InvalidSubmission(detail=f"{name}: not base64url") from exc
    if len(value) != size:
        raise InvalidSubmission(detail=f"{name}: must be {size} bytes")
    return value


def _uploads() -> list[cases.Upload]:
    """Attachment parts, named by their attachment id, already ciphertext."""
    result, seen = [], set()
    for name, storage in request.files.items(multi=True):
        if not is_attachment_id(name) or name in seen:
            raise InvalidSubmission(detail="attachment part names must be unique 32-hex ids")
        seen.add(name)
        storage.stream.seek(0)
        result.append(cases.Upload(name, storage.stream))
    return result


def _recipients_json(recipients) -> list[dict]:
    """Recipients for the public: the label is the recipient's role (committee, member,
    superior), never a member's username or a key's name."""
    return [{"kid": r.kid, "public_key": b64u(r.public_key), "label": r.role} for r in recipients]


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    return jsonify(document())


@bp.get("/catalog")
def catalog_json():
    """Channels, routing codes with labels in the request's language, departments, limits."""
    lang = str(get_locale())
    cfg = services().config
    labels = lambda d: [{"code": k, "label": str(v)} for k, v in d.items()]  # noqa: E731
    return jsonify(
        channels=[
            {"code": c, "label": str(catalog.CHANNELS[c]), "categories": labels(catalog.CATEGORIES[c])}
            for c in catalog.CATEGORIES
        ],
        departments=[{"code": d.code, "label": d.name(lang)} for d in services().rules.departments],
        accused_rank=labels(catalog.RANKS),
        money_band=labels(catalog.MONEY_BANDS),
        frequency=labels(catalog.FREQUENCIES),
        evidence=labels(catalog.EVIDENCE),
        limits={
            "max_attachments": cfg.max_attachments,
            "max_attachment_bytes": cfg.max_attachment_bytes,
            "max_narrative_chars": cfg.max_narrative_chars,
        },
        receipt_kdf={"opslimit": cfg.receipt_opslimit, "memlimit": cfg.receipt_memlimit},
    )


@bp.post("/recipients")
@submit_limits
def recipients():
    """Public keys a new report with this routing header must be sealed to, and those a
    real-name reporter's identity is sealed to (committee key and custodians only). A comment
    on a notice whose window is not open is refused here already, before anything is sealed."""
    header = _json_object()
    if catalog.routing_problems(header, services().rules.department_codes):
        raise InvalidSubmission(detail="routing header")
    notices.check_comment_header(
        db.session(), header, datetime.now(ZoneInfo(services().config.timezone)), services().config.timezone
    )
    required, optional = cases.identity_recipients(db.session(), services().rules, header)
    return jsonify(
        recipients=_recipients_json(cases.recipients_for(db.session(), services().rules, header)),
        identity_recipients=_recipients_json(required + optional),
    )


@bp.post("/pow")
@proof_of_work.pow_limits
def pow_challenge():
    """A fresh proof-of-work challenge (whistle.security.proof_of_work, crypto/FORMAT.md §7): reports, follow-up
    messages and survey answers each spend one."""
    return jsonify(proof_of_work.new_challenge())


@bp.post("/locators")
@submit_limits
def new_locator():
    """A random unused locator for a new receipt code, and the token that lets a report be
    submitted under it today or tomorrow (FORMAT.md §1)."""
    locator = cases.unused_locator(db.session())
    token = cases.locator_token(services().secret, locator, clock.today(services().config.timezone))
    return jsonify(locator=locator, token=token)


@bp.post("/reports")
@submit_limits
def submit_report():
    """Store a report sealed in the browser. 201 with the day it was received."""
    data = _json_object(multipart=True)  # files arrive as ciphertext: the request's default
    uploads = _uploads()
    ops, mem = _kdf_cost(data)
    locator = _locator(data)
    today = clock.today(services().config.timezone)
    if not cases.locator_token_valid(services().secret, locator, data.get("locator_token"), today):
        raise InvalidSubmission(detail="locator_token: not issued for this locator, or expired")
    if len(uploads) > services().config.max_attachments:
        abort(413)
    proof_of_work.require(data)
    lookup = _bytes_field(data, "lookup", 32)
    with db.transaction() as session:
        case = cases.create_case(
            session,
            locator=locator,
            salt=_bytes_field(data, "salt", 16),
            opslimit=ops,
            memlimit=mem,
            verifier=verifier_of(lookup),
            commitment=log_commitment(lookup),
            reporter_pk=_bytes_field(data, "reporter_public_key", 32),
            envelope=data.get("envelope"),
            uploads=uploads,
            rules=services().rules,
            on=today,
            identity=data.get("identity"),
            now=datetime.now(ZoneInfo(services().config.timezone)),
            tz=services().config.timezone,
        )
    return jsonify(received_on=case.received_on.isoformat()), 201


@bp.get("/receipts/<locator>/salt")
@followup_limits
def receipt_salt(locator):
    """The salt and cost to stretch a receipt with; a stable fake for unknown locators."""
    if not is_locator(locator):
        raise InvalidSubmission(detail="locator must be 7 digits")
    salt, ops, mem = cases.salt_for(
        db.session(), locator, services().secret, services().config.receipt_opslimit, services().config.receipt_memlimit
    )
    return jsonify(salt=b64u(salt), opslimit=ops, memlimit=mem)


def _case_from(data: dict):
    return cases.find_case(db.session(), _locator(data), _bytes_field(data, "lookup", 32))


def _case_json(case) -> dict:
    reporter_kid = kid(case.reporter_pk)
    items = []
    for item in case.items:
        envelope = cases.item_envelope(item)
        if reporter_kid not in [r["kid"] for r in envelope["recipients"]]:
            continue  # the original report is not sealed to the reporter
        items.append(
            {
                "id": item.id,
                "seq": item.seq,
                "kind": item.kind,
                "on": item.created_on.isoformat(),
                "envelope": envelope,
                "attachments": [{"id": a.id, "stored_size": a.stored_size} for a in item.attachments],
            }
        )
    return {
        "case": case.id,
        "status": case.status,
        "status_label": str(catalog.CASE_EVENTS[case.status]),
        "received_on": case.received_on.isoformat(),
        "timeline": [
            {"event": e.event, "label": str(catalog.CASE_EVENTS.get(e.event, e.event)), "on": e.happened_on.isoformat()}
            for e in case.events
        ],
        "deadlines": {
            key: (value.isoformat() if hasattr(value, "isoformat") else value)
            for key, value in cases.reporter_deadlines(
                case, clock.today(services().config.timezone), services().rules, services().calendar
            ).items()
        },
        "steps": [
            timeline.as_json(step)
            for step in timeline.steps(
                case, clock.today(services().config.timezone), services().rules, services().calendar
            )
        ],
        "items": items,
        "recipients": _recipients_json(cases.case_recipients(db.session(), services().rules, case)),
    }


@bp.post("/followup")
@followup_limits
def followup():
    """The case of a lookup token: timeline, items sealed to the reporter, recipients."""
    return jsonify(_case_json(_case_from(_json_object())))


@bp.post("/followup/messages")
@followup_limits
def followup_message():
    """Add a reporter message sealed in the browser (multipart: submission + files)."""
    data = _json_object(multipart=True)
    uploads = _uploads()
    with db.transaction() as session:
        case = _case_from(data)
        proof_of_work.require(data)
        item = cases.add_message(
            session,
            services().rules,
            case,
            "message",
            data.get("envelope"),
            uploads,
            clock.today(services().config.timezone),
        )
    return jsonify(id=item.id, seq=item.seq, on=item.created_on.isoformat()), 201


@bp.post("/followup/attachments/<attachment_id>")
@followup_limits
def followup_attachment(attachment_id):
    """Ciphertext of an attachment in an item sealed to the reporter."""
    case = _case_from(_json_object())
    attachment = db.session().get(Attachment, attachment_id) if is_attachment_id(attachment_id) else None
    if attachment is None or attachment.case_id != case.id:
        abort(404)
    envelope = cases.item_envelope(attachment.item)
    if kid(case.reporter_pk) not in [r["kid"] for r in envelope["recipients"]]:
        abort(404)
    stream = cases.attachment_stream(db.session(), attachment_id)
    response = Response(stream_with_context(stream), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(attachment.stored_size)
    return response
