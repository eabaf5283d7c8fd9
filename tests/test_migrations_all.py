"""Alembic: from an empty database and from every earlier revision (holding data written at
that revision), the migrations reach head with the data intact and the same schema as the
models, go all the way down, and come back up; on SQLite and on PostgreSQL.

Revisions are read from the script directory, so a new migration is covered automatically.
"""

import datetime as dt
import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from whistle import migrate
from whistle.db import make_engine
from whistle.models import Base


SCRIPT = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
REVISIONS = [rev.revision for rev in reversed(list(SCRIPT.walk_revisions()))]  # base first
HEADS = set(SCRIPT.get_heads())
DAY = dt.date(2024, 5, 6)
CASE_ID, ITEM_ID, ATTACHMENT_ID = "c" * 32, "d" * 32, "e" * 32

# Values for the columns of the oldest schema; columns added later are filled generically.
KNOWN = {
    "cases": {
        "id": CASE_ID,
        "locator": "1234567",
        "salt": b"\x01" * 16,
        "kdf_opslimit": 1,
        "kdf_memlimit": 8 * 1024 * 1024,
        "verifier": b"\x02" * 32,
        "reporter_pk": b"\x03" * 32,
        "channel": "contractor",
        "department": "transport",
        "category": "gifts",
        "accused_rank": "head",
        "money_band": "10k_100k",
        "frequency": "regular",
        "evidence": "attached",
        "status": "received",
        "received_on": DAY,
        "item_count": 1,
    },
    "committee_keys": {
        "kid": "k" * 32,
        "public_key": b"\x04" * 32,
        "label": "old key",
        "demo": False,
        "active": True,
        "created_on": DAY,
    },
    "case_events": {"id": "f" * 32, "case_id": CASE_ID, "seq": 1, "event": "received", "happened_on": DAY},
    "case_items": {
        "id": ITEM_ID,
        "case_id": CASE_ID,
        "seq": 1,
        "kind": "report",
        "envelope": b'{"v":1}',
        "created_on": DAY,
    },
    "attachments": {"id": ATTACHMENT_ID, "item_id": ITEM_ID, "case_id": CASE_ID, "stored_size": 3},
    "attachment_chunks": {"attachment_id": ATTACHMENT_ID, "idx": 0, "data": b"\x05\x06\x07"},
}


def _filler(column: sa.Column, n: int):
    """A plausible value for a required column this test does not know by name."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 0
    if isinstance(kind, (sa.DateTime,)):
        return dt.datetime(2024, 5, 6)
    if isinstance(kind, sa.Date):
        return DAY
    if isinstance(kind, sa.LargeBinary):
        return bytes([n % 256]) * (kind.length or 16)
    if isinstance(kind, sa.String):
        return f"v{n}"[: kind.length or 32]
    raise AssertionError(f"add a filler for {column.table.name}.{column.name} ({kind!r})")


def _write_rows(engine) -> None:
    """One row in each table of the oldest schema, at whatever revision the database is."""
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for n, (name, known) in enumerate(KNOWN.items()):
            if name not in meta.tables:
                continue
            table = meta.tables[name]
            row = {}
            for column in table.columns:
                if column.name in known:
                    row[column.name] = known[column.name]
                elif not column.nullable and column.server_default is None:
                    row[column.name] = _filler(column, n)
            conn.execute(table.insert().values(**row))


def _check_rows(engine) -> None:
    with engine.connect() as conn:
        case = conn.execute(
            sa.text("SELECT locator, verifier, received_on FROM cases WHERE id = :i"), {"i": CASE_ID}
        ).one()
        assert (case.locator, bytes(case.verifier)) == ("1234567", b"\x02" * 32)
        assert str(case.received_on)[:10] == DAY.isoformat()
        chunk = conn.execute(
            sa.text("SELECT data FROM attachment_chunks WHERE attachment_id = :i"), {"i": ATTACHMENT_ID}
        ).scalar_one()
        assert bytes(chunk) == b"\x05\x06\x07"
        # Nothing lost on the way (a table rebuilt with foreign keys on would cascade-delete).
        for name in KNOWN:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one() == 1, name


def _tables(engine) -> set:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _current(engine) -> set:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def test_revisions_form_one_line():
    """One base and one head: parallel branches need a merge revision."""
    assert len(HEADS) == 1, f"migrations branch ({sorted(HEADS)}): add a merge revision"
    assert len(SCRIPT.get_bases()) == 1
    assert REVISIONS, "no migrations found"


@pytest.mark.parametrize("start", [None] + REVISIONS, ids=["empty"] + REVISIONS)
def test_upgrade_from(config, start):
    engine = make_engine(config.database_url)
    try:
        if start is not None:
            migrate.upgrade(engine, start)
            assert _current(engine) == {start}
            _write_rows(engine)
        migrate.upgrade(engine, "heads")
        assert _current(engine) == HEADS
        assert _tables(engine) == set(Base.metadata.tables)
        if start is not None:
            _check_rows(engine)
        with engine.connect() as conn:  # the same schema whatever the starting point
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []

        migrate.downgrade(engine, "base")
        assert _tables(engine) == set()
        migrate.upgrade(engine, "heads")
        assert _tables(engine) == set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_each_step_down_and_up_again(config):
    """Every single downgrade works on a database holding data, then the way back up."""
    if len(HEADS) != 1:
        pytest.skip("branched history: test_revisions_form_one_line asks for a merge revision")
    engine = make_engine(config.database_url)
    try:
        migrate.upgrade(engine, REVISIONS[0])
        _write_rows(engine)
        migrate.upgrade(engine)
        for below in reversed([None] + REVISIONS[:-1]):
            migrate.downgrade(engine, below or "base")
            assert _current(engine) == ({below} if below else set())
            if below:
                _check_rows(engine)
        migrate.upgrade(engine)
        assert _tables(engine) == set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_backends_covered():
    """CI sets WHISTLE_TEST_DATABASE_URL, so the migrations run on PostgreSQL too there."""
    if os.environ.get("CI") and not os.environ.get("WHISTLE_TEST_DATABASE_URL"):
        pytest.fail("CI must run the migration tests on PostgreSQL (WHISTLE_TEST_DATABASE_URL)")
