"""The public transparency page: what outsiders need to hold the committee to its own log.

``/transparency`` (HTML, reporter look) and ``/transparency/audit-head.json`` publish the
active committee keys (id, fingerprint, audit verify key), the audit chain's current length
and head, and the latest signed statement of it (crypto.signing). Anyone may save them;
a later rewrite of history no longer matches what they saved. Like the reporter pages these
set no cookie and never touch the session; the page does no chain verification itself (that
is `whistle audit verify`, and the oversight view), so an anonymous visitor cannot make the
server walk the whole log.

The page also shows the published statistics (whistle.transparency.figures: reports per month by
channel and category, decisions, deadlines kept, notices, published survey results), with
small counts suppressed (whistle.transparency.suppression); ``/transparency/statistics.csv`` and
``/transparency/statistics.json`` carry the same figures.
"""

import csv
import hashlib
import io
import time

from flask import Blueprint, Response, jsonify, render_template
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.encoding import b64u
from whistle import clock, db
from whistle.custody import audit, public_log
from whistle.transparency import figures as public_stats
from whistle.models import CommitteeKey
from whistle.transparency.suppression import Fewer, Withheld, is_hidden
from whistle.services import services

bp = Blueprint("transparency", __name__)


def fingerprint(public_key: bytes) -> str:
    """BLAKE2b-256 of the 32-byte public key, as hex in groups of four (``b2sum -l 256``)."""
    digest = hashlib.blake2b(bytes(public_key), digest_size=32).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def published(session: Session, cfg=None, rules=None) -> dict:
    """Everything the page shows, as plain JSON values (also `whistle audit head`)."""
    from crypto import signing

    keys = [
        {
            "kid": k.kid,
            "public_key": b64u(bytes(k.public_key)),
            "fingerprint": fingerprint(k.public_key),
            "audit_verify_key": k.verify_key,
            "created_on": k.created_on.isoformat(),
            "demo": bool(k.demo),
        }
        for k in session.scalars(
            select(CommitteeKey)
            .where(CommitteeKey.active.is_(True))
            .order_by(CommitteeKey.created_on, CommitteeKey.kid)
        )
    ]
    length, head = audit.head(session)
    latest = audit.latest_statement(session)
    statement = None
    if latest is not None:
        obj = audit.statement_of(latest)
        statement = {
            "id": latest.id,
            "statement": obj,
            "canonical": signing.canonical(obj),
            "signature": latest.signature,
            "verify_key": latest.verify_key,
        }
    return {
        "v": 1,
        "committee_keys": keys,
        "audit": {"length": length, "head": head},
        "statement": statement,
        "log": public_log.status(
            session, (cfg or services().config).log_origin, (rules or services().rules).witnessing, time.time()
        ),
        # The published statistics are apart (public_stats, /transparency/statistics.json):
        # they are counted, not read off a head row, and cached.
    }


def _statistics() -> dict:
    cfg = services().config
    k = services().rules.surveys.min_cell
    return public_stats.build(db.session(), clock.today(cfg.timezone), k)


@bp.app_template_filter("figure")
def figure(value) -> str:
    """A published figure for people: the number, "fewer than k", or "withheld"."""
    if isinstance(value, Fewer):
        return _("fewer than %(k)d", k=value.k)
    if isinstance(value, Withheld):
        return _("withheld")
    if value is None:
        return "—"
    return str(value)


@bp.app_template_test("hidden_figure")
def hidden_figure(value) -> bool:
    """True for a suppressed figure."""
    return is_hidden(value)


@bp.app_template_test("drawable")
def drawable(values) -> bool:
    """True if a chart of ``values`` would show a bar: one of them is a shown count above
    zero (a chart of zeros and hidden counts is an empty frame)."""
    return any(not is_hidden(v) and isinstance(v, int) and v > 0 for v in values)


@bp.app_template_global("result_charts")
def result_charts(result: dict) -> dict:
    """Charts of a survey's results (question index -> SVG)."""
    return {index: Markup(svg) for index, svg in public_stats.result_charts(result).items()}


@bp.get("/transparency")
def page():
    """The public page: keys, chain head, latest signed statement, how to check them, and
    the published statistics (suppressed small counts) with charts."""
    stats = _statistics()
    return render_template(
        "transparency.html",
        data=published(db.session()),
        stats=stats,
        names=public_stats.labels(stats),
        pictures=public_stats.page_charts(stats),
    )


@bp.get("/transparency/statistics.json")
def statistics_json():
    """The published statistics as JSON: counts, "<k" (fewer than k) or "withheld"."""
    return jsonify(public_stats.labelled(_statistics()))


@bp.get("/transparency/statistics.csv")
def statistics_csv():
    """The same figures as CSV, one figure per line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(public_stats.CSV_HEADER)
    for row in public_stats.csv_rows(_statistics()):
        writer.writerow([public_stats.csv_cell(v) for v in row])
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")  # BOM: spreadsheets read UTF-8
    response.headers.set("Content-Disposition", "attachment", filename="whistle-statistics.csv")
    return response


@bp.get("/transparency/audit-head.json")
def audit_head_json():
    """The same data as JSON, for scripts that keep copies."""
    return jsonify(published(db.session()))
