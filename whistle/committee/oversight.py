"""The oversight view for the supervising body (rules-file role ``overseer``).

It shows what the committee did, never what reporters said: the audit log (actor, action,
case id prefix, day, and only those detail values that are codes, usernames or counts),
refused grants, grade overrides, overdue cases (routing fields and dates) and whether the
hash chain verifies. Overseers hold no grant and routing never makes them eligible, so no
case page or sealed item ever opens for them. Each visit is itself audited.
"""

import json
import re

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from whistle import db
from whistle.custody import audit
from whistle.committee import triage_view
from whistle.committee.access import current_member, role_required
from whistle.committee.auth import bp
from whistle.clock import committee_today
from whistle.models import AuditEntry, AuditStatement, Case

PAGE_SIZE = 50
LIST_LIMIT = 100
CASE_PREFIX = 8

ACTIONS = {
    "login": _l("Logged in"),
    "login_failed": _l("Failed login"),
    "logout": _l("Logged out"),
    "enrolled": _l("Enrolled"),
    "invite": _l("Invited a member"),
    "deactivate": _l("Deactivated a member"),
    "refused_invite": _l("Refused: invitation"),
    "grants_revoked": _l("Revoked the grants of a member invited again"),
    "enrolment_confirmed": _l("Confirmed an enrolment"),
    "refused_enrolment_confirm": _l("Refused: confirming an enrolment"),
    "deactivate_requested": _l("Asked to deactivate a member"),
    "deactivate_confirmed": _l("Confirmed deactivating a member"),
    "refused_deactivate": _l("Refused: deactivation"),
    "view": _l("Viewed a case"),
    "decrypt": _l("Decrypted a case"),
    "download": _l("Downloaded an attachment"),
    "reply": _l("Replied to the reporter"),
    "note": _l("Added an internal note"),
    "grant": _l("Granted a case"),
    "refused_grant": _l("Grant refused"),
    "regrant": _l("Re-granted with the committee key"),
    "refused_view": _l("Refused: view"),
    "refused_change": _l("Refused: change"),
    "refused_decrypt": _l("Refused: decrypt"),
    "refused_download": _l("Refused: download"),
    "refused_self_confirm": _l("Refused: confirming one's own proposal"),
    "refused_reply": _l("Refused: a reply to a reporter key the report does not bind"),
    "status": _l("Status change"),
    "disposition": _l("Disposition"),
    "grade_override": _l("Grade override"),
    "proposed_downgrade": _l("Proposed a downgrade"),
    "confirmed_downgrade": _l("Confirmed a downgrade"),
    "rejected_downgrade": _l("Rejected a downgrade"),
    "proposed_close": _l("Proposed closing"),
    "confirmed_close": _l("Confirmed closing"),
    "rejected_close": _l("Rejected closing"),
    "withdrawn_close": _l("Closing withdrawn: the case was already closed"),
    "withdrawn_downgrade": _l("Downgrade withdrawn: the case was no longer high risk"),
    "proposed_purge": _l("Proposed an early purge"),
    "confirmed_purge": _l("Confirmed an early purge"),
    "rejected_purge": _l("Rejected an early purge"),
    "withdrawn_purge": _l("Early purge withdrawn: the case was no longer closed"),
    "proposed_disposition": _l("Proposed a disposition that shortens retention"),
    "confirmed_disposition": _l("Confirmed a disposition that shortens retention"),
    "rejected_disposition": _l("Rejected a disposition that shortens retention"),
    "withdrawn_disposition": _l("Disposition change withdrawn"),
    "grant_key_failed": _l("A handed-over key did not open the case"),
    "retention_fixed": _l("Retention date recorded for a case closed earlier"),
    "export": _l("Exported a sealed case"),
    "purge": _l("Purged a case"),
    "key_registered": _l("Committee key registered"),
    "key_retired": _l("Committee key retired"),
    "key_split": _l("Committee key split"),
    "key_recovered": _l("Committee key rebuilt from shares"),
    "key_opened": _l("Committee key file opened to re-grant cases"),
    "audit_signed": _l("Signed the audit log"),
    "oversight_view": _l("Opened the oversight view"),
    "identity_requested": _l("Asked for a real-name reporter's identity"),
    "identity_approved": _l("Approved disclosing a reporter's identity"),
    "identity_refused": _l("Identity disclosure refused"),
    "identity_disclosed": _l("Disclosed a reporter's identity to a member"),
    "notice_published": _l("Published a pre-appointment notice"),
    "survey_created": _l("Created a survey"),
    "survey_changed": _l("Changed a survey"),
    "survey_opened": _l("Opened a survey"),
    "survey_closed": _l("Closed a survey"),
    "survey_published": _l("Published a survey's results"),
    "survey_deleted": _l("Deleted a survey"),
    "survey_texts": _l("Read a survey's free-text answers"),
    "refused_survey_texts": _l("Refused: a survey's free-text answers"),
    "survey_texts_purged": _l("Deleted a survey's free-text answers (retention)"),
    "intake": _l("A report entered the public log"),
    "rules_loaded": _l("Loaded a rules file"),
}

