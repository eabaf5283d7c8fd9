"""Disclosing a real-name reporter's identity: two distinct members, every step audited.

A real-name report carries its reporter's name and contact in a separate item of kind
``identity``, sealed to the committee key and the custodians only (FORMAT.md §3), so the
members handling the case do not see it. To learn it:

1. a member holding the case asks, with a written reason (``identity_requested``); with no
   custodian in the rules, or none but the requester, the request is refused at once
   (``identity_refused``), never approved by default;
2. a custodian (rules ``custodian = true``, member or unit_lead, not conflicted by the
   accused department) other than the requester approves (``identity_approved``) or refuses
   it (``identity_refused``); the requester approving their own request is refused and
   recorded too;
3. the approving custodian's browser opens the identity's content key with their own key
   and re-seals it to the requester (an ``item_keys`` row), which the server accepts only
   for that approved, still pending request (``identity_disclosed``).

The server never sees the name: it stores, checks and records who asked, who decided and
when (the day), nothing more.
"""

import json

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from crypto.encoding import b64u, unb64u
from crypto.errors import FormatError
from crypto.keys import kid
from whistle import catalog, db
from whistle.custody import audit
from whistle.cases import store as cases
from whistle.committee.access import current_member, login_required, may_open, open_case, rule_of
from whistle.committee.api import bp as api_bp
from whistle.committee.auth import bp
from whistle.clock import committee_today
from whistle.errors import InvalidSubmission
from whistle.models import Case, ItemKey, Member, PendingAction
from whistle.triage.routing import READER_ROLES, custodians
from whistle.services import services

DISCLOSE = "disclose"
REASON_CHARS = 2000


def is_custodian(username: str) -> bool:
    """A custodian in the rules file who may read cases (member or unit_lead)."""
    rule = rule_of(username)
    return rule is not None and rule.custodian and rule.role in READER_ROLES


def _payload(pending: PendingAction) -> dict:
    return json.loads(pending.payload)


def holds_identity(member: Member, item) -> bool:
    """True if ``item`` (an identity) is sealed to the member's key or re-sealed to it."""
    if member is None or member.public_key is None or item is None:
        return False
    member_kid = kid(member.public_key)
    if member_kid in [r["kid"] for r in cases.item_envelope(item)["recipients"]]:
        return True
    return (
        db.session().scalar(select(ItemKey.kid).where(ItemKey.item_id == item.id, ItemKey.kid == member_kid))
        is not None
    )


def requests_for(case: Case) -> list[PendingAction]:
    """The disclosure requests of a case still waiting for a custodian or their browser."""
    return list(
        db.session().scalars(
            select(PendingAction)
            .where(PendingAction.case_id == case.id, PendingAction.action == DISCLOSE)
            .order_by(PendingAction.proposed_on, PendingAction.id)
        )
    )


def _username(member_id: str | None) -> str | None:
    if member_id is None:
        return None
    member = db.session().get(Member, member_id)
    return member.username if member is not None else None


def case_view(case: Case, member: Member) -> dict | None:
    """What the case page shows about a real name (None for an anonymous report)."""
    if not case.real_name:
        return None

    item = cases.identity_item(case)
    waiting = []
    for pending in requests_for(case):
        payload = _payload(pending)
        waiting.append(
            {
                "id": pending.id,
                "on": pending.proposed_on,
                "by": _username(pending.proposed_by),
                "approved_by": _username(payload.get("approved_by")),
                "mine": pending.proposed_by == member.id,
            }
        )
    return {
        "sealed": item is not None,
        "holds": holds_identity(member, item),
        "requests": waiting,
        "due": cases.real_name_due(services().rules, services().calendar, case),
    }


def _refuse(session, case: Case, actor: str, because: str, **detail) -> None:
    audit.record(
        session, "identity_refused", actor=actor, on=committee_today(), case_id=case.id, because=because, **detail
    )


