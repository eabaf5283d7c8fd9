"""The database engine and per-request sessions (SQLAlchemy 2)."""

from contextlib import contextmanager

from flask import g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from whistle.services import services


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and secure_delete.

    hide_parameters: a database error's message must not carry the statement's values
    (case ids, locators, salts) into a log or a traceback.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised on connect
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cur.execute("PRAGMA synchronous=FULL")  # a receipt is only shown after fsync
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # purged ciphertext is overwritten
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # JIT off: whistle's statements are short and their LIMITs end them early, but a
    # planner's high cost guess on a big table switched JIT on and cost 30-40 ms a query.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        hide_parameters=True,
        connect_args={"options": "-c jit=off"},
    )


def session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = services().sessions()
    return g.db


def close_session(_exc=None) -> None:
    """Teardown: roll back anything uncommitted and release the connection."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


def rollback() -> None:
    """Roll back the request's session, if it has one: an error page must not run its own
    queries in a transaction a failed statement left aborted (PostgreSQL refuses them)."""
    db = g.get("db")
    if db is not None:
        db.rollback()


def end_reads() -> None:
    """End the request session's read-only transaction, if one is open, handing its
    connection back to the pool; what it read stays loaded. For a long wait that needs no
    database (a receipt derivation): a pooled connection is not held through it."""
    db = g.get("db")
    if db is None or not db.in_transaction():
        return
    if db.new or db.dirty or db.deleted:
        raise RuntimeError("end_reads with unsaved changes")
    db.commit()  # nothing to write; expire_on_commit=False keeps the objects as they are


@contextmanager
def transaction():
    """One all-or-nothing unit of work on the request session."""
    db = session()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    g.whistle_committed = True  # an error after this must not tell the user nothing was kept


def committed_in_request() -> bool:
    """Whether a transaction of this request has committed (the error page then says that
    what was sent was stored)."""
    return bool(g.get("whistle_committed"))


def init_app(app) -> None:
    """Close the request's session at the end of each request (its factory: services)."""
    app.teardown_appcontext(close_session)
