"""JSON for the committee's browser code: the member's wrapped key, a case's sealed items,
new sealed replies and notes, and grants re-sealed in the browser."""

import json
import secrets

from flask import Blueprint, Response, abort, jsonify, request, session, stream_with_context
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from crypto.encoding import b64u, unb64u
from crypto.errors import FormatError
from crypto.keys import kid
from whistle import db
from whistle.custody import audit
from whistle.cases import actions, store as cases
from whistle.committee.access import current_member, login_required, open_case, refuse_nul_characters, session_ended
from whistle.clock import committee_today
from whistle.errors import InvalidSubmission, RecipientsChanged
from whistle.models import Attachment, CaseItem, ItemKey
from whistle.cases.uploads import ATTACHMENT_ID
from whistle.services import services

bp = Blueprint("committee_api", __name__, url_prefix="/committee/api")
# Why a member's browser refused to seal a reply (FORMAT.md §3 v2): the reporter key the
# server gave is not the one the report binds, or the report did not open, so it could not tell.
REFUSED_REPLY_REASONS = ("reporter_key_mismatch", "reporter_key_unverifiable")
bp.register_error_handler(CSRFError, session_ended)
bp.before_request(refuse_nul_characters)


def _recipients(recipients) -> list[dict]:
    return [{"kid": r.kid, "public_key": b64u(r.public_key), "label": r.label} for r in recipients]


@bp.get("/me")
@login_required
def me():
    """The member's public key and wrapped private key (opaque here: only their passphrase opens it)."""
    member = current_member()
    return jsonify(
        username=member.username,
        wrapped_key=member.wrapped_key,
        kid=kid(member.public_key) if member.public_key else None,
    )


@bp.post("/session-key")
@login_required
def session_key():
    """A random key held only in this server-side session. The browser keeps the unlocked
    private key in sessionStorage sealed under it, so logging out (or timing out) locks it."""
    if "key_wrap" not in session:
        session["key_wrap"] = b64u(secrets.token_bytes(32))
    return jsonify(key=session["key_wrap"])


def _item_json(item: CaseItem, member_kid: str) -> dict:
    envelope = cases.item_envelope(item)
    extra = db.session().scalar(select(ItemKey.sealed_key).where(ItemKey.item_id == item.id, ItemKey.kid == member_kid))
    return {
        "id": item.id,
        "seq": item.seq,
        "kind": item.kind,
        "on": item.created_on.isoformat(),
        "envelope": envelope,
        "granted_key": b64u(extra) if extra else None,
        "attachments": [{"id": a.id, "stored_size": a.stored_size} for a in item.attachments],
    }


@bp.get("/cases/<case_id>")
@login_required
def case_items(case_id):
    """Every sealed item of a case the member may open (audited as a decrypt)."""
    case = open_case(case_id, action="decrypt")
    member = current_member()
    with db.transaction() as s:
        audit.record(s, "decrypt", actor=member.username, on=committee_today(), case_id=case.id)
    member_kid = kid(member.public_key)
    # A real name is not an item like the others: it is listed only for a member who holds
    # its key (a custodian, or a requester it was disclosed to), in its own list.
    identity = [_item_json(i, member_kid) for i in case.items if i.kind == "identity"]
    identity = [
        i for i in identity if i["granted_key"] or member_kid in [r["kid"] for r in i["envelope"]["recipients"]]
    ]
    return jsonify(
        case=case.id,
        reporter_public_key=b64u(case.reporter_pk),
        recipients=_recipients(cases.case_recipients(db.session(), services().rules, case)),
        items=[_item_json(i, member_kid) for i in case.items if i.kind != "identity"],
        identity=identity,
    )


@bp.get("/attachments/<attachment_id>")
@login_required
def attachment(attachment_id):
    """Ciphertext of one attachment of a case the member may open."""
    found = db.session().get(Attachment, attachment_id) if ATTACHMENT_ID.match(attachment_id) else None
    if found is None:
        abort(404)
    case = open_case(found.case_id, action="download")
    with db.transaction() as s:
        audit.record(s, "download", actor=current_member().username, on=committee_today(), case_id=case.id)
    response = Response(
        stream_with_context(cases.attachment_stream(db.session(), attachment_id)), mimetype="application/octet-stream"
    )
    response.headers["Content-Length"] = str(found.stored_size)
    return response


def _json_object(data, what: str = "submission") -> dict:
    """``data`` if it is a JSON object; anything else (a list, a number, nothing) is a 400."""
    if not isinstance(data, dict):
        raise InvalidSubmission(detail=f"{what} must be a JSON object")
    return data


def _submission() -> dict:
    if request.mimetype == "application/json":
        return _json_object(request.get_json(silent=True))
    try:
        data = json.loads(request.form.get("submission") or "null")
    except ValueError:
        data = None
    return _json_object(data)


