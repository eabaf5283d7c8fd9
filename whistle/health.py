"""Liveness and readiness probes for process managers and load balancers.

``/healthz`` says only that the process answers. ``/readyz`` checks what a worker needs to
take reports and answers 200, or 503 with the *names* of the failing checks: never a count,
an id, a revision, a version or an error message, so a probe tells nobody anything about
cases, the schema or the software. Neither touches the session, so neither sets a cookie.
"""

import functools

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, jsonify
from sqlalchemy import select, text

from whistle import migrate
from whistle.models import CommitteeKey
from whistle.services import services

bp = Blueprint("health", __name__)

CHECKS = ("database", "migrations", "rules", "committee_key")


@functools.cache
def _script_heads() -> frozenset:
    """The head revision(s) of the migrations shipped with this code (read once)."""
    return frozenset(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads())


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    """The process is alive and serving requests."""
    return _no_store(Response("ok\n", mimetype="text/plain"))


def _failing() -> list[str]:
    engine = services().engine
    failing = [] if _rules_loaded() else ["rules"]
    try:
        conn = engine.connect()
    except Exception:  # noqa: BLE001 - any failure means "not ready"; the reason is not told
        return _unreachable(failing)
    with conn:
        try:
            conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001
            return _unreachable(failing)
        try:  # alembic looks for its version table first: no error on an empty database
            at_head = frozenset(MigrationContext.configure(conn).get_current_heads()) == _script_heads()
        except Exception:  # noqa: BLE001
            at_head = False
        try:
            has_key = (
                conn.execute(select(CommitteeKey.kid).where(CommitteeKey.active.is_(True)).limit(1)).first() is not None
            )
        except Exception:  # noqa: BLE001 - no table yet
            has_key = False
    failing += ([] if at_head else ["migrations"]) + ([] if has_key else ["committee_key"])
    return [name for name in CHECKS if name in failing]


def _unreachable(failing: list[str]) -> list[str]:
    """No database: the checks that need it fail too."""
    return [name for name in CHECKS if name != "rules" or name in failing]


def _rules_loaded() -> bool:
    loaded = services().rules
    return loaded is not None and bool(loaded.department_codes)


@bp.get("/readyz")
def readyz():
    """Database reachable, schema at the latest revision, rules loaded, a committee key
    registered: 200, else 503 with the failing check names."""
    failing = _failing()
    response = jsonify(ready=not failing, failing=failing)
    response.status_code = 503 if failing else 200
    return _no_store(response)
