"""Schema migrations (Alembic), run programmatically by the CLI, the app and the tests."""

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine

from whistle.config import PACKAGE_DIR


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic configuration pointing at whistle's migrations and ``url``."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _run(engine: Engine, action, revision: str) -> None:
    """Run an Alembic command on one connection of ``engine``, in one transaction.

    On SQLite, foreign keys are switched off for the duration, as SQLite's own procedure for
    rebuilding a table asks: a batch migration copies a table, drops the original and
    renames the copy, and dropping ``cases`` with foreign keys on would cascade-delete every
    item, attachment and event of every case. The keys are checked before the commit and
    switched back on before the connection returns to the pool.

    On SQLite the transaction is opened here, explicitly: the driver (pysqlite) opens one
    only before an INSERT, UPDATE or DELETE, so every CREATE and ALTER before the first of
    them would be committed on its own, and a migration stopped half-way (an error, a kill,
    a power cut) would leave tables that the next upgrade then fails to create, for good.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        driver = conn.connection.driver_connection if sqlite else None
        legacy = driver.isolation_level if sqlite else None
        if sqlite:  # a no-op inside a transaction: set it before the migration's begins
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
            driver.isolation_level = None  # the driver opens no transaction of its own...
        try:
            with conn.begin():
                if sqlite:
                    # ...this one holds the DDL too. Deferred: an upgrade with nothing to
                    # do (every start, every console command) takes no write lock.
                    conn.exec_driver_sql("BEGIN")
                cfg.attributes["connection"] = conn
                action(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration to {revision} broke {len(broken)} foreign key(s)")
        finally:
            if sqlite:
                driver.isolation_level = legacy  # as every other connection of the pool
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database at ``engine`` to ``revision``."""
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database at ``engine`` back to ``revision``."""
    _run(engine, command.downgrade, revision)