PROBLEMS = {
    audit.HASH_MISMATCH: _l("hash mismatch: the entry was changed after it was written"),
    audit.BROKEN_LINK: _l("broken link: it does not follow from the entry before it"),
    audit.SEQUENCE_GAP: _l("sequence gap: entries are missing"),
    audit.MISSING_AT_END: _l("entries are missing at the end of the log"),
    audit.STATEMENT_MISMATCH: _l("history up to this entry differs from a signed statement"),
    audit.BAD_SIGNATURE: _l("a signed statement has an invalid signature"),
    audit.UNKNOWN_SIGNER: _l("a signed statement was not made with the committee key"),
    audit.NOT_IN_LOG: _l("the entry differs from the public log"),
    audit.CHECKPOINT_MISMATCH: _l("history up to this entry differs from a signed checkpoint"),
    audit.BAD_CHECKPOINT: _l("a checkpoint of the public log is not signed by the committee key"),
    audit.KEY_NOT_ENROLLED: _l("a member's key is not the one recorded when they enrolled"),
}

# Detail values shown as they are: codes, usernames, counts, key ids. Anything else (a
# written reason, say, which may repeat what a report said) is shown as "withheld".
SHOWN_DETAIL = {
    "event",
    "before",
    "after",
    "grade",
    "to",
    "member",
    "confirmed_by",
    "proposed_by",
    "disposition",
    "items",
    "attachments",
    "kid",
    "key",
    "threshold",
    "count",
    "holders",
    "statement",
    "length",
    "held_for_superior",
    "because",
    "requester",
    "opens_on",
    "closes_on",
    "status",
    "texts",
    "grants",
    "invited_by",
    "requested_by",
    "waiting_for",
    "first",
    "commitment",
    "sha256",
    "published",
}
ID_DETAIL = {"duplicate_of", "action_id", "request", "notice", "survey"}  # shown as a prefix, like case ids
_CODE = re.compile(r"^[a-z0-9_]{1,40}$")


def _value(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v)[:64] for v in value[:20])
    return str(value)[:64]


def detail_of(entry: AuditEntry) -> list[tuple[str, str | None]]:
    """[(key, value or None when withheld)] of an entry's detail, safe to show an overseer."""
    try:
        data = json.loads(entry.detail or "{}")
    except ValueError:
        return [("detail", None)]
    if not isinstance(data, dict):
        return [("detail", None)]
    shown = []
    for key, value in sorted(data.items()):
        if value is None:
            continue
        if key in SHOWN_DETAIL:
            shown.append((key, _value(value)))
        elif key in ID_DETAIL:
            shown.append((key, str(value)[:CASE_PREFIX]))
        elif key == "reason" and isinstance(value, str) and _CODE.match(value) and entry.action.startswith("refused_"):
            shown.append((key, value))  # a refusal's reason is a code (conflict, admin, held…)
        else:
            shown.append((key, None))
    return shown


def row_of(entry: AuditEntry) -> dict:
    """One audit entry as the template shows it."""
    return {
        "seq": entry.seq,
        "day": entry.on,
        "actor": entry.actor or "",
        "action": entry.action,
        "label": ACTIONS.get(entry.action, entry.action),
        "case": entry.case_id[:CASE_PREFIX] if entry.case_id else "",
        "detail": detail_of(entry),
    }


def _entries(*actions) -> tuple[list[dict], int]:
    session = db.session()
    query = select(AuditEntry).where(AuditEntry.action.in_(actions))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(AuditEntry.seq.desc()).limit(LIST_LIMIT)).all()
    return [row_of(e) for e in rows], total


def overdue_cases(today) -> list[dict]:
    """Open cases past a deadline: id prefix, department, grade, due date, days overdue."""
    due = func.coalesce(Case.ack_due, Case.feedback_due)
    candidates = (
        db.session()
        .scalars(
            select(Case)
            .where(Case.status.not_in(("closed", "purged")), (Case.ack_due < today) | (Case.feedback_due < today))
            .order_by(due, Case.id)
        )
        .all()
    )
    rows = []
    for case in candidates:
        view = triage_view.summary(case, today)
        if view["urgency"] == "overdue":
            rows.append(
                {
                    "case": case.id[:CASE_PREFIX],
                    "department": case.department,
                    "grade": case.risk_grade,
                    "unit": case.handling_unit or "",
                    "held": case.held_for_superior,
                    "due_kind": view["due_kind"],
                    "due": view["due"],
                    "days": (today - view["due"]).days,
                }
            )
    rows.sort(key=lambda r: (-r["days"], r["case"]))
    return rows


@bp.get("/oversight")
@role_required("overseer")
def oversight():
    """The supervising body's view: the log, refusals, overrides, overdue cases, chain status."""
    today = committee_today()
    with db.transaction() as s:
        audit.record(s, "oversight_view", actor=current_member().username, on=today)
    session = db.session()
    verdict = audit.verify(session)
    total = audit.count(session)
    # A page past the last (or too large for the database's OFFSET) shows the last one.
    last_page = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int)), last_page)
    log = session.scalars(
        select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    refused, refused_total = _entries("refused_grant")
    overrides, overrides_total = _entries("grade_override")
    latest = audit.latest_statement(session)
    statements = session.scalar(select(func.count()).select_from(AuditStatement)) or 0
    return render_template(
        "committee/oversight.html",
        verdict=verdict,
        problem=PROBLEMS.get(verdict.problem, verdict.problem),
        log=[row_of(e) for e in log],
        page=page,
        more=page * PAGE_SIZE < total,
        total=total,
        refused=refused,
        refused_total=refused_total,
        overrides=overrides,
        overrides_total=overrides_total,
        overdue=overdue_cases(today),
        latest=latest,
        statements=statements,
        list_limit=LIST_LIMIT,
    )
