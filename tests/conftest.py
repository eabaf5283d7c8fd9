"""Fixtures: an app on a fresh database (SQLite by default, PostgreSQL when
WHISTLE_TEST_DATABASE_URL is set), a client, the CLI runner and helpers."""
import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from whistle import create_app, migrate
from whistle.config import Config
from whistle.clock import today
from whistle.custody import offline
from whistle.services import services

PG_URL = os.environ.get("WHISTLE_TEST_DATABASE_URL")
FAST_KDF = {"receipt_opslimit": 1, "receipt_memlimit": 8 * 1024 * 1024}
KEY_PASSPHRASE = "correct horse battery staple"


def _postgres_database(request) -> str:
    """Create a throw-away PostgreSQL database for one test; drop it afterwards."""
    admin_url = make_url(PG_URL)
    name = "whistle_test_" + secrets.token_hex(6)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    request.addfinalizer(drop)
    return admin_url.set(database=name).render_as_string(hide_password=False)


BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def make_config(tmp_path: Path, request=None, backend: str = "sqlite", **overrides) -> Config:
    """A test configuration: fresh instance dir and database, cheap receipt stretching."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    if backend == "postgresql":
        url = _postgres_database(request)
    else:
        url = f"sqlite:///{instance / 'whistle.db'}"
    # Proof of work: a few bits, so the JS path (and its Python stand-in) still does it.
    # The tests' shared Redis keeps its defaults (tests/test_linkability.py checks the refusal).
    settings = dict(instance_dir=instance, database_url=url, testing=True, pow_bits=4, redis_settings="warn",
                    **FAST_KDF)
    settings.update(overrides)
    return Config(**settings)


def build_app(cfg: Config):
    """Create the app and migrate its database."""
    app = create_app(cfg)
    migrate.upgrade(services(app).engine)
    return app


@pytest.fixture(params=BACKENDS)
def config(tmp_path, request):
    """Every app test runs on SQLite, and on PostgreSQL too when a URL is configured."""
    return make_config(tmp_path, request, backend=request.param)


@pytest.fixture
def app(config):
    app = build_app(config)
    yield app
    services(app).engine.dispose()


@pytest.fixture
def committee(app, tmp_path):
    """A committee key registered in the app's database; returns (keypair, key file path)."""
    path = tmp_path / "committee.key"
    with Session(services(app).engine) as session:
        keypair = offline.init_keys(session, path, KEY_PASSPHRASE, "test committee",
                                    today("Asia/Shanghai"), opslimit=1, memlimit=8 * 1024 * 1024)
        session.commit()
    return keypair, path


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_session(app):
    with Session(services(app).engine) as session:
        yield session