@bp.post("/cases/<case_id>/items")
@login_required
def add_item(case_id):
    """Store a reply (sealed to the reporter too) or an internal note, sealed in the browser."""
    case = open_case(case_id, action="change")
    data = _submission()
    kind = data.get("kind")
    if kind not in ("reply", "note"):
        raise InvalidSubmission(detail="kind must be reply or note")
    uploads = []
    for name, storage in request.files.items(multi=True):
        if not ATTACHMENT_ID.match(name):
            raise InvalidSubmission(detail="attachment part names are 32-hex ids")
        storage.stream.seek(0)
        uploads.append(cases.Upload(name, storage.stream))
    with db.transaction() as s:
        case = s.merge(case)
        item = cases.add_message(s, services().rules, case, kind, data.get("envelope"), uploads, committee_today())
        audit.record(s, kind, actor=current_member().username, on=committee_today(), case_id=case.id)
    return jsonify(id=item.id, seq=item.seq), 201


@bp.post("/cases/<case_id>/refused-reply")
@login_required
def refused_reply(case_id):
    """Record that the member's browser refused to seal a reply to this case's reporter. The
    server is what the check distrusts, so the record is all it does: the oversight view
    shows it in the audit log."""
    case = open_case(case_id)
    reason = _json_object(request.get_json(silent=True), "the refusal").get("reason")
    if reason not in REFUSED_REPLY_REASONS:
        raise InvalidSubmission(detail="reason: " + " or ".join(REFUSED_REPLY_REASONS))
    with db.transaction() as s:
        audit.record(
            s, "refused_reply", actor=current_member().username, on=committee_today(), case_id=case.id, reason=reason
        )
    return jsonify(recorded=reason), 201


@bp.get("/cases/<case_id>/grantable")
@login_required
def grantable(case_id):
    """Enrolled members this case may be handed to, with their public keys."""
    from whistle.committee.triage_view import grantable as eligible

    case = open_case(case_id)
    return jsonify(
        members=[{"username": m.username, "public_key": b64u(m.public_key)} for m in eligible(case, current_member())]
    )


@bp.post("/cases/<case_id>/grants")
@login_required
def grant(case_id):
    """Hand a case to a colleague: the browser re-sealed every item's content key to them.
    A grant routing forbids (another unit, the level below, their own department, the
    accused) is refused with its reason (403) and recorded. The server cannot open the
    keys: the colleague's browser checks them when it first opens the case (bad-key)."""
    case = open_case(case_id)
    data = _json_object(request.get_json(silent=True), "the grant")
    username = str(data.get("username", ""))[:64]
    member, today = current_member(), committee_today()
    refused = None
    with db.transaction() as s:  # a refusal's audit entry is committed, then answered
        try:
            target = actions.grant_target(s, services().rules, s.merge(case), username, actor=member.username, on=today)
        except actions.Refused as exc:
            refused = exc
    if refused is not None:
        raise refused
    keys = data.get("keys")
    items = {i.id for i in case.items if i.kind != "identity"}  # a real name is disclosed, never handed on
    if not isinstance(keys, dict):
        raise InvalidSubmission(detail="a re-sealed key for every item is required")
    if set(keys) != items:  # most often items came in since the page read them
        raise RecipientsChanged(detail="a re-sealed key for every item is required")
    sealed = {}
    for item_id, value in keys.items():
        try:
            raw = unb64u(value)
        except FormatError as exc:
            raise InvalidSubmission(detail="sealed key") from exc
        if len(raw) != 80:  # crypto_box_seal of a 32-byte key
            raise InvalidSubmission(detail="sealed key length")
        sealed[item_id] = raw
    with db.transaction() as s:
        # The items read again under the case's lock: a message or reply stored since they
        # were read was sealed before the new holder held the case, and they would hold it
        # without that item's key. The browser reads them again and re-seals every key.
        case = cases.locked(s, s.merge(case))
        now_items = set(s.scalars(select(CaseItem.id).where(CaseItem.case_id == case.id, CaseItem.kind != "identity")))
        if now_items != items:
            raise RecipientsChanged(detail="the case has new items: re-seal a key for every item")
        actions.record_grant(s, case, s.merge(target), sealed, actor=member.username, granted_by=member.id, on=today)
    return jsonify(granted=username), 201


@bp.post("/cases/<case_id>/bad-key")
@login_required
def bad_key(case_id):
    """The member's browser found that a key handed to them does not open this case: the
    grant is flagged on the case list, the case counts as orphaned, the audit log records it."""
    case = open_case(case_id)
    with db.transaction() as s:
        reported = actions.report_bad_key(s, s.merge(case), s.merge(current_member()), committee_today())
    return jsonify(reported=reported), 201 if reported else 200
