"""Retention is decided when a case closes, and only two members shorten it: a disposition
changed afterwards, or a rules file edited since, does not let the purge delete it sooner;
the console's purge never deletes a 高危 case whose closure no second member confirmed."""

import datetime as dt

from click.testing import CliRunner
from sqlalchemy import select

from whistle import clock
from whistle.cli import main
from whistle.models import AuditEntry, Case, CaseEvent, PendingAction
from whistle.rules import parse as rules_mod
from whistle.services import services

from tests.client_side import HEADER, seal_report
from tests.committee.conftest import enrol
from tests.committee.test_workspace import HOUSING, _grant_to, _report
from tests.triage import edited

LOW = dict(HOUSING, money_band="none", frequency="once", accused_rank="staff", evidence="none")


def _case(db_session, case_id) -> Case:
    db_session.expire_all()
    return db_session.get(Case, case_id)


def _only_case(db_session, *, disposition=None) -> Case:
    db_session.expire_all()
    return db_session.scalar(
        select(Case).where(
            Case.disposition.is_(disposition) if disposition is None else Case.disposition == disposition
        )
    )


def _backdate_closing(db_session, case_id, days):
    """The case as if it had been closed ``days`` ago (with the date decided then)."""
    case = _case(db_session, case_id)
    for event in db_session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.event == "closed")):
        event.happened_on -= dt.timedelta(days=days)
    if getattr(case, "retention_ends", None) is not None:
        case.retention_ends -= dt.timedelta(days=days)
    db_session.commit()


def _purge(config, monkeypatch, *args):
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    result = CliRunner().invoke(main, ["retention", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _closed_by_two(app, db_session, zhao, liu, disposition):
    """A 高危 housing case, its disposition set, closed by zhao and confirmed by liu."""
    _report(app)
    case = _only_case(db_session)
    _grant_to(zhao, liu, case.id)
    zhao.post(f"/committee/cases/{case.id}/disposition", {"disposition": disposition})
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    pending = db_session.scalar(select(PendingAction).where(PendingAction.case_id == case.id))
    liu.post(f"/committee/cases/{case.id}/confirm/{pending.id}", {"decision": "approve"})
    assert _case(db_session, case.id).status == "closed"
    return case.id


def test_one_member_cannot_shorten_a_closed_cases_retention_by_its_disposition(
    app, committee, db_session, config, monkeypatch
):
    """Measured: one member changed a closed 高危 case from 移送审查调查 (ten years) to
    duplicate (one year); the nightly purge then deleted it, confirmed_by null."""
    zhao, liu = enrol(app, "zhao.lei"), enrol(app, "liu.yang")
    _report(app, header=LOW, narrative="THE EARLIER CASE")
    earlier = _only_case(db_session).id
    db_session.get(Case, earlier).disposition = "conclude"
    db_session.commit()
    case_id = _closed_by_two(app, db_session, zhao, liu, "transfer_investigation")
    _backdate_closing(db_session, case_id, 400)
    zhao.post(f"/committee/cases/{case_id}/disposition", {"disposition": "duplicate", "duplicate_of": earlier})
    assert _case(db_session, case_id).disposition == "transfer_investigation"
    assert db_session.scalar(select(PendingAction.action).where(PendingAction.case_id == case_id)) == "disposition"
    _purge(config, monkeypatch)
    assert _case(db_session, case_id).status == "closed"
    # A second member confirms: now it is kept one year from its closing, and goes.
    pending = db_session.scalar(select(PendingAction).where(PendingAction.case_id == case_id))
    zhao.post(f"/committee/cases/{case_id}/confirm/{pending.id}", {"decision": "approve"})
    assert _case(db_session, case_id).disposition == "transfer_investigation"  # not by the proposer
    liu.post(f"/committee/cases/{case_id}/confirm/{pending.id}", {"decision": "approve"})
    assert _case(db_session, case_id).disposition == "duplicate"
    output = _purge(config, monkeypatch)
    assert case_id in output and _case(db_session, case_id).status == "purged"
    purge = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "purge", AuditEntry.case_id == case_id))
    assert '"confirmed_by":"liu.yang"' in purge.detail


def test_a_disposition_that_lengthens_retention_needs_one_member(app, committee, db_session):
    zhao, liu = enrol(app, "zhao.lei"), enrol(app, "liu.yang")
    case_id = _closed_by_two(app, db_session, zhao, liu, "not_accepted")
    zhao.post(f"/committee/cases/{case_id}/disposition", {"disposition": "transfer_investigation"})
    case = _case(db_session, case_id)
    assert case.disposition == "transfer_investigation"
    assert case.retention_ends == clock.today(config_tz(app)) + dt.timedelta(days=3650)


def config_tz(app):
    return services(app).config.timezone


def test_a_rules_change_does_not_shorten_a_closed_cases_date(app, committee, db_session):
    from whistle.cases import actions  # (the console purge's own function)

    zhao = enrol(app, "zhao.lei")
    _report(app, header=LOW)
    case = _only_case(db_session)
    zhao.post(f"/committee/cases/{case.id}/disposition", {"disposition": "conclude"})
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    _backdate_closing(db_session, case.id, 400)
    shorter = rules_mod.parse(edited(("default = 1825", "default = 1825\nconclude = 30")))
    today = clock.today(config_tz(app))
    purged, _withheld = actions.purge_due(db_session, shorter, today)
    db_session.commit()
    assert purged == [] and _case(db_session, case.id).status == "closed"
    longer = rules_mod.parse(edited(("default = 1825", "default = 1825\nconclude = 3650")))
    _backdate_closing(db_session, case.id, 1500)  # past the five years decided, within ten
    assert actions.purge_due(db_session, longer, today)[0] == []  # a longer period counts
    db_session.rollback()


def test_the_console_purge_never_deletes_a_high_case_without_a_two_person_decision(
    app, committee, db_session, config, monkeypatch
):
    """A 高危 case closed with no second member's confirmation on record (closed before the
    rule, or by hand in the database) is kept and named, never purged."""
    resp, _code, _keys = seal_report(app.test_client(), "HIGH", header=HEADER)
    assert resp.status_code == 201
    case = _only_case(db_session)
    assert case.risk_grade == "high"
    case.disposition = "not_accepted"
    case.status = "closed"
    db_session.add(
        CaseEvent(case_id=case.id, seq=50, event="closed", happened_on=dt.date.today() - dt.timedelta(days=4000))
    )
    db_session.commit()
    output = _purge(config, monkeypatch)
    assert f"{case.id}  kept" in output
    assert _case(db_session, case.id).status == "closed"


def test_the_console_closes_as_the_workspace_does(app, committee, db_session, config, monkeypatch):
    """`whistle cases status ID closed` fixes the retention date like the workspace, and
    refuses a 高危 case (only the workspace can give a second member)."""
    _report(app, header=LOW)
    low = _only_case(db_session)
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    result = CliRunner().invoke(main, ["cases", "status", low.id, "closed"])
    assert result.exit_code == 0, result.output
    closed = _case(db_session, low.id)
    assert closed.retention_ends == clock.today(config.timezone) + dt.timedelta(days=1825)
    _report(app)
    high = db_session.scalar(select(Case).where(Case.risk_grade == "high"))
    result = CliRunner().invoke(main, ["cases", "status", high.id, "closed"])
    assert result.exit_code == 1 and "second member" in result.output
