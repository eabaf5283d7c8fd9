"""Fixtures: an app on a fresh database (SQLite by default, PostgreSQL when
WHISTLE_TEST_DATABASE_URL is set), a client, the CLI runner and helpers."""

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, close_all_sessions

from whistle import create_app, migrate
from whistle.config import Config
from whistle.clock import today
from whistle.custody import offline
from whistle.services import services

from tests import db_template

PG_URL = os.environ.get("WHISTLE_TEST_DATABASE_URL")
FAST_KDF = {"receipt_opslimit": 1, "receipt_memlimit": 8 * 1024 * 1024}
# Committee passwords hashed at a token cost (tests only: Config refuses it otherwise).
FAST_PASSWORDS = {"password_time_cost": 1, "password_memory_kib": 64}
KEY_PASSPHRASE = "correct horse battery staple"


def _postgres_database(request, migrated: bool = False) -> str:
    """Create a throw-away PostgreSQL database for one test (empty, or a copy of the migrated
    template); drop it afterwards."""
    admin_url = make_url(PG_URL)
    name = "whistle_test_" + secrets.token_hex(6)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    db_template.create_postgres(admin, PG_URL, name, migrated)

    request.addfinalizer(lambda: db_template.drop_later(admin, name))
    return admin_url.set(database=name).render_as_string(hide_password=False)


BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def make_config(tmp_path: Path, request=None, backend: str = "sqlite", migrated: bool = False, **overrides) -> Config:
    """A test configuration: fresh instance dir and database (empty, or already migrated),
    cheap receipt stretching and password hashing."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    if backend == "postgresql":
        url = _postgres_database(request, migrated)
    else:
        url = f"sqlite:///{instance / 'whistle.db'}"
        if migrated:
            db_template.copy_sqlite(instance / "whistle.db")
    # Proof of work: a few bits, so the JS path (and its Python stand-in) still does it.
    # The tests' shared Redis keeps its defaults (tests/test_linkability.py checks the refusal).
    settings = dict(
        instance_dir=instance,
        database_url=url,
        testing=True,
        pow_bits=4,
        redis_settings="warn",
        **FAST_KDF,
        **FAST_PASSWORDS,
    )
    settings.update(overrides)
    return Config(**settings)


def build_app(cfg: Config):
    """Create the app and migrate its database (a new one is copied from the template)."""
    db_template.prepare(cfg.database_url, PG_URL)
    app = create_app(cfg)
    migrate.upgrade(services(app).engine)
    return app


@pytest.fixture(params=BACKENDS)
def config(tmp_path, request):
    """Every app test runs on SQLite, and on PostgreSQL too when a URL is configured. A test
    that builds the app gets its database migrated already (a copy of the template)."""
    return make_config(tmp_path, request, backend=request.param, migrated="app" in request.fixturenames)


@pytest.fixture(scope="session", autouse=True)
def _database_templates():
    """The migrated templates live as long as the test session (one per xdist worker)."""
    yield
    db_template.cleanup()


@pytest.fixture
def app(config):
    app = build_app(config)
    yield app
    # A session a test left open (an app context it never popped, say) would keep its
    # connection checked out past dispose(), and the driver would warn when the collector
    # finds it, during some later test: close every session first, then the pool.
    close_all_sessions()
    services(app).engine.dispose()


@pytest.fixture
def committee(app, tmp_path):
    """A committee key registered in the app's database; returns (keypair, key file path)."""
    path = tmp_path / "committee.key"
    with Session(services(app).engine) as session:
        keypair = offline.init_keys(
            session,
            path,
            KEY_PASSPHRASE,
            "test committee",
            today("Asia/Shanghai"),
            opslimit=1,
            memlimit=8 * 1024 * 1024,
        )
        session.commit()
    return keypair, path


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_session(app):
    with Session(services(app).engine) as session:
        yield session


# `make test` runs the suite on two pytest-xdist workers (--dist loadgroup). Tests that share
# something one worker must own run on one worker, one after the other: the browser tests
# (one Chromium and one live server, not one per worker), and the tests that flush Redis
# databases of their own.
XDIST_GROUPS = {
    "tests/browser/": "browser",
    "tests/test_leak_scan.py": "redis-databases",
    "tests/test_scale_out.py": "redis-databases",
    "tests/test_packaging.py": "packaging",
}


def pytest_collection_modifyitems(items):
    for item in items:
        for prefix, group in XDIST_GROUPS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))
