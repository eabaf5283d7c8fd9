"""Alembic: every revision upgrades from empty and downgrades back, on each database."""
from sqlalchemy import inspect

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
