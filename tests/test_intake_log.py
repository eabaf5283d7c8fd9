"""Every report enters the public log, but only after its day ends, in a batch whose order
carries no arrival order; every rules-file load is recorded with its SHA-256, and the rules
file is published without e-mail addresses."""

import base64
import datetime as dt
import hashlib
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.receipt import log_commitment
from whistle.clock import today
from whistle.cli import main
from whistle.custody import audit, intake_log, public_log
from whistle.models import AuditEntry, LogCommitment, PendingIntake
from whistle.services import services

from tests.client_side import seal_report
from tests.conftest import build_app

DAY = dt.date(2025, 3, 3)


def _entries(app, action):
    with Session(services(app).engine) as s:
        return s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all()


def test_a_report_enters_the_log_after_its_day(app, client, committee, db_session):
    resp, code, keys = seal_report(client, "intake report")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert _entries(app, "intake") == [], "nothing in the log on the day it arrives"
    pending = db_session.scalars(select(PendingIntake)).all()
    assert len(pending) == 1 and pending[0].commitment == log_commitment(keys.lookup)
    day = pending[0].day
    assert intake_log.seal_days(db_session, day) == 0  # the day is not over
    assert intake_log.seal_days(db_session, day + dt.timedelta(days=1)) == 1
    db_session.commit()
    [entry] = _entries(app, "intake")
    assert entry.on == day and entry.case_id == pending[0].case_id
    detail = json.loads(entry.detail)
    assert detail["commitment"] == log_commitment(keys.lookup) and detail["recipients"] == []  # no member enrolled
    assert db_session.scalars(select(PendingIntake)).all() == []
    assert db_session.get(LogCommitment, detail["commitment"]).seq == entry.seq
    # The public leaf names the commitment, never who the report was sealed to.
    leaf = json.loads(public_log.entries(db_session, entry.seq - 1, entry.seq)[0])
    assert leaf["detail"] == {"commitment": detail["commitment"], "recipients": "withheld"}
    assert audit.verify(db_session).ok
    assert intake_log.seal_days(db_session, day + dt.timedelta(days=2)) == 0  # sealed once


def test_the_batch_order_carries_no_arrival_order(app, db_session):
    arrivals = [f"{i:02d}" + "0" * 30 for i in range(40)]  # ids that sort in arrival order, too
    for case_id in arrivals:
        intake_log.hold(db_session, case_id, DAY, None)
    db_session.flush()
    orders = []
    for _ in range(2):  # the same day sealed twice (rolled back in between): each batch draws its key
        intake_log.seal_days(db_session, DAY + dt.timedelta(days=1))
        orders.append(
            [
                e.case_id
                for e in db_session.scalars(
                    select(AuditEntry).where(AuditEntry.action == "intake").order_by(AuditEntry.seq)
                )
            ]
        )
        db_session.rollback()
        for case_id in arrivals:
            intake_log.hold(db_session, case_id, DAY, None)
        db_session.flush()
    for order in orders:
        assert sorted(order) == arrivals
        assert order != arrivals and order != arrivals[::-1]
    assert orders[0] != orders[1], "the order comes from a key drawn per batch, not from the ids"


def test_days_are_sealed_in_day_order(app, db_session):
    intake_log.hold(db_session, "b" * 32, DAY + dt.timedelta(days=1), None)
    intake_log.hold(db_session, "a" * 32, DAY, None)
    intake_log.hold(db_session, "c" * 32, DAY + dt.timedelta(days=2), None)
    db_session.flush()
    assert intake_log.seal_days(db_session, DAY + dt.timedelta(days=2)) == 2
    db_session.commit()
    assert [(e.on, e.case_id) for e in _entries(app, "intake")] == [
        (DAY, "a" * 32),
        (DAY + dt.timedelta(days=1), "b" * 32),
    ]


@pytest.fixture
def upkeep_app(config, tmp_path):
    rules = config.rules_file.read_text(encoding="utf-8").replace(
        'role = "member"', 'role = "member"\nemail = "someone@example.org"', 1
    )
    assert "someone@example.org" in rules
    path = tmp_path / "rules.toml"
    path.write_text(rules, encoding="utf-8")
    app = build_app(config.with_(rules_file=path, extra={"log_upkeep": True}))
    yield app, path
    services(app).engine.dispose()


def test_first_request_of_a_day_seals_and_records_the_rules(upkeep_app):
    app, path = upkeep_app
    with Session(services(app).engine) as s:
        intake_log.hold(s, "d" * 32, DAY, "c0mm1tment")
        s.commit()
    client = app.test_client()
    served = client.get("/log/rules")
    assert served.status_code == 200 and served.mimetype == "text/plain"
    text = served.get_data(as_text=True)
    assert "someone@example.org" not in text and "email" not in text
    assert text == path.read_text(encoding="utf-8").replace('email = "someone@example.org"\n', "")
    [rules_entry] = _entries(app, "rules_loaded")
    detail = json.loads(rules_entry.detail)
    assert detail["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert detail["published"] == hashlib.sha256(served.get_data()).hexdigest()
    [intake] = _entries(app, "intake")
    assert intake.case_id == "d" * 32
    client.get("/log/rules")
    assert len(_entries(app, "rules_loaded")) == 1, "once per process and day"
    # The same file loaded again (another worker, a restart) is not recorded again; an edited one is.
    second = build_app(services(app).config)
    second.test_client().get("/transparency")
    assert len(_entries(second, "rules_loaded")) == 1
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    third = build_app(services(app).config)
    third.test_client().get("/transparency")
    assert len(_entries(third, "rules_loaded")) == 2
    for other in (second, third):
        services(other).engine.dispose()


def test_cli_seal_day(app, config, monkeypatch):
    with Session(services(app).engine) as s:
        intake_log.hold(s, "e" * 32, today(config.timezone) - dt.timedelta(days=1), None)
        intake_log.hold(s, "f" * 32, today(config.timezone), None)
        s.commit()
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    result = CliRunner().invoke(main, ["log", "seal-day"])
    assert result.exit_code == 0, result.output
    assert "1 report(s) entered the public log; rules file recorded" in result.output
    assert [e.case_id for e in _entries(app, "intake")] == ["e" * 32]
    again = CliRunner().invoke(main, ["log", "seal-day"])
    assert "0 report(s)" in again.output and "rules file recorded" not in again.output


def test_leaf_bytes_are_base64_in_entries(app, client):
    with Session(services(app).engine) as s:
        audit.record(s, "login", actor="zhao.lei", on=DAY)
        s.commit()
    body = client.get("/log/entries?start=0&end=1").get_json()
    assert json.loads(base64.b64decode(body["entries"][0]))["action"] == "login"


def test_the_no_js_case_page_shows_the_servers_claim(app, client, committee, db_session):
    from tests.helpers import receipt_from, report_form

    resp = client.post(
        "/report/contractor?lang=en", data=report_form("no-JS log claim"), content_type="multipart/form-data"
    )
    assert resp.status_code == 200
    code = receipt_from(resp.get_data(as_text=True))
    page = client.post("/followup?lang=en", data={"code": code}).get_data(as_text=True)
    assert "This is what the server says" in page and "after the day it was received ends" in page
    day = db_session.scalar(select(PendingIntake.day))
    intake_log.seal_days(db_session, day + dt.timedelta(days=1))
    db_session.commit()
    page = client.post("/followup?lang=en", data={"code": code}).get_data(as_text=True)
    assert "The server says: your report is in the committee" in page
    assert f"public log since {day.isoformat()} (entry 1)" in page
