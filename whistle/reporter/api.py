"""The JSON API the browser uses (described by /api/v1/openapi.json).

Receipt secrets never arrive here: the browser sends only the derived lookup token, which
the server checks against the stored verifier.
"""
import json

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, stream_with_context
from flask_babel import get_locale

from crypto.encoding import b64u, unb64u
from crypto.errors import FormatError
from crypto.keys import kid
from crypto.receipt import is_locator, verifier_of
from whistle import cases, catalog, db
from whistle.errors import InvalidSubmission
from whistle.extensions import followup_limits, submit_limits
from whistle.models import Attachment
from whistle.reporter.forms import rules
from whistle.reporter.openapi import document
from whistle.uploads import ATTACHMENT_ID

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _cfg():
    return current_app.config["WHISTLE"]


def _submission() -> dict:
    """The JSON submission: a JSON body, or the 'submission' field of a multipart body."""
    if request.mimetype == "application/json":
        data = request.get_json(silent=True)
    else:
        try:
            data = json.loads(request.form.get("submission") or "null")
        except ValueError:
            data = None
    if not isinstance(data, dict):
        raise InvalidSubmission(detail="submission must be a JSON object")
    return data


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
        if not ATTACHMENT_ID.match(name) or name in seen:
            raise InvalidSubmission(detail="attachment part names must be unique 32-hex ids")
        seen.add(name)
        storage.stream.seek(0)
        result.append(cases.Upload(name, storage.stream))
    return result


def _recipients_json(recipients) -> list[dict]:
    return [{"kid": r.kid, "public_key": b64u(r.public_key), "label": r.label} for r in recipients]


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    return jsonify(document())


@bp.get("/catalog")
def catalog_json():
    """Channels, routing codes with labels in the request's language, departments, limits."""
    lang = str(get_locale())
    cfg = _cfg()
    labels = lambda d: [{"code": k, "label": str(v)} for k, v in d.items()]  # noqa: E731
    return jsonify(
        channels=[{"code": c, "label": str(catalog.CHANNELS[c]), "categories": labels(catalog.CATEGORIES[c])}
                  for c in catalog.CATEGORIES],
        departments=[{"code": d.code, "label": d.name(lang)} for d in rules().departments],
        accused_rank=labels(catalog.RANKS), money_band=labels(catalog.MONEY_BANDS),
        frequency=labels(catalog.FREQUENCIES), evidence=labels(catalog.EVIDENCE),
        limits={"max_attachments": cfg.max_attachments, "max_attachment_bytes": cfg.max_attachment_bytes,
                "max_narrative_chars": cfg.max_narrative_chars},
        receipt_kdf={"opslimit": cfg.receipt_opslimit, "memlimit": cfg.receipt_memlimit},
    )


@bp.post("/recipients")
def recipients():
    """Public keys a new report with this routing header must be sealed to."""
    header = request.get_json(silent=True)
    if not isinstance(header, dict) or catalog.routing_problems(header, rules().department_codes):
        raise InvalidSubmission(detail="routing header")
    return jsonify(recipients=_recipients_json(cases.recipients_for(db.session(), rules(), header)))


@bp.post("/reports")
@submit_limits
def submit_report():
    """Store a report sealed in the browser. 201 with the day it was received."""
    g.upload_mode = "ciphertext"
    data = _submission()
    uploads = _uploads()
    kdf = data.get("kdf") or {}
    ops, mem = kdf.get("opslimit"), kdf.get("memlimit")
    if not (isinstance(ops, int) and isinstance(mem, int)) or ops < _cfg().receipt_opslimit \
            or mem < _cfg().receipt_memlimit or ops > 20 or mem > 1024 * 1024 * 1024:
        raise InvalidSubmission(detail="kdf below the site's minimum cost")
    if len(uploads) > _cfg().max_attachments:
        abort(413)
    with db.transaction() as session:
        case = cases.create_case(
            session, locator=str(data.get("locator")), salt=_bytes_field(data, "salt", 16),
            opslimit=ops, memlimit=mem, verifier=verifier_of(_bytes_field(data, "lookup", 32)),
            reporter_pk=_bytes_field(data, "reporter_public_key", 32),
            envelope=data.get("envelope"), uploads=uploads,
            rules=rules(), on=cases.today(_cfg().timezone))
    return jsonify(received_on=case.received_on.isoformat()), 201


@bp.get("/receipts/<locator>/salt")
@followup_limits
def receipt_salt(locator):
    """The salt and cost to stretch a receipt with; a stable fake for unknown locators."""
    if not is_locator(locator):
        raise InvalidSubmission(detail="locator must be 7 digits")
    salt, ops, mem = cases.salt_for(db.session(), locator, current_app.extensions["whistle.secret"],
                                    _cfg().receipt_opslimit, _cfg().receipt_memlimit)
    return jsonify(salt=b64u(salt), opslimit=ops, memlimit=mem)


def _case_from(data: dict):
    locator = str(data.get("locator"))
    return cases.find_case(db.session(), locator, _bytes_field(data, "lookup", 32))


def _case_json(case) -> dict:
    reporter_kid = kid(case.reporter_pk)
    items = []
    for item in case.items:
        envelope = cases.item_envelope(item)
        if reporter_kid not in [r["kid"] for r in envelope["recipients"]]:
            continue  # the original report is not sealed to the reporter
        items.append({"id": item.id, "seq": item.seq, "kind": item.kind,
                      "on": item.created_on.isoformat(), "envelope": envelope,
                      "attachments": [{"id": a.id, "stored_size": a.stored_size} for a in item.attachments]})
    return {
        "case": case.id,
        "status": case.status, "status_label": str(catalog.CASE_EVENTS[case.status]),
        "received_on": case.received_on.isoformat(),
        "timeline": [{"event": e.event, "label": str(catalog.CASE_EVENTS.get(e.event, e.event)),
                      "on": e.happened_on.isoformat()} for e in case.events],
        "items": items,
        "recipients": _recipients_json(cases.case_recipients(db.session(), rules(), case)),
    }


@bp.post("/followup")
@followup_limits
def followup():
    """The case of a lookup token: timeline, items sealed to the reporter, recipients."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidSubmission(detail="expected a JSON object")
    return jsonify(_case_json(_case_from(data)))


@bp.post("/followup/messages")
@followup_limits
def followup_message():
    """Add a reporter message sealed in the browser (multipart: submission + files)."""
    g.upload_mode = "ciphertext"
    data = _submission()
    uploads = _uploads()
    with db.transaction() as session:
        case = _case_from(data)
        item = cases.add_message(session, rules(), case, "message", data.get("envelope"), uploads,
                                 cases.today(_cfg().timezone))
    return jsonify(id=item.id, seq=item.seq, on=item.created_on.isoformat()), 201


@bp.post("/followup/attachments/<attachment_id>")
@followup_limits
def followup_attachment(attachment_id):
    """Ciphertext of an attachment in an item sealed to the reporter."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidSubmission(detail="expected a JSON object")
    case = _case_from(data)
    attachment = db.session().get(Attachment, attachment_id) if ATTACHMENT_ID.match(attachment_id) else None
    if attachment is None or attachment.case_id != case.id:
        abort(404)
    envelope = cases.item_envelope(attachment.item)
    if kid(case.reporter_pk) not in [r["kid"] for r in envelope["recipients"]]:
        abort(404)
    stream = cases.attachment_stream(db.session(), attachment_id)
    response = Response(stream_with_context(stream), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(attachment.stored_size)
    return response
