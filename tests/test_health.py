"""/healthz and /readyz: liveness and readiness that tell nothing about cases."""

import json
import re

from whistle import create_app, migrate
from whistle.health import CHECKS
from whistle.services import services

from tests.conftest import make_config


def _assert_quiet(resp):
    assert "Set-Cookie" not in resp.headers
    assert resp.headers["Cache-Control"] == "no-store"


def _readiness(client):
    resp = client.get("/readyz")
    _assert_quiet(resp)
    body = resp.get_json()
    # Only a flag and check names: no counts, ids, revisions or versions anywhere.
    assert set(body) == {"ready", "failing"}
    assert set(body["failing"]) <= set(CHECKS)
    assert not re.search(r"\d", json.dumps(body))
    return resp.status_code, body


def test_healthz_says_ok_and_nothing_else(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "ok\n"
    assert resp.mimetype == "text/plain"
    _assert_quiet(resp)
    assert client.head("/healthz").status_code == 200


def test_ready_with_schema_rules_and_committee_key(client, committee):
    assert _readiness(client) == (200, {"ready": True, "failing": []})


def test_not_ready_without_a_committee_key(client):
    assert _readiness(client) == (503, {"ready": False, "failing": ["committee_key"]})


def test_not_ready_before_migrations(config):
    app = create_app(config)  # the database is empty: no migration ran
    try:
        status, body = _readiness(app.test_client())
        assert (status, body["failing"]) == (503, ["migrations", "committee_key"])
        migrate.upgrade(services(app).engine, "0001")  # an older revision
        status, body = _readiness(app.test_client())
        assert (status, body["failing"]) == (503, ["migrations", "committee_key"])
        migrate.upgrade(services(app).engine)
        assert _readiness(app.test_client())[1]["failing"] == ["committee_key"]
    finally:
        services(app).engine.dispose()


def test_not_ready_without_a_database(tmp_path):
    missing = tmp_path / "no-such-dir" / "whistle.db"
    app = create_app(make_config(tmp_path, database_url=f"sqlite:///{missing}"))
    status, body = _readiness(app.test_client())
    assert (status, body["failing"]) == (503, ["database", "migrations", "committee_key"])
    assert _readiness(app.test_client())  # and again: a failed probe leaves nothing broken
    assert app.test_client().get("/healthz").status_code == 200  # alive, though not ready
    services(app).engine.dispose()


def test_not_ready_without_rules(app, client, committee, monkeypatch):
    monkeypatch.setattr(services(app), "rules", None)
    assert _readiness(client) == (503, {"ready": False, "failing": ["rules"]})


def test_probes_are_not_rate_limited_or_logged(client, caplog):
    caplog.set_level("DEBUG")
    for _ in range(50):
        assert client.get("/healthz").status_code == 200
    assert "healthz" not in caplog.text
