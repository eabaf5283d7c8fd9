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


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database at ``engine`` to ``revision``."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database at ``engine`` back to ``revision``."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