@bp.post("/cases/<case_id>/identity-request")
@login_required
def request_identity(case_id):
    """A member holding a real-name case asks for the reporter's identity, giving a reason."""
    case = open_case(case_id, action="change")
    member = current_member()
    back = redirect(url_for("committee.case_page", case_id=case.id), 303)
    if cases.identity_item(case) is None:
        flash(_("This report was made without a name: there is no identity to disclose."), "error")
        return back
    reason = (request.form.get("reason") or "").strip()[:REASON_CHARS]
    if not reason:
        flash(_("A disclosure request needs a written reason."), "error")
        return back
    if holds_identity(member, cases.identity_item(case)):
        flash(_("You can already read the reporter's identity."))
        return back
    if any(p.proposed_by == member.id for p in requests_for(case)):
        flash(_("Your request is already waiting for a custodian."))
        return back
    approvers = [u for u in custodians(services().rules, catalog.routing_header(case)) if u != member.username]
    with db.transaction() as s:
        if not any(m.custodian for m in services().rules.members):
            _refuse(s, case, member.username, "no_custodian", reason=reason)
            refused = _("No custodian is configured, so the identity cannot be disclosed: the request is refused.")
        elif not approvers:
            _refuse(s, case, member.username, "no_other_custodian", reason=reason)
            refused = _("No custodian other than you may approve this request: it is refused.")
        else:
            refused = None
            pending = PendingAction(
                case_id=case.id,
                action=DISCLOSE,
                proposed_by=member.id,
                proposed_on=committee_today(),
                payload=json.dumps({"reason": reason}, ensure_ascii=False),
            )
            s.add(pending)
            s.flush()
            audit.record(
                s,
                "identity_requested",
                actor=member.username,
                on=committee_today(),
                case_id=case.id,
                request=pending.id,
                reason=reason,
            )
    if refused:
        flash(refused, "error")
    else:
        flash(_("Your request was recorded. It waits for a custodian's approval."))
    return back


def _custodian_or_403() -> Member:
    member = current_member()
    if not is_custodian(member.username):
        abort(403)
    return member


@bp.get("/identity-requests")
@login_required
def identity_requests():
    """A custodian's list of disclosure requests: who asks, about which case, and why."""
    member = _custodian_or_403()
    rows = []
    for pending in db.session().scalars(
        select(PendingAction)
        .where(PendingAction.action == DISCLOSE)
        .order_by(PendingAction.proposed_on, PendingAction.id)
    ):
        case = db.session().get(Case, pending.case_id)
        if case is None or member.username not in custodians(services().rules, catalog.routing_header(case)):
            continue  # conflicted by the accused department: not theirs to decide
        payload = _payload(pending)
        rows.append(
            {
                "id": pending.id,
                "case": case,
                "on": pending.proposed_on,
                "by": _username(pending.proposed_by),
                "own": pending.proposed_by == member.id,
                "reason": payload.get("reason", ""),
                "approved_by": _username(payload.get("approved_by")),
                "approved_by_me": payload.get("approved_by") == member.id,
                "readable": holds_identity(member, cases.identity_item(case)),
            }
        )
    return render_template("committee/identity_requests.html", rows=rows)


@bp.post("/identity-requests/<pending_id>")
@login_required
def decide_identity_request(pending_id):
    """A custodian approves or refuses; the requester deciding their own request is refused."""
    member = current_member()
    s = db.session()
    pending = s.get(PendingAction, pending_id) if len(pending_id) == 32 else None
    if pending is None or pending.action != DISCLOSE:
        abort(404)
    case = s.get(Case, pending.case_id)
    back = redirect(url_for("committee.identity_requests"), 303)
    requester = _username(pending.proposed_by)
    approve = request.form.get("decision") == "approve"
    with db.transaction() as tx:
        # The case's lock first, then the request read again under it (as a dual-control
        # confirmation does): two custodians deciding at once, or one deciding a request
        # another has approved since the page was shown, decide it once.
        cases.locked(tx, case)
        pending = tx.get(PendingAction, pending_id, populate_existing=True)
        if not is_custodian(member.username):
            _refuse(tx, case, member.username, "not_custodian", request=pending_id, requester=requester)
            refused = "forbidden"
        elif pending is None or _payload(pending).get("approved_by") is not None:
            refused = _("This request has already been decided.")
        elif pending.proposed_by == member.id:
            _refuse(tx, case, member.username, "same_member", request=pending.id, requester=requester)
            refused = _("The approval must come from a custodian other than the member who asked.")
        elif member.username not in custodians(services().rules, catalog.routing_header(case)):
            _refuse(tx, case, member.username, "conflict", request=pending.id, requester=requester)
            refused = _("You may not decide on this case: the accused department is your own.")
        elif approve:
            refused = None
            payload = dict(_payload(pending), approved_by=member.id, approved_on=committee_today().isoformat())
            pending.payload = json.dumps(payload, ensure_ascii=False)
            audit.record(
                tx,
                "identity_approved",
                actor=member.username,
                on=committee_today(),
                case_id=case.id,
                request=pending.id,
                requester=requester,
            )
        else:
            refused = None
            tx.delete(pending)
            _refuse(
                tx,
                case,
                member.username,
                "custodian",
                request=pending.id,
                requester=requester,
                reason=(request.form.get("reason") or "").strip()[:REASON_CHARS] or None,
            )
    if refused == "forbidden":
        abort(403)
    if refused:
        flash(refused, "error")
    elif approve:
        flash(_("Approved. Unlock your key to re-seal the identity for %(name)s.", name=requester))
    else:
        flash(_("The request was refused."))
    return back


