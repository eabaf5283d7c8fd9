"""Retention: closed cases are purged after their period, leaving a tombstone and an audit
entry; purging early needs two members."""

import datetime as dt
import io
import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto.encoding import unb64u
from crypto.receipt import ReceiptCode
from whistle import clock
from whistle.custody import audit, retention
from whistle.cases import store as cases
from whistle.cli import main
from whistle.errors import CasePurged
from whistle.models import Attachment, AttachmentChunk, AuditEntry, Case, CaseEvent, CaseItem, PendingAction
from whistle.services import services

from tests.client_side import HEADER, credentials, proof_of_work, seal_report
from tests.helpers import receipt_from, report_form, wait_until_waiting_for_a_lock


def _closed_case(app, db_session, disposition, days_ago):
    resp, _code, _keys = seal_report(app.test_client(), "RETAIN-ME", files=[("f.bin", b"Z" * 5000)])
    assert resp.status_code == 201
    case = db_session.scalars(select(Case).order_by(Case.id)).all()
    case = next(c for c in case if c.disposition is None and c.status != "closed")
    case.disposition = disposition
    closed = dt.date.today() - dt.timedelta(days=days_ago)
    db_session.add(CaseEvent(case_id=case.id, seq=99, event="closed", happened_on=closed))
    case.status = "closed"
    case.closure_confirmed_by = "zhang.wei"  # a 高危 case (HEADER): its closing confirmed by a second member
    db_session.commit()
    return case.id


def _count(db_session, model, **where):
    query = select(func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return db_session.scalar(query)


def test_purge_after_retention_by_disposition(app, committee, db_session, config, monkeypatch, tmp_path):
    old_rejected = _closed_case(app, db_session, "not_accepted", 400)  # kept 365 days: due
    old_concluded = _closed_case(app, db_session, "conclude", 400)  # kept 1825 days: not due
    chunk = db_session.scalar(select(AttachmentChunk.data).join(Attachment).where(Attachment.case_id == old_rejected))[
        100:164
    ]
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    dry = CliRunner().invoke(main, ["retention", "purge", "--dry-run"])
    assert dry.exit_code == 0 and old_rejected in dry.output and old_concluded not in dry.output
    unwritable = CliRunner().invoke(
        main, ["retention", "purge", "--dry-run", "--report", str(tmp_path / "no" / "r.txt")]
    )
    assert unwritable.exit_code == 1 and "could not be written" in unwritable.output
    assert "Traceback" not in unwritable.output and old_rejected in unwritable.output
    assert _count(db_session, CaseItem, case_id=old_rejected) == 1
    report = tmp_path / "purge.txt"
    result = CliRunner().invoke(main, ["retention", "purge", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert old_rejected in report.read_text() and old_concluded not in report.read_text()
    db_session.expire_all()
    assert _count(db_session, CaseItem, case_id=old_rejected) == 0
    assert _count(db_session, Attachment, case_id=old_rejected) == 0
    assert _count(db_session, CaseItem, case_id=old_concluded) == 1
    tomb = db_session.get(Case, old_rejected)
    assert tomb.status == "purged" and tomb.department == HEADER["department"]
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "purge"))
    assert entry.case_id == old_rejected
    if config.database_url.startswith("sqlite"):
        services(app).engine.dispose()
        db_file = config.instance_dir / "whistle.db"
        blob = db_file.read_bytes() + (
            db_file.with_suffix(".db-wal").read_bytes() if db_file.with_suffix(".db-wal").exists() else b""
        )
        assert chunk not in blob  # secure_delete zeroed the freed pages


def test_early_purge_needs_two_members(app, committee, db_session):
    from tests.committee.conftest import enrol
    from tests.committee.test_workspace import _grant_to

    zhao, liu = enrol(app, "zhao.lei"), enrol(app, "liu.yang")
    resp, code, _keys = seal_report(
        app.test_client(),
        "EARLY",
        header=dict(HEADER, department="housing", money_band="none", frequency="once", accused_rank="staff"),
    )
    case = db_session.scalar(select(Case))
    _grant_to(zhao, liu, case.id)
    zhao.post(f"/committee/cases/{case.id}/grade", {"grade": "medium", "reason": "OVERRIDE-REASON-MARKER"})
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    db_session.expire_all()
    assert db_session.get(Case, case.id).status == "closed"
    assert db_session.get(Case, case.id).risk_override_reason == "OVERRIDE-REASON-MARKER"
    zhao.post(f"/committee/cases/{case.id}/purge", {"reason": "reporter asked, duplicate of paper file"})
    pending = db_session.scalar(select(PendingAction))
    assert pending.action == "purge"
    zhao.post(f"/committee/cases/{case.id}/confirm/{pending.id}", {"decision": "approve"})
    db_session.expire_all()
    assert db_session.get(Case, case.id).status == "closed"  # the proposer alone cannot purge
    liu.post(f"/committee/cases/{case.id}/confirm/{pending.id}", {"decision": "approve"})
    db_session.expire_all()
    assert db_session.get(Case, case.id).status == "purged"
    assert _count(db_session, CaseItem, case_id=case.id) == 0
    # Nothing of a member's words stays on the tombstone; the log keeps the override's.
    tomb = db_session.get(Case, case.id)
    assert tomb.risk_override_reason is None and tomb.risk_grade == "medium"
    override = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "grade_override"))
    assert "OVERRIDE-REASON-MARKER" in override.detail
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "purge"))
    assert '"confirmed_by":"liu.yang"' in entry.detail and entry.actor == "zhao.lei"
    # The tombstone opens for nobody, so no member can change its status back either.
    for member in (zhao, liu):
        assert member.post(f"/committee/cases/{case.id}/status", {"event": "in_review"}).status_code == 404
    db_session.expire_all()
    assert db_session.get(Case, case.id).status == "purged"
    # The reporter's follow-up says the records are gone, and no more (it was not the
    # retention period that ended).
    from tests.client_side import credentials

    client = app.test_client()
    view = client.post("/api/v1/followup", json=credentials(client, code)[0], headers={"Accept-Language": "en"})
    assert view.status_code == 200
    assert view.get_json()["status"] == "purged" and view.get_json()["status_label"] == "Records deleted"
    assert view.get_json()["items"] == []


