"""Metadata hygiene: no address, User-Agent, Referer or time of day is stored anywhere."""

import datetime as dt
import logging
import os
import re

import pytest
from sqlalchemy import DateTime, Time, select, text

from crypto.receipt import ReceiptCode
from whistle.extensions import limiter
from whistle.models import Base, Case
from whistle.security.privacy import CSP, client_key
from whistle.services import services

from tests.client_side import credentials, seal_report
from tests.helpers import receipt_from, report_form

ADDRESS = "198.51.100.231"
FORWARDED = "203.0.113.77"
UA = "Distinctive-UA/9f8e7d"
REFERER = "https://referrer.invalid/leak-5c1d"
NEEDLES = [ADDRESS, FORWARDED, UA, "9f8e7d", "referrer.invalid", "leak-5c1d"]
IDENTIFYING = {"User-Agent": UA, "Referer": REFERER, "X-Forwarded-For": FORWARDED, "X-Real-IP": FORWARDED}


def _everything(app, client):
    """Submit and follow up through both paths with identifying request metadata."""
    client.environ_base.update(REMOTE_ADDR=ADDRESS)
    for name, value in IDENTIFYING.items():
        client.environ_base["HTTP_" + name.upper().replace("-", "_")] = value
    resp = client.post(
        "/report/contractor", data=report_form("n", files=[("f.txt", b"abc")]), content_type="multipart/form-data"
    )
    assert resp.status_code == 200
    code = receipt_from(resp.get_data(as_text=True))
    assert client.post("/followup", data={"code": code}).status_code == 200
    assert client.post("/followup/message", data={"code": code, "text": "more"}).status_code == 200
    api_resp, api_code, _ = seal_report(client, "api", files=[("g.txt", b"xyz")])
    assert api_resp.status_code == 201
    creds, _ = credentials(client, api_code)
    assert client.post("/api/v1/followup", json=creds).status_code == 200
    client.post("/followup", data={"code": "1234"})  # an error path too
    client.get("/no-such-page")


def _database_text(app) -> str:
    """Every row of every table, as text, straight from the database."""
    engine = services(app).engine
    out = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                out.append(repr(tuple(row)))
                out.extend(bytes(v).decode("latin-1") for v in row if isinstance(v, (bytes, memoryview)))
    return "\n".join(out)


def _files_text(root) -> str:
    """Raw bytes of every file under ``root`` (database, WAL, instance secret...)."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


def _limiter_text() -> str:
    storage = limiter._storage  # the live rate-limit storage of this process
    parts = [repr(getattr(storage, name, "")) for name in ("storage", "expirations", "events")]
    return "\n".join(parts)


def test_no_identifying_metadata_anywhere(app, client, committee, config, caplog):
    caplog.set_level(logging.DEBUG)
    _everything(app, client)
    services(app).engine.dispose()  # flush the WAL into the database file
    haystacks = {
        "database rows": _database_text(app),
        "instance files": _files_text(config.instance_dir),
        "logs": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "rate-limit storage": _limiter_text(),
    }
    # The storage searched is the one the limiter wrote to: it holds this client's key.
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": ADDRESS}):
        assert client_key() in haystacks["rate-limit storage"]
    for where, hay in haystacks.items():
        for needle in NEEDLES:
            assert needle not in hay, f"{needle!r} found in {where}"


def test_schema_stores_dates_never_times(app):
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            assert not isinstance(column.type, (DateTime, Time)), f"{table.name}.{column.name}"


def test_no_time_of_day_in_any_row(app, client, committee):
    _everything(app, client)
    now = dt.datetime.now()
    hay = _database_text(app)
    for minute in (now - dt.timedelta(minutes=1), now, now + dt.timedelta(minutes=1)):
        assert minute.strftime("%H:%M") not in hay
    utc = dt.datetime.now(dt.timezone.utc)
    assert str(int(utc.timestamp()))[:8] not in hay  # no epoch seconds either


def test_identifiers_are_random_128_bit(app, client, committee, db_session):
    locators = []
    for n in range(10):
        resp = client.post("/report/contractor", data=report_form(f"n{n}"), content_type="multipart/form-data")
        locators.append(ReceiptCode.parse(receipt_from(resp.get_data(as_text=True))).locator)
    by_locator = dict(db_session.execute(select(Case.locator, Case.id)).all())
    ids = [by_locator[locator] for locator in locators]  # in the order the cases were made
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == 10
    # Not ordered by creation (a chance of 2 in 10! for random ids), and no shared prefix
    # between consecutive ids, as time-ordered ids (UUIDv7, ULID) would have.
    assert ids != sorted(ids) and ids != sorted(ids, reverse=True)
    assert all(len(os.path.commonprefix(pair)) < 6 for pair in zip(ids, ids[1:]))


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/"),
        ("get", "/report/contractor"),
        ("get", "/report/general"),
        ("get", "/followup"),
        ("post", "/followup"),
        ("get", "/api/v1/catalog"),
        ("get", "/api/v1/receipts/1234567/salt"),
        ("get", "/nope"),
        ("post", "/report/contractor"),
        ("get", "/static/js/report.js"),
        ("get", "/favicon.ico"),
        ("get", "/static/vendor/libsodium-wrappers.mjs"),
    ],
)
def test_reporter_pages_set_no_cookie_and_strict_headers(client, committee, method, path):
    resp = getattr(client, method)(path)
    assert "Set-Cookie" not in resp.headers
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP and "http" not in CSP
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in resp.headers["Cache-Control"]
    assert "ETag" not in resp.headers and "Last-Modified" not in resp.headers  # nothing to revalidate
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_load_no_third_party_resource_and_no_inline_script(client, committee):
    for path in ("/", "/report/contractor", "/followup"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', html), path
        for script in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S):
            assert script.strip() == "", "inline script found"
        assert " style=" not in html and "onclick" not in html.lower()


def test_rate_limit_key_is_a_daily_hmac_not_the_address(app):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": ADDRESS}):
        key = client_key()
        assert ADDRESS not in key and re.fullmatch(r"[0-9a-f]{32}", key)
        assert key == client_key()
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.232"}):
        assert client_key() != key


def test_followup_attempts_are_rate_limited(tmp_path, request):
    from tests.conftest import build_app, make_config

    app = build_app(make_config(tmp_path, request, limit_followup="3 per hour"))
    client = app.test_client()
    codes = [client.post("/followup", data={"code": "1" * 28}).status_code for _ in range(5)]
    assert codes[:3] == [400, 400, 400] and codes[3:] == [429, 429]
    resp = client.get("/api/v1/receipts/1234567/salt")
    assert resp.status_code == 429 and resp.get_json()["error"]
    services(app).engine.dispose()


def test_cross_site_post_is_refused(client, committee):
    resp = client.post("/followup", data={"code": "1"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 403
    resp = client.post("/api/v1/followup", json={}, headers={"Origin": "https://evil.invalid"})
    assert resp.status_code == 403


def test_sqlite_tables_keep_no_insertion_order(app):
    """Random ids hide order; SQLite's hidden rowid would number rows 1, 2, 3... instead."""
    engine = services(app).engine
    if engine.dialect.name != "sqlite":
        pytest.skip("rowid is SQLite's; PostgreSQL's xmin is covered in docs/architecture.md")
    with engine.connect() as conn:
        for name in ("cases", "case_items", "attachments", "attachment_chunks", "case_events"):
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}).scalar()
            assert sql.rstrip().endswith("WITHOUT ROWID"), name


