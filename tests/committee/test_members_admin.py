"""Account management through the admin's page: a member who leaves is switched off at
once and everywhere (their open session, the login form, routing, grants), and one who
comes back is invited again and enrols afresh. The rules have a second admin: switching off
the only holder of a case takes two (tests/committee/test_enrolment.py)."""

import json
import re

import pytest
from sqlalchemy import select

from whistle.rules import parse as rules_mod
from whistle.models import AuditEntry, CaseGrant, Member
from whistle.services import services

from tests.client_side import credentials, followup_message
from tests.committee.conftest import PASSWORD, csrf_of, enrol
from tests.committee.test_workspace import HOUSING, _case, _report
from tests.helpers import forget_used_totp_steps
from tests.triage import edited
from tests.committee.test_enrolment import config  # noqa: F401 - the rules with a second admin


def _deactivate(admin, username, second=None):
    """One admin switches the account off; ``second``, another admin, confirms when it waits."""
    resp = admin.post(f"/committee/admin/members/{username}/deactivate")
    assert resp.status_code == 302, resp.status_code
    if second is not None:
        resp = second.post(f"/committee/admin/members/{username}/deactivate")
        assert resp.status_code == 302, resp.status_code
    return resp


def _invite_link(admin, username) -> str:
    page = admin.post(f"/committee/admin/members/{username}/invite")
    assert page.status_code == 200, page.status_code
    return re.search(r'<code id="invite-link">([^<]+)</code>', page.get_data(as_text=True)).group(1)


def _row(page: str, username: str) -> str:
    """The admin page's table row of one person."""
    return re.search(rf"<tr>\s*<td>{re.escape(username)}</td>.*?</tr>", page, re.S).group(0)


def _recipient_kids(app) -> set:
    answer = app.test_client().post("/api/v1/recipients", json=HOUSING).get_json()
    return {r["kid"] for r in answer["recipients"]}


def _log_in(app, person) -> int:
    """A login with the right password and a fresh TOTP code (the used step forgotten, as
    only a test can): the status it gets."""
    forget_used_totp_steps(app)
    client = app.test_client()
    client.environ_base.update(person.client.environ_base)
    html = client.get("/committee/login").get_data(as_text=True)
    return client.post(
        "/committee/login",
        data={"csrf_token": csrf_of(html), "username": person.username, "password": PASSWORD, "totp": person.code()},
    ).status_code


def test_a_deactivated_member_is_shut_out_at_once(app, people, db_session):
    admin, zhao = people["ma.lin"], people["zhao.lei"]
    assert zhao.keypair.kid in _recipient_kids(app)
    _report(app)
    before = _case(db_session)

    _deactivate(admin, "zhao.lei", enrol(app, "xu.qing"))  # he alone holds the case: two admins

    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "deactivate_confirmed"))
    assert entry.actor == "xu.qing" and json.loads(entry.detail) == {"member": "zhao.lei", "requested_by": "ma.lin"}
    # the session he has open is over on its next request, page or API
    assert zhao.client.get("/committee/").status_code == 302
    assert zhao.client.get(f"/committee/api/cases/{before.id}").status_code == 401
    assert _log_in(app, zhao) == 401  # the form again, with its error; no session
    assert _log_in(app, people["zhang.wei"]) == 302  # (the same steps log in an active member)
    # routing seals no new report to him, and nobody can hand him a case
    assert zhao.keypair.kid not in _recipient_kids(app)
    _report(app, narrative="after he left")
    db_session.expire_all()
    zhao_id = db_session.scalar(select(Member.id).where(Member.username == "zhao.lei"))
    granted = set(db_session.scalars(select(CaseGrant.case_id).where(CaseGrant.member_id == zhao_id)))
    assert granted == {before.id}
    page = admin.client.get("/committee/admin/members").get_data(as_text=True)
    row = _row(page, "zhao.lei")
    assert "deactivated" in row and "Deactivate" not in row and "Invite again" in row


def test_an_invitation_outstanding_when_the_account_is_deactivated_is_refused(app, people):
    admin = people["ma.lin"]
    link = _invite_link(admin, "wang.fang")
    _deactivate(admin, "wang.fang")
    client = app.test_client()
    client.environ_base.update(admin.client.environ_base)
    assert client.get(link.replace("https://localhost", "")).status_code == 404