def _approved_request(pending_id, member: Member) -> PendingAction:
    pending = (
        db.session().get(PendingAction, pending_id) if isinstance(pending_id, str) and len(pending_id) == 32 else None
    )
    if pending is None or pending.action != DISCLOSE or _payload(pending).get("approved_by") != member.id:
        return None
    return pending


@api_bp.get("/identity-requests/<pending_id>")
@login_required
def identity_request_keys(pending_id):
    """For the approving custodian's browser: the sealed identity (and any key re-sealed to
    them) and the requester's public key, only for a request they approved, and only while
    they are still one of the case's custodians (as the re-sealing is)."""
    member = current_member()
    pending = _approved_request(pending_id, member)
    if pending is None:
        abort(404)
    case = db.session().get(Case, pending.case_id)
    if member.username not in custodians(services().rules, catalog.routing_header(case)):
        abort(404)
    item = cases.identity_item(case)
    requester = db.session().get(Member, pending.proposed_by)
    if item is None or requester is None or requester.public_key is None:
        abort(404)
    granted = db.session().scalar(
        select(ItemKey.sealed_key).where(ItemKey.item_id == item.id, ItemKey.kid == kid(member.public_key))
    )
    return jsonify(
        case=case.id,
        request=pending.id,
        item={"id": item.id, "envelope": cases.item_envelope(item), "granted_key": b64u(granted) if granted else None},
        requester={"username": requester.username, "public_key": b64u(requester.public_key)},
    )


@api_bp.post("/cases/<case_id>/identity-grant")
@login_required
def identity_grant(case_id):
    """Store the identity's content key re-sealed (in the custodian's browser) to the
    requester: only for an approved, pending request of this custodian on this case."""
    member = current_member()
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    case = db.session().get(Case, case_id) if len(case_id) == 32 else None
    pending = _approved_request(data.get("request"), member)
    if case is None or pending is None or pending.case_id != case.id:
        with db.transaction() as s:
            audit.record(
                s,
                "identity_refused",
                actor=member.username,
                on=committee_today(),
                case_id=case.id if case is not None else None,
                because="not_approved",
            )
        abort(403)
    try:
        raw = unb64u(data.get("sealed_key"))
    except FormatError as exc:
        raise InvalidSubmission(detail="sealed key") from exc
    if len(raw) != 80:  # crypto_box_seal of a 32-byte key
        raise InvalidSubmission(detail="sealed key length")
    with db.transaction() as s:
        # Under the case's lock, the request read again: it may have been used or withdrawn
        # (the case purged) since; and the approver must still be one of the case's
        # custodians (the rules may have changed since they approved).
        cases.locked(s, case)
        request_id = pending.id
        pending = s.get(PendingAction, request_id, populate_existing=True)
        if pending is None or _payload(pending).get("approved_by") != member.id:
            audit.record(
                s,
                "identity_refused",
                actor=member.username,
                on=committee_today(),
                case_id=case.id,
                because="not_approved",
                request=request_id,
            )
            refused = 403
        elif member.username not in custodians(services().rules, catalog.routing_header(case)):
            audit.record(
                s,
                "identity_refused",
                actor=member.username,
                on=committee_today(),
                case_id=case.id,
                because="conflict" if is_custodian(member.username) else "not_custodian",
                request=request_id,
            )
            refused = 403
        else:
            item = cases.identity_item(case)
            requester = s.get(Member, pending.proposed_by)
            if (
                item is None
                or requester is None
                or requester.public_key is None
                or not requester.active
                or not may_open(requester, case)
            ):
                audit.record(
                    s,
                    "identity_refused",
                    actor=member.username,
                    on=committee_today(),
                    case_id=case.id,
                    because="requester_gone",
                    request=request_id,
                )
                refused = 409
            else:
                refused = None
                s.merge(ItemKey(item_id=item.id, kid=kid(requester.public_key), sealed_key=raw))
                s.delete(pending)
                audit.record(
                    s,
                    "identity_disclosed",
                    actor=member.username,
                    on=committee_today(),
                    case_id=case.id,
                    request=request_id,
                    to=requester.username,
                )
    if refused:
        abort(refused)
    return jsonify(disclosed_to=requester.username), 201
