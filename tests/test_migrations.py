"""Alembic: every revision upgrades from empty and downgrades back, on each database."""

import pytest
from sqlalchemy import inspect, text

from whistle import migrate
from whistle.db import make_engine
from whistle.models import Base


def test_upgrade_downgrade_upgrade(config):
    engine = make_engine(config.database_url)
    migrate.upgrade(engine)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set(Base.metadata.tables)
    engine.dispose()


def test_models_match_migrations(config):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(config.database_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_the_time_step_of_each_members_last_login_is_forgotten(config):
    """Databases written before 0007 kept the TOTP step of each member's last login: the
    time of that login to the half-minute. The upgrade erases it."""
    import datetime as dt

    from sqlalchemy import text

    engine = make_engine(config.database_url)
    migrate.upgrade(engine, "0006")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO members (id, username, created_on, active, totp_last_step) "
                "VALUES (:id, 'zhao.lei', :on, true, 59856801)"
            ),
            {"id": "a" * 32, "on": dt.date(2026, 11, 26)},
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT totp_last_step FROM members")).scalars().all() == [0]
    engine.dispose()


def test_a_failed_upgrade_leaves_the_schema_as_it_was(config):
    """A migration that fails half-way (here on an index name already taken, as a power cut
    or a kill would stop it elsewhere) changes nothing: on SQLite too, whose driver would
    otherwise run each CREATE and ALTER outside the transaction, so the next upgrade found
    the tables it had made and failed on them forever."""
    engine = make_engine(config.database_url)
    migrate.upgrade(engine, "0003")
    with engine.begin() as conn:  # the name 0004n gives its new index, already taken
        conn.execute(text("CREATE INDEX ix_cases_notice_id ON cases (status)"))
    before = (set(inspect(engine).get_table_names()), {c["name"] for c in inspect(engine).get_columns("cases")})
    with pytest.raises(Exception):
        migrate.upgrade(engine)
    engine.dispose()  # a fresh inspection, as the next start would see it
    after = (set(inspect(engine).get_table_names()), {c["name"] for c in inspect(engine).get_columns("cases")})
    assert after == before
    with engine.begin() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0003"
        conn.execute(text("DROP INDEX ix_cases_notice_id"))
    migrate.upgrade(engine)  # the obstacle gone, the same upgrade now goes through
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set(Base.metadata.tables)
    engine.dispose()