def test_survey_free_text_is_purged_after_its_period(app, committee, client, db_session, config, monkeypatch):
    """[surveys] texts_kept_days (365 in the example rules) after a survey's period, `retention
    purge` deletes its sealed free text, with an audit entry; the closed answers behind the
    published results stay, and a survey still inside its period keeps everything."""
    from whistle.models import Survey, SurveyAnswer, SurveyText
    from tests.test_surveys import answer, make_survey

    today = clock.today(config.timezone)  # the committee's day, as the purge counts it (not the machine's)
    old = make_survey(app, start=today - dt.timedelta(days=420), end=today - dt.timedelta(days=366))
    recent = make_survey(app, start=today - dt.timedelta(days=380), end=today - dt.timedelta(days=364))
    for survey_id in (old, recent):
        # Answered while open (the period is moved back afterwards: answers need an open period).
        survey = db_session.get(Survey, survey_id)
        end = survey.period_end
        survey.period_end = today + dt.timedelta(days=1)
        db_session.commit()
        assert answer(client, survey_id, {1: 4}, texts={4: "OLD-TEXT"}).status_code == 201
        assert answer(client, survey_id, {2: 1}, texts={4: "MORE-TEXT"}).status_code == 201
        survey.period_end = end
        db_session.commit()
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    dry = CliRunner().invoke(main, ["retention", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"survey {old}" in dry.output and f"survey {recent}" not in dry.output and "texts 2" in dry.output
    assert _count(db_session, SurveyText, survey_id=old) == 2
    assert _count(db_session, AuditEntry, action="survey_texts_purged") == 0  # a dry run records nothing
    result = CliRunner().invoke(main, ["retention", "purge"])
    assert result.exit_code == 0, result.output
    assert "purged the free text of 1 survey(s)" in result.output
    db_session.expire_all()
    assert _count(db_session, SurveyText, survey_id=old) == 0
    assert _count(db_session, SurveyText, survey_id=recent) == 2
    assert _count(db_session, SurveyAnswer, survey_id=old) == 2  # the published results stay
    [entry] = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "survey_texts_purged")).all()
    assert old in entry.detail and '"texts":2' in entry.detail
    again = CliRunner().invoke(main, ["retention", "purge"])
    assert "purged the free text of 0 survey(s)" in again.output
    assert _count(db_session, AuditEntry, action="survey_texts_purged") == 1


