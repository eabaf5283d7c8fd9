"""The public transparency page: what outsiders need to hold the committee to its own log.

``/transparency`` (HTML, reporter look) and ``/transparency/audit-head.json`` publish the
active committee keys (id, fingerprint, audit verify key), the audit chain's current length
and head, and the latest signed statement of it (crypto.signing). Anyone may save them;
a later rewrite of history no longer matches what they saved. Like the reporter pages these
set no cookie and never touch the session; the page does no chain verification itself (that
is `whistle audit verify`, and the oversight view), so an anonymous visitor cannot make the
server walk the whole log.
"""
import hashlib

from flask import Blueprint, jsonify, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.encoding import b64u
from whistle import audit, db
from whistle.models import CommitteeKey

bp = Blueprint("transparency", __name__)


def fingerprint(public_key: bytes) -> str:
    """BLAKE2b-256 of the 32-byte public key, as hex in groups of four (``b2sum -l 256``)."""
    digest = hashlib.blake2b(bytes(public_key), digest_size=32).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))


def published(session: Session) -> dict:
    """Everything the page shows, as plain JSON values (also `whistle audit head`)."""
    from crypto import signing

    keys = [{"kid": k.kid, "public_key": b64u(bytes(k.public_key)), "fingerprint": fingerprint(k.public_key),
             "audit_verify_key": k.verify_key, "created_on": k.created_on.isoformat(), "demo": bool(k.demo)}
            for k in session.scalars(select(CommitteeKey).where(CommitteeKey.active.is_(True))
                                     .order_by(CommitteeKey.created_on, CommitteeKey.kid))]
    length, head = audit.head(session)
    latest = audit.latest_statement(session)
    statement = None
    if latest is not None:
        obj = audit.statement_of(latest)
        statement = {"id": latest.id, "statement": obj, "canonical": signing.canonical(obj),
                     "signature": latest.signature, "verify_key": latest.verify_key}
    return {
        "v": 1,
        "committee_keys": keys,
        "audit": {"length": length, "head": head},
        "statement": statement,
        # Issue 5 (published statistics) adds its figures here, under their own key, and a
        # section in templates/transparency.html; the JSON keeps version 1 while it only grows.
    }


@bp.get("/transparency")
def page():
    """The public page: keys, chain head, latest signed statement, how to check them."""
    return render_template("transparency.html", data=published(db.session()))


@bp.get("/transparency/audit-head.json")
def audit_head_json():
    """The same data as JSON, for scripts that keep copies."""
    return jsonify(published(db.session()))
