"""Hand-overs through HTTP go only where routing sends the case: each refusal is a 403 that
says why, in the member's language, and an audit entry; a report can name a committee member
as the accused, who is then kept from the case by identity."""

import json

from sqlalchemy import select

from crypto.encoding import b64u
from whistle.models import AuditEntry, Case, CaseGrant

from tests.client_side import seal_report
from tests.committee.conftest import enrol
from tests.committee.test_workspace import HOUSING, _grant_to, _report


def _attempt(db_session, holder, case_id, username):
    """``holder`` hands the case over with keys of the right shape; the answer and the
    audit entry it left."""
    items = holder.api("get", f"/committee/api/cases/{case_id}").get_json()["items"]
    keys = {i["id"]: b64u(bytes(80)) for i in items}
    resp = holder.api("post", f"/committee/api/cases/{case_id}/grants", json={"username": username, "keys": keys})
    entry = db_session.scalar(
        select(AuditEntry).where(AuditEntry.action == "refused_grant").order_by(AuditEntry.seq.desc()).limit(1)
    )
    return resp, entry


def _case(db_session, **where):
    db_session.expire_all()
    return db_session.scalar(select(Case).filter_by(**where))


def _assert_refused(db_session, resp, entry, holder, username, reason):
    assert resp.status_code == 403, resp.get_json()
    assert resp.get_json()["error"] == f"refused_{reason}"
    assert entry is not None and entry.actor == holder.username
    assert json.loads(entry.detail) == {"to": username, "reason": reason}


def test_a_case_goes_to_no_unit_routing_does_not_send_it_to(app, people, db_session):
    """Measured: one member handed a case to anyone in any unit."""
    _report(app)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    resp, entry = _attempt(db_session, zhao, case.id, "zhang.wei")  # another office altogether
    _assert_refused(db_session, resp, entry, zhao, "zhang.wei", "not_routed")
    assert "handling unit and the level above" in resp.get_json()["message"]
    offered = {
        m["username"] for m in zhao.api("get", f"/committee/api/cases/{case.id}/grantable").get_json()["members"]
    }
    assert offered == {"liu.yang"}  # the level above (county_cdi), enrolled; never zhang.wei
    assert len(db_session.scalars(select(CaseGrant).where(CaseGrant.case_id == case.id)).all()) == 1  # zhao's own
    assert people["zhang.wei"].client.get(f"/committee/cases/{case.id}").status_code == 404


def test_a_head_case_is_never_handed_back_down(app, people, db_session):
    """Measured: a 一把手 complaint handed back down to the accused's own level."""
    _report(app, header=dict(HOUSING, accused_rank="head"))
    case = _case(db_session)
    assert case.handling_unit == "county_cdi"
    liu = people["liu.yang"]
    resp, entry = _attempt(db_session, liu, case.id, "zhao.lei")  # the housing bureau's supervising unit
    _assert_refused(db_session, resp, entry, liu, "zhao.lei", "not_routed")
    resp = people["zhao.lei"].client.get(f"/committee/cases/{case.id}")
    assert resp.status_code == 404


def test_a_contractor_complaint_never_goes_to_the_organization_department(app, people, db_session):
    he = enrol(app, "he.ping")
    _report(app, header=dict(HOUSING, channel="contractor", category="meals"))
    case = _case(db_session)
    zhao = people["zhao.lei"]
    resp, entry = _attempt(db_session, zhao, case.id, "he.ping")
    _assert_refused(db_session, resp, entry, zhao, "he.ping", "not_routed")
    assert he.client.get(f"/committee/cases/{case.id}").status_code == 404


def test_a_refusal_says_why_in_the_members_language(app, people, db_session):
    _report(app)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    items = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()["items"]
    keys = {i["id"]: b64u(bytes(80)) for i in items}
    resp = zhao.api(
        "post",
        f"/committee/api/cases/{case.id}/grants",
        json={"username": "zhang.wei", "keys": keys},
        headers={"Accept-Language": "zh-CN"},
    )
    assert resp.status_code == 403 and "路由" in resp.get_json()["message"]


def test_a_report_naming_a_committee_member_keeps_the_case_from_them(app, committee, db_session):
    """Measured: a complaint about a commission staff member who is not its head was routed
    to that staff member (the conflict check looked only at departments)."""
    zhou, chen = enrol(app, "zhou.min"), enrol(app, "chen.jie")
    about_zhou = dict(HOUSING, department="commission", accused_member="zhou.min")
    recipients = app.test_client().post("/api/v1/recipients", json=about_zhou).get_json()["recipients"]
    assert zhou.keypair.kid not in {r["kid"] for r in recipients}
    resp, _code, _keys = seal_report(app.test_client(), "ABOUT-ZHOU", header=about_zhou)
    assert resp.status_code == 201, resp.get_json()
    case = _case(db_session, accused_member="zhou.min")
    assert case is not None and zhou.client.get(f"/committee/cases/{case.id}").status_code == 404
    # Nobody in her office may hold it, she least of all; the level above may, by re-grant.
    from whistle.custody import ceremony
    from whistle.clock import today
    from whistle.services import services

    rules = services(app).rules
    member = ceremony.member_by_username(db_session, "zhou.min")
    try:
        ceremony.regrant(db_session, rules, committee[0], case, member, today("Asia/Shanghai"))
        refused = None
    except ceremony.GrantRefused as exc:
        refused = exc.reason
    assert refused == "accused"
    assert (
        ceremony.regrant(
            db_session,
            rules,
            committee[0],
            case,
            ceremony.member_by_username(db_session, "chen.jie"),
            today("Asia/Shanghai"),
        )
        == 1
    )
    db_session.commit()
    assert chen.client.get(f"/committee/cases/{case.id}").status_code == 200


def test_a_report_naming_no_member_of_the_rules_is_refused(app, committee):
    resp, _code, _keys = seal_report(app.test_client(), "X", header=dict(HOUSING, accused_member="nobody.here"))
    assert resp.status_code == 400


def test_the_level_above_may_receive_the_case(app, people, db_session):
    _report(app)
    case = _case(db_session)
    _grant_to(people["zhao.lei"], people["liu.yang"], case.id)
    assert people["liu.yang"].client.get(f"/committee/cases/{case.id}").status_code == 200


def test_the_nojs_form_names_a_committee_member_from_its_list(app, committee, db_session):
    """The report form lists the members who read cases; one chosen is kept from the case."""
    from tests.helpers import report_form

    zhou = enrol(app, "zhou.min")
    client = app.test_client()
    page = client.get("/report/contractor?lang=en").get_data(as_text=True)
    assert '<option value="zhou.min"' in page and '<option value="ma.lin"' not in page  # readers only
    resp = client.post(
        "/report/contractor?lang=en",
        content_type="multipart/form-data",
        data=report_form("ABOUT-ZHOU-NOJS", department="commission", accused_member="zhou.min"),
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    case = _case(db_session, accused_member="zhou.min")
    assert case is not None and case.department == "commission"
    assert zhou.client.get(f"/committee/cases/{case.id}").status_code == 404
    bad = client.post(
        "/report/contractor?lang=en",
        content_type="multipart/form-data",
        data=report_form("X", accused_member="nobody.here"),
    )
    assert bad.status_code == 400 and "Please choose one of the options." in bad.get_data(as_text=True)