def test_an_early_purge_leaves_no_ciphertext_in_the_sqlite_files(app, committee, db_session, config):
    """The web's confirmed purge checkpoints as the console's does: the old pages' copies
    are gone from the main file and from the WAL when the confirmation returns."""
    from sqlalchemy import text

    from tests.committee.conftest import enrol
    from tests.committee.test_workspace import _grant_to

    if not config.database_url.startswith("sqlite"):
        pytest.skip("the WAL and the main file are SQLite's")
    zhao, liu = enrol(app, "zhao.lei"), enrol(app, "liu.yang")
    seal_report(
        app.test_client(),
        "EARLY-WAL",
        header=dict(HEADER, department="housing", money_band="none", frequency="once", accused_rank="staff"),
    )
    case = db_session.scalar(select(Case))
    envelope = bytes(db_session.scalar(select(CaseItem.envelope).where(CaseItem.case_id == case.id)))
    needle = envelope[len(envelope) // 2 : len(envelope) // 2 + 32]
    _grant_to(zhao, liu, case.id)
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    zhao.post(f"/committee/cases/{case.id}/purge", {"reason": "duplicate of a paper file"})
    pending = db_session.scalar(select(PendingAction))
    db_session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))  # the case as an old one: in the main file
    db_session.commit()
    db_file = config.instance_dir / "whistle.db"
    wal = db_file.with_suffix(".db-wal")

    def stored() -> bytes:
        return db_file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    assert needle in db_file.read_bytes()
    liu.post(f"/committee/cases/{case.id}/confirm/{pending.id}", {"decision": "approve"})
    db_session.expire_all()
    assert db_session.get(Case, case.id).status == "purged"
    assert needle not in stored()


def test_nothing_can_be_added_to_a_purged_case(app, client, committee, db_session):
    # The tombstone still answers the receipt, but nobody could read what is added to it
    # and retention would never delete it.
    en = {"Accept-Language": "en"}
    refusal = "This report was closed and its records deleted; new messages can no longer be sent."
    code = receipt_from(
        client.post("/report/contractor", data=report_form("report"), content_type="multipart/form-data").get_data(
            as_text=True
        )
    )
    case = db_session.scalar(select(Case).where(Case.locator == ReceiptCode.parse(code).locator))
    cases.add_event(db_session, case, "closed", dt.date.today())
    retention.purge(db_session, case, on=dt.date.today(), actor=None, reason="retention period ended")
    db_session.commit()
    page = client.post("/followup", data={"code": code}, headers=en).get_data(as_text=True)
    assert refusal in page and 'id="message-text"' not in page  # no form is offered
    page = client.post(
        "/followup/message",
        data={"code": code, "text": "NEW", "files": (io.BytesIO(b"doc"), "doc.txt")},
        content_type="multipart/form-data",
        headers=en,
    )
    assert page.status_code == 409 and refusal in page.get_data(as_text=True)
    creds, keys = credentials(client, ReceiptCode.parse(code))
    view = client.post("/api/v1/followup", json=creds).get_json()
    recipients = [unb64u(r["public_key"]) for r in view["recipients"]] + [keys.keypair.public]
    sealed = env.seal("message", {"case": case.id}, {"text": "NEW", "attachments": []}, recipients)
    answer = client.post(
        "/api/v1/followup/messages", json=dict(creds, envelope=sealed.envelope, pow=proof_of_work(client)), headers=en
    )
    assert answer.status_code == 409 and answer.get_json()["error"] == "case_purged"
    assert answer.get_json()["message"] == refusal
    # A member's reply or note takes the same path (the workspace no longer opens the case
    # anyway: its grants went with the purge).
    note = env.seal(
        "note",
        {"case": case.id},
        {"text": "NOTE", "attachments": []},
        [r.public_key for r in cases.case_recipients(db_session, services(app).rules, case)],
    )
    with pytest.raises(CasePurged):
        cases.add_message(db_session, services(app).rules, case, "note", note.envelope, [], dt.date.today())
    db_session.rollback()
    assert _count(db_session, CaseItem, case_id=case.id) == 0 and _count(db_session, Attachment, case_id=case.id) == 0


