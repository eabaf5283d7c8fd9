"""Migrated template databases: the migrations run once per test process, and each app test
starts from a copy (a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL).

A copy of a database migrated from empty is the database those migrations make, so the
tests see what they saw before; every migration step is still run from empty, on both
databases, by tests/test_migrations_all.py.
"""

import queue
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from whistle import migrate
from whistle.db import make_engine

_sqlite_template: Path | None = None
_postgres_templates: dict[str, str] = {}  # server URL -> template database name


def _migrated(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()  # a template must have no connection left when it is copied


def sqlite_template() -> Path:
    """This process's migrated SQLite database file."""
    global _sqlite_template
    if _sqlite_template is None:
        path = Path(tempfile.mkdtemp(prefix="whistle-template-")) / "whistle.db"
        _migrated(f"sqlite:///{path}")
        _sqlite_template = path
    return _sqlite_template


def copy_sqlite(target: Path) -> None:
    """Make ``target`` a migrated database. (The template is in WAL mode, but its engine is
    closed: the last connection checkpointed the log into the file and removed it.)"""
    shutil.copyfile(sqlite_template(), target)


def postgres_template(admin_url: str) -> str:
    """The name of this process's migrated template database on the server of ``admin_url``."""
    if admin_url not in _postgres_templates:
        name = "whistle_template_" + secrets.token_hex(6)
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        _migrated(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        _postgres_templates[admin_url] = name
    return _postgres_templates[admin_url]


def create_postgres(admin, admin_url: str, name: str, migrated: bool) -> None:
    """Create database ``name``: a copy of the migrated template, or empty."""
    template = f' TEMPLATE "{postgres_template(admin_url)}"' if migrated else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{template}'))


def prepare(url: str, admin_url: str | None) -> None:
    """Before an app is built on ``url``: when the database is new or empty (no table at
    all), make it a copy of the migrated template; otherwise leave it as it is."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        if not path.exists() or path.stat().st_size == 0:
            copy_sqlite(path)
        return
    engine = create_engine(url)
    try:
        empty = not inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if not empty or admin_url is None:
        return
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{parsed.database}"'))  # refused while in use
        except OperationalError:
            return  # someone holds a connection to it: the migrations run on it as before
        create_postgres(admin, admin_url, parsed.database, migrated=True)
    finally:
        admin.dispose()


def _drop(admin, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


_drops: queue.Queue = queue.Queue()
_dropper: threading.Thread | None = None
_drop_errors: list[str] = []


def _dropping() -> None:
    while True:
        admin, name = _drops.get()
        try:
            _drop(admin, name)
        except Exception as exc:  # reported by cleanup; the thread goes on with the others
            _drop_errors.append(f"{name}: {exc}")
        finally:
            _drops.task_done()


def drop_later(admin, name: str) -> None:
    """Drop a test's database in the background (the next test need not wait for it);
    ``cleanup`` waits for every drop."""
    global _dropper
    if _dropper is None:
        _dropper = threading.Thread(target=_dropping, name="drop-test-databases", daemon=True)
        _dropper.start()
    _drops.put((admin, name))


def cleanup() -> None:
    """Wait for the pending drops; remove this process's templates (end of the session)."""
    global _sqlite_template
    _drops.join()
    if _drop_errors:
        raise RuntimeError(f"test databases left behind: {_drop_errors}")
    if _sqlite_template is not None:
        shutil.rmtree(_sqlite_template.parent, ignore_errors=True)
        _sqlite_template = None
    for admin_url, name in list(_postgres_templates.items()):
        _drop(create_engine(admin_url, isolation_level="AUTOCOMMIT"), name)
        del _postgres_templates[admin_url]
