"""The supervising body's oversight view: the log, refusals, overrides and overdue cases,
and never a case's content."""

import datetime as dt
import json

from sqlalchemy import select, text

from crypto.encoding import b64u
from whistle.custody import audit
from whistle.models import AuditEntry, CaseGrant, Member
from whistle.services import services

from tests.committee.conftest import enrol
from tests.committee.test_workspace import _case, _report

REASON = "REASON-MARKER the contractor named in the report"


def _history(app, people, db_session):
    """A high-risk case zhao holds, two refused grants, a manual grade, and an overdue deadline."""
    _report(app)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    items = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()["items"]
    fake_keys = {i["id"]: b64u(bytes(80)) for i in items}
    for target in ("li.na", "gao.feng"):
        resp = zhao.api("post", f"/committee/api/cases/{case.id}/grants", json={"username": target, "keys": fake_keys})
        assert resp.status_code == 403
    assert zhao.post(f"/committee/cases/{case.id}/grade", {"grade": "high", "reason": REASON}).status_code == 302
    case.ack_due = dt.date(2025, 1, 6)
    db_session.commit()
    return case, items


def test_overseer_sees_refusals_overrides_and_overdue_but_no_content(app, people, committee, db_session):
    gao = enrol(app, "gao.feng")
    case, items = _history(app, people, db_session)
    statement = audit.sign(db_session, committee[0], dt.date(2025, 2, 3))
    db_session.commit()
    resp = gao.client.get("/committee/oversight")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    # Refused grants, with their reasons (codes), and the override, with its reason withheld.
    refused = html[html.index('id="refused-grants"') : html.index('id="grade-overrides"')]
    assert "li.na" in refused and "conflict" in refused and "gao.feng" in refused and "admin" in refused
    overrides = html[html.index('id="grade-overrides"') : html.index('id="audit-log"')]
    assert "zhao.lei" in overrides and case.id[:8] in overrides and "withheld" in overrides
    # The overdue case, by prefix, with its deadline.
    assert "2025-01-06" in html and "urgency-overdue" in html
    # The chain is intact; the public page is linked.
    assert "The audit log is intact" in html and 'href="/transparency"' in html
    assert f"latest: #1 of 2025-02-03, {statement.length} entries" in html
    # No content: not the narrative, not the written reason, not an envelope, not the full id.
    assert "WORKSPACE-MARKER" not in html and "REASON-MARKER" not in html
    for item in items:
        envelope = json.loads(item["envelope"]) if isinstance(item["envelope"], str) else item["envelope"]
        for value in envelope.values():
            if isinstance(value, str) and len(value) > 20:
                assert value not in html
    assert case.id not in html
    # The visit itself is on record.
    assert (
        db_session.scalar(
            select(AuditEntry).where(AuditEntry.action == "oversight_view", AuditEntry.actor == "gao.feng")
        )
        is not None
    )


def test_overseer_cannot_open_a_case_nor_be_granted_one(app, people, db_session):
    gao = enrol(app, "gao.feng")
    case, _items = _history(app, people, db_session)
    assert gao.client.get(f"/committee/cases/{case.id}").status_code == 404
    assert gao.api("get", f"/committee/api/cases/{case.id}").status_code == 404
    gao_id = db_session.scalar(select(Member.id).where(Member.username == "gao.feng"))
    assert db_session.scalar(select(CaseGrant).where(CaseGrant.member_id == gao_id)) is None
    grantable = people["zhao.lei"].api("get", f"/committee/api/cases/{case.id}/grantable").get_json()["members"]
    assert "gao.feng" not in {m["username"] for m in grantable}
    assert "WORKSPACE-MARKER" not in gao.client.get("/committee/").get_data(as_text=True)
    refused = db_session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "gao.feng")).all()
    assert "refused_view" in refused and "refused_decrypt" in refused


def test_only_overseers_open_the_oversight_view(app, people):
    gao = enrol(app, "gao.feng")
    for name in ("zhao.lei", "li.na", "zhang.wei", "ma.lin"):
        assert people[name].client.get("/committee/oversight").status_code == 403, name
    assert app.test_client().get("/committee/oversight").status_code == 302  # to the login page
    assert 'href="/committee/oversight"' in gao.client.get("/committee/").get_data(as_text=True)
    assert 'href="/committee/oversight"' not in people["zhao.lei"].client.get("/committee/").get_data(as_text=True)


def test_oversight_view_names_the_first_bad_entry(app, people, db_session):
    gao = enrol(app, "gao.feng")
    _history(app, people, db_session)
    with services(app).engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone' WHERE seq = 3"))
    html = gao.client.get("/committee/oversight").get_data(as_text=True)
    assert "BROKEN at entry 3" in html and "hash mismatch" in html


def test_oversight_log_is_paginated_newest_first(app, people, db_session):
    gao = enrol(app, "gao.feng")
    for n in range(60):
        audit.record(db_session, "view", actor="zhao.lei", on=dt.date(2025, 2, 1), case_id=f"{n:032x}")
    db_session.commit()
    first = gao.client.get("/committee/oversight").get_data(as_text=True)
    log = first[first.index('id="audit-log"') :]
    assert "oversight_view" not in log and "Opened the oversight view" in log  # labelled, newest first
    assert log.index("Opened the oversight view") < log.index(f"{59:032x}"[:8])
    assert "?page=2" in log
    second = gao.client.get("/committee/oversight?page=2").get_data(as_text=True)
    assert f"{0:032x}"[:8] in second[second.index('id="audit-log"') :]
    assert "?page=3" not in second
    # A page past the last, even one no database OFFSET can hold, shows the last page;
    # one that is not a number, or not positive, the first.
    for page in ("3", "9223372036854775807", "99999999999999999999"):
        past = gao.client.get(f"/committee/oversight?page={page}")
        assert past.status_code == 200
        html = past.get_data(as_text=True)
        assert f"{0:032x}"[:8] in html[html.index('id="audit-log"') :] and "?page=1" in html
    for page in ("0", "-5", "abc", "1e3"):
        html = gao.client.get(f"/committee/oversight?page={page}").get_data(as_text=True)
        assert "?page=2" in html and "?page=0" not in html


def test_every_audit_action_has_a_label_in_the_oversight_view():
    """The oversight view shows each entry's action by its label, in the reader's language;
    an action without one would show as its code."""
    from whistle.committee.oversight import ACTIONS as LABELS

    assert set(LABELS) == audit.ACTIONS