def test_a_console_reply_to_a_case_purged_meanwhile_is_refused_plainly(app, client, committee, db_session):
    """The console read the case before a purge committed: the check under the case's lock
    refuses it, as the console's own message (not a trace)."""
    from whistle.custody import offline

    client.post("/report/contractor", data=report_form("x"), content_type="multipart/form-data")
    case = db_session.scalar(select(Case))
    cases.add_event(db_session, case, "closed", dt.date.today())
    db_session.commit()
    with Session(services(app).engine) as other:
        retention.purge(
            other, other.get(Case, case.id), on=dt.date.today(), actor=None, reason="retention period ended"
        )
        other.commit()
    assert case.status == "closed"  # this session's copy, read before the purge
    with pytest.raises(offline.OfflineError, match="purged"):
        offline.reply_to_case(db_session, services(app).rules, case, "LATE", [], dt.date.today())
    db_session.rollback()
    assert _count(db_session, CaseItem, case_id=case.id) == 0


def _purge_while(db_session, config, change):
    """`retention purge` run while ``db_session`` holds a case's lock: once the purge waits,
    ``change()`` is made in that session and committed. The purge's result (it succeeded)."""
    outcome = {}
    purge = threading.Thread(target=lambda: outcome.update(result=CliRunner().invoke(main, ["retention", "purge"])))
    purge.start()
    try:
        wait_until_waiting_for_a_lock(config.database_url)
        change()
        db_session.commit()
    finally:
        db_session.rollback()
        purge.join(timeout=60)
    assert outcome["result"].exit_code == 0, outcome["result"].output
    return outcome["result"]


def test_a_case_reopened_while_the_purge_runs_is_not_purged(app, committee, db_session, config, monkeypatch):
    """The console's purge lists the cases due, then purges them one by one: a member who
    reopens one of them meanwhile (here: holding its lock while the purge starts) keeps it,
    with everything in it."""
    case_id = _closed_case(app, db_session, "not_accepted", 400)
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    case = cases.locked(db_session, db_session.get(Case, case_id))  # a member's reopening begins
    result = _purge_while(db_session, config, lambda: cases.add_event(db_session, case, "in_review", dt.date.today()))
    assert case_id not in result.output
    db_session.expire_all()
    assert db_session.get(Case, case_id).status == "in_review"
    assert _count(db_session, CaseItem, case_id=case_id) == 1
    assert _count(db_session, Attachment, case_id=case_id) == 1


def test_the_purge_takes_every_case_lock_before_the_audit_log(app, committee, db_session, config, monkeypatch):
    """A member's change locks its case, then appends to the audit log. The console's purge
    must not hold the log (taken by one case's purge) while it waits for the next case's lock:
    the two would wait for each other, and PostgreSQL would end one of them with an error."""
    first, second = sorted(
        (_closed_case(app, db_session, "not_accepted", 400), _closed_case(app, db_session, "not_accepted", 400))
    )  # the order it purges in
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    case = cases.locked(db_session, db_session.get(Case, second))  # a member's change begins
    _purge_while(
        db_session,
        config,
        lambda: audit.record(db_session, "grade_override", actor="alice", on=dt.date.today(), case_id=case.id),
    )
    db_session.expire_all()
    assert {db_session.get(Case, cid).status for cid in (first, second)} == {"purged"}