def _cases_in_arrival_order(app, db_session, n):
    """``n`` reports sent one after another today; their case ids in the order they came."""
    from tests.client_side import seal_report as send

    arrived = []
    for i in range(n):
        assert send(app.test_client(), f"order {i}")[0].status_code == 201
        arrived.append(db_session.scalar(select(Case.id).where(Case.id.not_in(arrived))))
    return arrived


def test_console_and_retention_keep_no_arrival_order(app, committee, db_session, config, monkeypatch):
    """Cases of one day are listed, decrypted (one audit entry each) and purged in the order
    of their random ids, never in the order the database happens to hold them: PostgreSQL
    reads a table in the order its rows were written, and an audit entry's sequence number
    would keep that arrival order for good."""
    from click.testing import CliRunner

    from tests.conftest import KEY_PASSPHRASE
    from whistle.custody import retention
    from whistle.cli import main
    from whistle.models import AuditEntry, CaseEvent

    arrived = _cases_in_arrival_order(app, db_session, 8)
    assert arrived != sorted(arrived)  # else this test could not tell the orders apart (1 in 8!)
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    runner = CliRunner()

    listed = runner.invoke(main, ["cases", "list"])
    assert listed.exit_code == 0, listed.output
    assert re.findall(r"^([0-9a-f]{32}) ", listed.output, re.M) == sorted(arrived)

    _keypair, key_path = committee
    result = runner.invoke(
        main,
        ["cases", "decrypt", "--all", "--key", str(key_path), "--out", str(config.instance_dir.parent / "decrypted")],
        input=KEY_PASSPHRASE + "\n",
    )
    assert result.exit_code == 0, result.output
    decrypted = db_session.scalars(
        select(AuditEntry.case_id).where(AuditEntry.action == "decrypt").order_by(AuditEntry.seq)
    ).all()
    assert decrypted == sorted(arrived)

    long_ago = dt.date.today() - dt.timedelta(days=4000)
    for case_id in arrived:  # closed one by one, as they would be (a row rewritten goes last)
        case = db_session.get(Case, case_id)
        case.status, case.disposition = "closed", "not_accepted"
        case.closure_confirmed_by = "zhang.wei"  # a second member confirmed it, were it 高危
        db_session.add(CaseEvent(case_id=case.id, seq=99, event="closed", happened_on=long_ago))
        db_session.commit()
    due, withheld = retention.due_for_purge(db_session, services(app).rules.retention, dt.date.today())
    assert withheld == []
    assert [case.id for case in due] == sorted(arrived)


def test_every_sqlite_table_of_random_ids_keeps_no_insertion_order(app):
    """Every table keyed by anything but a number the app counts itself (the audit log's
    seq, the one-row head) is WITHOUT ROWID after all migrations, not just the case tables:
    a table rebuilt by a later migration must not get a rowid back."""
    engine = services(app).engine
    if engine.dialect.name != "sqlite":
        pytest.skip("rowid is SQLite's")
    # Their order is public anyway: numbered by the app, or (committee keys) each registered
    # in the audit log as it was made.
    counted = {"audit_log", "audit_head", "audit_statements", "alembic_version", "committee_keys"}
    with engine.connect() as conn:
        tables = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
    assert {"cases", "members", "survey_responses", "survey_texts", "notices"} <= set(tables)
    with_rowid = sorted(
        name for name, sql in tables.items() if name not in counted and not sql.rstrip().endswith("WITHOUT ROWID")
    )
    assert with_rowid == [], with_rowid
