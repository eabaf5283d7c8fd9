"""The public log's HTTP interface (docs/transparency-log.md §7).

Every answer is public and the same for every caller: no cookie, no session. Bad parameters
are a 400 with a JSON error, ranges beyond the log's current size a 404. A posted
cosignature is kept only if it is a configured witness's valid cosignature of a checkpoint
this log signed; nothing about the request is recorded.
"""

import logging
import re
import weakref

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from crypto import tlog
from whistle import db
from whistle.clock import today
from whistle.custody import intake_log, public_log
from whistle.services import services

bp = Blueprint("log", __name__)

MAX_COSIGNED_BYTES = 64 * 1024
_upkept: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # app -> the day it was done
_COMMITMENT = re.compile(r"[A-Za-z0-9_-]{43}")


class _BadRange(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _whole(name: str) -> int:
    text = request.args.get(name, "")
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise _BadRange(400, f"{name} must be a whole number")
    return int(text)


@bp.errorhandler(_BadRange)
def _bad_range(exc: _BadRange):
    return jsonify(error="bad_request" if exc.status == 400 else "not_found", message=str(exc)), exc.status


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@bp.before_app_request
def _upkeep() -> None:
    """Once per process and day, on its first request: record the rules file if it changed,
    and put the finished days' intake into the log (`whistle log seal-day` does the same
    from cron; whichever comes first does it, the other finds nothing left)."""
    cfg = services().config
    if not cfg.extra.get("log_upkeep", not cfg.testing):  # tests that count entries turn it on
        return
    day = today(cfg.timezone)
    app = current_app._get_current_object()
    if _upkept.get(app) == day:
        return
    session = db.session()
    try:
        intake_log.record_rules(session, cfg.rules_file.read_bytes(), day)
        intake_log.seal_days(session, day)
        session.commit()
    except (SQLAlchemyError, OSError) as exc:
        session.rollback()  # the request goes on; the next one tries again
        logging.getLogger("whistle").warning("public log upkeep: %s", type(exc).__name__)
        return
    _upkept[app] = day


@bp.get("/log/rules")
def rules():
    """The rules file this server loaded, members' e-mail addresses left out; its SHA-256 is
    the ``published`` value of the last ``rules_loaded`` entry."""
    raw = services().config.rules_file.read_bytes()
    return _text(intake_log.published_rules(raw.decode("utf-8")))


@bp.get("/log/checkpoint")
def checkpoint():
    """The latest signed checkpoint with every cosignature collected for it."""
    session = db.session()
    row = public_log.latest_checkpoint(session)
    if row is None:
        return jsonify(error="not_found", message="the log has no signed checkpoint yet"), 404
    return _text(public_log.served_note(session, row))


@bp.get("/log/proof/inclusion")
def inclusion():
    index, size = _whole("index"), _whole("size")
    if not 0 <= index < size:
        raise _BadRange(400, "index must be below size")
    session = db.session()
    if size > public_log.size(session):
        raise _BadRange(404, "size is beyond the log")
    store = public_log.DbStore(session)
    return jsonify(
        index=index,
        size=size,
        leaf_hash=public_log.b64(store.get_node(0, index)),
        proof=[public_log.b64(h) for h in tlog.inclusion_proof(store, index, size)],
    )


@bp.get("/log/proof/consistency")
def consistency():
    first, second = _whole("from"), _whole("to")
    if first > second:
        raise _BadRange(400, "from must not be above to")
    session = db.session()
    if second > public_log.size(session):
        raise _BadRange(404, "to is beyond the log")
    proof = tlog.consistency_proof(public_log.DbStore(session), first, second)
    return jsonify({"from": first, "to": second, "proof": [public_log.b64(h) for h in proof]})


@bp.get("/log/entries")
def entries():
    start, end = _whole("start"), _whole("end")
    if not start < end:
        raise _BadRange(400, "start must be below end")
    session = db.session()
    if end > public_log.size(session):
        raise _BadRange(404, "end is beyond the log")
    return jsonify(start=start, entries=[public_log.b64(e) for e in public_log.entries(session, start, end)])


@bp.get("/log/intake")
def intake():
    """A receipt holder's intake entry, by the commitment only they can compute
    (crypto/FORMAT.md §2), with its inclusion proof against the latest checkpoint."""
    commitment = request.args.get("commitment", "")
    if not _COMMITMENT.fullmatch(commitment):
        raise _BadRange(400, "commitment must be 43 characters of base64url")
    answer = public_log.intake_proof(db.session(), commitment)
    if answer is None:
        raise _BadRange(404, "no intake entry has this commitment")
    return jsonify(answer)


@bp.post("/log/cosignature")
def cosignature():
    """A witness posts the checkpoint it cosigned (204 when kept)."""
    if (request.content_length or 0) > MAX_COSIGNED_BYTES:
        return jsonify(error="too_large", message="a cosigned checkpoint is a few hundred bytes"), 413
    try:
        text = request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError:
        return jsonify(error="bad_request", message="not UTF-8 text"), 400
    witnesses = services().rules.witnessing.verifiers
    session = db.session()
    try:
        public_log.add_cosignature(session, text, witnesses)
    except public_log.CosignatureRefused as exc:
        session.rollback()
        return jsonify(error="refused", message=str(exc)), 400
    session.commit()
    return "", 204