def test_a_member_invited_again_after_deactivation_enrols_afresh(app, people, db_session):
    admin, zhao = people["ma.lin"], people["zhao.lei"]
    code = _report(app)  # routed to him before he left
    case = _case(db_session)
    _deactivate(admin, "zhao.lei", enrol(app, "xu.qing"))
    link = _invite_link(admin, "zhao.lei")
    token = link.rsplit("/", 1)[1]

    back = enrol(app, "zhao.lei", token=token)  # the enrolment page takes the link, confirmed, he logs in

    assert back.keypair.kid != zhao.keypair.kid
    assert back.client.get("/committee/").status_code == 200
    kids = _recipient_kids(app)
    assert back.keypair.kid in kids and zhao.keypair.kid not in kids  # sealed to the new key only
    # the case he held before leaving is not his again: no grant, no page, sealed nothing new
    assert back.api("get", f"/committee/api/cases/{case.id}").status_code == 404
    assert back.keypair.kid not in _followup_kids(app, code)
    db_session.expire_all()
    assert db_session.scalar(select(CaseGrant).where(CaseGrant.case_id == case.id)) is None
    actions = [
        (e.action, json.loads(e.detail).get("member"))
        for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
    ]
    assert actions.index(("deactivate_confirmed", "zhao.lei")) < actions.index(("invite", "zhao.lei"))
    invites = [
        json.loads(e.detail)["before"]
        for e in db_session.scalars(select(AuditEntry).where(AuditEntry.action == "invite").order_by(AuditEntry.seq))
        if json.loads(e.detail)["member"] == "zhao.lei"
    ]
    assert invites == ["deactivated"]  # (the fixture enrolled him without the admin page)
    # the link is used up
    client = app.test_client()
    client.environ_base.update(admin.client.environ_base)
    assert client.get(f"/committee/enrol/{token}").status_code == 404


def _followup_kids(app, code) -> set:
    """The keys a reporter's follow-up message must be sealed to, as the page is told."""
    reporter = app.test_client()
    creds, _keys = credentials(reporter, code)
    view = reporter.post("/api/v1/followup", json=creds).get_json()
    return {r["kid"] for r in view["recipients"]}


def test_a_member_who_left_is_sealed_nothing_new_on_the_cases_they_held(app, people, db_session):
    code = _report(app)
    zhao = people["zhao.lei"]
    assert zhao.keypair.kid in _followup_kids(app, code)
    _deactivate(people["ma.lin"], "zhao.lei", enrol(app, "xu.qing"))
    assert zhao.keypair.kid not in _followup_kids(app, code)
    # a message sealed to whom the page names is taken (it was refused: he was required)
    reporter = app.test_client()
    resp = followup_message(reporter, code, "AFTER-HE-LEFT")
    assert resp.status_code == 201, resp.get_json()


@pytest.mark.parametrize(
    "change",
    [
        (
            'username = "zhao.lei"\nunit = "stationed_1"\nrole = "unit_lead"',
            'username = "zhao.lei"\nunit = "stationed_1"\nrole = "unit_lead"\ndepartments = ["housing"]',
        ),
        (
            'username = "zhao.lei"\nunit = "stationed_1"\nrole = "unit_lead"',
            'username = "zhao.lei"\nunit = "stationed_1"\nrole = "admin"',
        ),
    ],
    ids=["now-conflicted", "now-admin"],
)
def test_a_holder_the_rules_have_outgrown_is_sealed_nothing_new_and_cannot_open(app, people, db_session, change):
    code = _report(app)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    assert zhao.api("get", f"/committee/api/cases/{case.id}").status_code == 200
    services(app).rules = rules_mod.parse(edited(change))
    assert zhao.api("get", f"/committee/api/cases/{case.id}").status_code == 404
    assert zhao.keypair.kid not in _followup_kids(app, code)
    assert followup_message(app.test_client(), code, "AFTER-THE-RULES-CHANGED").status_code == 201


def test_an_invitation_tells_the_overseer_whether_it_reset_an_enrolled_account(app, people, db_session):
    """Inviting an enrolled member again wipes their credentials and key: one admin could
    enrol in their place. The log says so, so the overseer sees a reset, not an invitation."""
    admin = people["ma.lin"]
    _invite_link(admin, "wu.jing")  # never invited
    _invite_link(admin, "wu.jing")  # invited, not yet enrolled
    _invite_link(admin, "zhang.wei")  # enrolled and active
    befores = [
        (d["member"], d["before"])
        for d in (
            json.loads(e.detail)
            for e in db_session.scalars(
                select(AuditEntry).where(AuditEntry.action == "invite").order_by(AuditEntry.seq)
            )
        )
    ]
    assert befores == [("wu.jing", "none"), ("wu.jing", "invited"), ("zhang.wei", "enrolled")]
    overseer = enrol(app, "gao.feng")
    page = overseer.client.get("/committee/oversight").get_data(as_text=True)
    assert '<span class="detail">before: enrolled</span>' in page and "Invited a member" in page
