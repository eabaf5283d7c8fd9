"""The committee workspace through HTTP: routing grants, conflicts refused three ways,
grants re-sealed by members, dual control, dispositions, audit entries."""

import json

import pytest

from sqlalchemy import func, select

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.errors import CryptoError
from whistle.custody import audit
from whistle.models import AuditEntry, Case, CaseGrant, PendingAction
from whistle.services import services

from tests.client_side import HEADER, seal_report
from tests.committee.conftest import HTTPS, Person, login
from tests.conftest import build_app
from tests.triage import EXAMPLE_TEXT

HOUSING = dict(
    HEADER,
    department="housing",
    accused_rank="leadership",
    category="gifts",
    money_band="over_100k",
    frequency="regular",
    evidence="attached",
)  # a 高危 case


def _report(app, header=HOUSING, narrative="WORKSPACE-MARKER"):
    client = app.test_client()
    resp, code, keys = seal_report(client, narrative, header=header, files=[("proof.txt", b"PROOF")])
    assert resp.status_code == 201, resp.get_json()
    return code


def _case(db_session):
    db_session.expire_all()
    return db_session.scalar(select(Case))


def _open(person, case_id):
    """What the member's browser does: fetch items, open each with the member's key."""
    view = person.api("get", f"/committee/api/cases/{case_id}")
    assert view.status_code == 200, view.status_code
    bodies = []
    for item in view.get_json()["items"]:
        if item["granted_key"]:
            import nacl.bindings as sodium

            key = sodium.crypto_box_seal_open(unb64u(item["granted_key"]), person.keypair.public, person.keypair.secret)
            bodies.append(env.open_body(item["envelope"], key))
        else:
            bodies.append(env.open_envelope(item["envelope"], person.keypair)[0])
    return view.get_json(), bodies


def _grant_to(holder, target, case_id):
    """The holder's browser re-seals every item's content key to ``target`` and hands it over."""
    import nacl.bindings as sodium

    view, _ = _open(holder, case_id)
    member = next(
        m
        for m in holder.api("get", f"/committee/api/cases/{case_id}/grantable").get_json()["members"]
        if m["username"] == target.username
    )
    keys = {
        i["id"]: b64u(
            sodium.crypto_box_seal(env.open_content_key(i["envelope"], holder.keypair), unb64u(member["public_key"]))
        )
        for i in view["items"]
    }
    resp = holder.api(
        "post", f"/committee/api/cases/{case_id}/grants", json={"username": target.username, "keys": keys}
    )
    assert resp.status_code == 201


def test_routing_seals_to_eligible_members_only(app, people, db_session):
    recipients = app.test_client().post("/api/v1/recipients", json=HOUSING).get_json()["recipients"]
    kids = {r["kid"] for r in recipients}
    assert people["zhao.lei"].keypair.kid in kids  # stationed_1 unit lead
    assert people["li.na"].keypair.kid not in kids  # stationed_1, but her own department is housing
    assert people["zhang.wei"].keypair.kid not in kids  # another unit
    assert all(r["label"] in ("committee", "member", "superior") or r["label"] for r in recipients)
    _report(app)
    case = _case(db_session)
    holders = set(db_session.scalars(select(CaseGrant.member_id).where(CaseGrant.case_id == case.id)))
    assert len(holders) == 1 and case.handling_unit == "stationed_1" and case.risk_grade == "high"
    view, bodies = _open(people["zhao.lei"], case.id)
    assert bodies[0]["narrative"] == "WORKSPACE-MARKER"


def test_conflicted_member_cannot_open_by_url_api_or_ciphertext(app, people, db_session):
    _report(app)
    case = _case(db_session)
    li = people["li.na"]
    assert li.client.get(f"/committee/cases/{case.id}").status_code == 404
    assert li.api("get", f"/committee/api/cases/{case.id}").status_code == 404
    items = people["zhao.lei"].api("get", f"/committee/api/cases/{case.id}").get_json()["items"]
    attachment = items[0]["attachments"][0]["id"]
    assert li.api("get", f"/committee/api/attachments/{attachment}").status_code == 404
    # Even holding the ciphertext, she has no sealed key: it does not open.
    try:
        env.open_envelope(items[0]["envelope"], li.keypair)
        opened = True
    except CryptoError:
        opened = False
    assert not opened
    actions = [e.action for e in db_session.scalars(select(AuditEntry).where(AuditEntry.actor == "li.na"))]
    assert actions.count("refused_view") == 1 and "refused_decrypt" in actions and "refused_download" in actions


def test_grant_to_conflicted_member_is_refused_and_recorded(app, people, db_session):
    _report(app)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    items = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()["items"]
    fake_keys = {i["id"]: b64u(bytes(80)) for i in items}
    resp = zhao.api("post", f"/committee/api/cases/{case.id}/grants", json={"username": "li.na", "keys": fake_keys})
    assert resp.status_code == 403
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "refused_grant"))
    assert entry.actor == "zhao.lei" and json.loads(entry.detail)["to"] == "li.na"
    grantable = zhao.api("get", f"/committee/api/cases/{case.id}/grantable").get_json()["members"]
    assert "li.na" not in {m["username"] for m in grantable} and "ma.lin" not in {m["username"] for m in grantable}


def test_a_department_removed_from_the_rules_leaves_its_cases_open_but_grants_none(app, people, db_session, tmp_path):
    """The committee merges the transport bureau away: a valid rules file, but the stored
    cases still name it. Whose own department it was can no longer be told, so nobody is
    offered or granted the case; the page still opens and says why (it was a 500)."""
    from whistle.custody import ceremony

    _report(app, header=dict(HOUSING, department="transport"))
    case = _case(db_session)
    assert people["zhao.lei"].client.get(f"/committee/cases/{case.id}").status_code == 200  # stationed_1's
    start = EXAMPLE_TEXT.index('[[departments]]\ncode = "transport"')
    end = EXAMPLE_TEXT.index("[[departments]]", start + 1)
    rules_file = tmp_path / "merged.toml"
    rules_file.write_text(EXAMPLE_TEXT[:start] + EXAMPLE_TEXT[end:], encoding="utf-8")
    merged = build_app(services(app).config.with_(rules_file=rules_file))
    try:
        zhao = Person("zhao.lei", people["zhao.lei"].keypair, people["zhao.lei"].totp, merged.test_client())
        zhao.client.environ_base.update(HTTPS)
        login(zhao, app=merged)

        page = zhao.client.get(f"/committee/cases/{case.id}")
        assert page.status_code == 200
        assert 'id="department-gone"' in page.get_data(as_text=True)
        assert "no longer in the rules file" in page.get_data(as_text=True)
        offered = zhao.api("get", f"/committee/api/cases/{case.id}/grantable")
        assert offered.status_code == 200 and offered.get_json()["members"] == []
        items = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()["items"]
        grants = db_session.scalar(select(func.count()).select_from(CaseGrant))
        resp = zhao.api(
            "post",
            f"/committee/api/cases/{case.id}/grants",
            json={"username": "zhang.wei", "keys": {i["id"]: b64u(bytes(80)) for i in items}},
        )
        assert resp.status_code == 403
        db_session.expire_all()
        entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "refused_grant"))
        assert json.loads(entry.detail) == {"to": "zhang.wei", "reason": "unknown_department"}
        assert db_session.scalar(select(func.count()).select_from(CaseGrant)) == grants
        assert ceremony.readers(db_session, services(merged).rules, _case(db_session)) == []
    finally:
        services(merged).engine.dispose()


def test_a_grant_that_is_not_a_json_object_is_a_400(app, people, db_session):
    """A list, a string or a number as the grant was a 500 (it was read with .get). The
    answer is JSON with a message in the member's language, which the page shows."""
    _report(app)
    case = _case(db_session)
    entries = db_session.scalar(select(func.count()).select_from(AuditEntry))
    for body, language, message in (
        ([{"username": "zhang.wei"}], "en", "The submission is incomplete or malformed"),
        ("zhang.wei", "zh-CN", "提交的内容不完整或格式有误"),
        (5, "en", "malformed"),
        (None, "zh-TW", "提交的內容不完整或格式有誤"),
    ):
        resp = people["zhao.lei"].api(
            "post",
            f"/committee/api/cases/{case.id}/grants",
            data=json.dumps(body),
            content_type="application/json",
            headers={"Accept-Language": language},
        )
        assert resp.status_code == 400, body
        assert resp.get_json()["error"] == "invalid_submission"
        assert message in resp.get_json()["message"], (language, resp.get_json())
    assert db_session.scalar(select(func.count()).select_from(AuditEntry)) == entries
    assert db_session.scalar(select(func.count()).select_from(CaseGrant)) == 1  # zhao's own, from routing


def test_grant_reseals_keys_for_a_colleague(app, people, db_session):
    import nacl.bindings as sodium

    _report(app)
    case = _case(db_session)
    zhao, liu = people["zhao.lei"], people["liu.yang"]
    assert liu.client.get(f"/committee/cases/{case.id}").status_code == 404
    view, _ = _open(zhao, case.id)
    target = next(
        m
        for m in zhao.api("get", f"/committee/api/cases/{case.id}/grantable").get_json()["members"]
        if m["username"] == "liu.yang"
    )
    keys = {}
    for item in view["items"]:
        content_key = env.open_content_key(item["envelope"], zhao.keypair)
        keys[item["id"]] = b64u(sodium.crypto_box_seal(content_key, unb64u(target["public_key"])))
    resp = zhao.api("post", f"/committee/api/cases/{case.id}/grants", json={"username": "liu.yang", "keys": keys})
    assert resp.status_code == 201
    _, bodies = _open(liu, case.id)
    assert bodies[0]["narrative"] == "WORKSPACE-MARKER"
    assert liu.client.get(f"/committee/cases/{case.id}").status_code == 200


def test_reply_and_note_sealed_by_member(app, people, db_session):
    code = _report(app)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    view = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()
    holders = [unb64u(r["public_key"]) for r in view["recipients"]]
    reply = env.seal(
        "reply",
        {"case": case.id},
        {"text": "REPLY", "attachments": []},
        holders + [unb64u(view["reporter_public_key"])],
    )
    note = env.seal("note", {"case": case.id}, {"text": "NOTE", "attachments": []}, holders)
    for kind, sealed in (("reply", reply), ("note", note)):
        resp = zhao.api(
            "post", f"/committee/api/cases/{case.id}/items", json={"kind": kind, "envelope": sealed.envelope}
        )
        assert resp.status_code == 201, resp.get_json()
    # A note sealed to the reporter is refused: notes never reach the reporter.
    leaky = env.seal("note", {"case": case.id}, {"text": "X"}, holders + [unb64u(view["reporter_public_key"])])
    assert (
        zhao.api(
            "post", f"/committee/api/cases/{case.id}/items", json={"kind": "note", "envelope": leaky.envelope}
        ).status_code
        == 400
    )
    from tests.client_side import credentials

    creds, keys = credentials(app.test_client(), code)
    reporter_view = app.test_client().post("/api/v1/followup", json=creds).get_json()
    assert [i["kind"] for i in reporter_view["items"]] == ["reply"]
    assert [e["event"] for e in reporter_view["timeline"]] == ["received", "feedback_sent"]


def test_a_refused_reply_is_recorded_for_the_members_own_cases_only(app, people, db_session):
    """The member's browser refuses to seal a reply to a reporter key the report does not bind
    (FORMAT.md §3 v2) and reports it: the server records it, and only with a known reason."""
    _report(app)
    case = _case(db_session)
    zhao, li = people["zhao.lei"], people["li.na"]
    view, _bodies = _open(zhao, case.id)
    report = view["items"][0]["envelope"]
    assert env.reporter_key_binding(report, unb64u(view["reporter_public_key"])) == env.BOUND
    path = f"/committee/api/cases/{case.id}/refused-reply"
    for bad in ({"reason": "because"}, {}, ["reporter_key_mismatch"]):
        assert zhao.api("post", path, json=bad).status_code == 400
    assert li.api("post", path, json={"reason": "reporter_key_mismatch"}).status_code == 404  # not her case
    for reason in ("reporter_key_mismatch", "reporter_key_unverifiable"):
        assert zhao.api("post", path, json={"reason": reason}).status_code == 201
    entries = db_session.scalars(
        select(AuditEntry).where(AuditEntry.action == "refused_reply").order_by(AuditEntry.seq)
    ).all()
    assert [(e.actor, e.case_id, json.loads(e.detail)) for e in entries] == [
        ("zhao.lei", case.id, {"reason": "reporter_key_mismatch"}),
        ("zhao.lei", case.id, {"reason": "reporter_key_unverifiable"}),
    ]
    assert audit.verify(db_session).first_bad is None


def test_dual_control_downgrade_and_close(app, people, db_session):
    _report(app)
    case = _case(db_session)
    zhao, liu = people["zhao.lei"], people["liu.yang"]
    resp = zhao.post(f"/committee/cases/{case.id}/grade", {"grade": "low", "reason": "duplicate details"})
    assert resp.status_code == 302 and _case(db_session).risk_grade == "high"
    pending = db_session.scalar(select(__import__("whistle.models", fromlist=["PendingAction"]).PendingAction))
    zhao.post(f"/committee/cases/{case.id}/confirm/{pending.id}", {"decision": "approve"})
    assert _case(db_session).risk_grade == "high"  # the proposer cannot confirm
    # A second member (granted the case) confirms.
    view, _ = _open(zhao, case.id)
    import nacl.bindings as sodium

    target = next(
        m
        for m in zhao.api("get", f"/committee/api/cases/{case.id}/grantable").get_json()["members"]
        if m["username"] == "liu.yang"
    )
    keys = {
        i["id"]: b64u(
            sodium.crypto_box_seal(env.open_content_key(i["envelope"], zhao.keypair), unb64u(target["public_key"]))
        )
        for i in view["items"]
    }
    zhao.api("post", f"/committee/api/cases/{case.id}/grants", json={"username": "liu.yang", "keys": keys})
    liu.post(f"/committee/cases/{case.id}/confirm/{pending.id}", {"decision": "approve"})
    case = _case(db_session)
    assert case.risk_grade == "low" and case.risk_override_reason == "duplicate details"
    # Closing a case that is (again) high needs two members as well.
    liu.post(f"/committee/cases/{case.id}/grade", {"grade": "high", "reason": "new facts"})
    liu.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    assert _case(db_session).status != "closed"
    pending = db_session.scalar(select(__import__("whistle.models", fromlist=["PendingAction"]).PendingAction))
    zhao.post(f"/committee/cases/{case.id}/confirm/{pending.id}", {"decision": "approve"})
    assert _case(db_session).status == "closed"
    actions = [e.action for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert "refused_self_confirm" in actions and "confirmed_downgrade" in actions and "confirmed_close" in actions
    assert audit.verify(db_session) == (len(actions), None)


def _pending(db_session, action):
    from whistle.models import PendingAction

    db_session.expire_all()
    return db_session.scalar(select(PendingAction).where(PendingAction.action == action))


def test_a_request_the_case_outgrew_is_withdrawn_not_applied(app, people, db_session):
    """Dual control checks the case as it is when the second member confirms: a purge
    proposed while the case was closed, confirmed after it was reopened, would destroy a
    case under review; a close confirmed after the case was closed otherwise would close it
    twice. Both are withdrawn, said on the page and recorded; nothing else changes."""
    _report(app, header=dict(HOUSING, money_band="under_1k", frequency="once", accused_rank="staff", evidence="none"))
    case = _case(db_session)
    assert case.risk_grade != "high"  # one member may close it
    zhao, liu = people["zhao.lei"], people["liu.yang"]
    _grant_to(zhao, liu, case.id)
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    zhao.post(f"/committee/cases/{case.id}/purge", {"reason": "a test report"})
    purge = _pending(db_session, "purge")
    assert purge is not None
    liu.post(f"/committee/cases/{case.id}/status", {"event": "in_review"})  # the reporter wrote again
    resp = liu.post(
        f"/committee/cases/{case.id}/confirm/{purge.id}",
        {"decision": "approve"},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "no longer closed" in resp.get_data(as_text=True)
    case = _case(db_session)
    assert case.status == "in_review" and _pending(db_session, "purge") is None
    assert len(_open(liu, case.id)[1]) == 1  # the report is still there and opens
    # A close proposed on a high case, confirmed after it was closed by other means.
    liu.post(f"/committee/cases/{case.id}/grade", {"grade": "high", "reason": "new facts"})
    liu.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    close = _pending(db_session, "close")
    liu.post(f"/committee/cases/{case.id}/grade", {"grade": "low", "reason": "checked"})
    zhao.post(f"/committee/cases/{case.id}/confirm/{_pending(db_session, 'downgrade').id}", {"decision": "approve"})
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    closed_events = _closed_events(db_session, case.id)
    resp = zhao.post(
        f"/committee/cases/{case.id}/confirm/{close.id}",
        {"decision": "approve"},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "already closed" in resp.get_data(as_text=True)
    assert _closed_events(db_session, case.id) == closed_events and _pending(db_session, "close") is None
    actions = [e.action for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions.count("withdrawn_purge") == 1 and actions.count("withdrawn_close") == 1
    assert "purge" not in actions and "confirmed_purge" not in actions
    assert audit.verify(db_session) == (len(actions), None)


def test_setting_the_status_a_case_has_changes_nothing(app, people, db_session):
    """A second click (or a colleague's click a moment later) on the same status: the
    reporter's timeline and the audit log say it once, the page says why."""
    _report(app)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "acknowledged"})
    status_entries = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "status")
    assert db_session.scalar(status_entries) == 1
    resp = zhao.post(
        f"/committee/cases/{case.id}/status",
        {"event": "acknowledged"},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "The case already has this status." in resp.get_data(as_text=True)
    from whistle.models import CaseEvent

    events = [
        e.event
        for e in db_session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    ]
    assert events == ["received", "acknowledged"]
    assert db_session.scalar(status_entries) == 1


def test_a_request_is_decided_once_and_proposed_once(app, people, db_session):
    """A second click on Confirm (or a colleague's, at the same moment) finds the request
    decided; a second click on Close of a 高危 case (or a colleague asking the same) adds no
    second request. Both are said on the page; the log holds each thing once."""
    import threading

    from tests.committee.conftest import Person, login

    _report(app)
    case = _case(db_session)
    assert case.risk_grade == "high"
    zhao, liu = people["zhao.lei"], people["liu.yang"]
    _grant_to(zhao, liu, case.id)
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    resp = liu.post(
        f"/committee/cases/{case.id}/status",
        {"event": "closed"},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "already waiting for a second member" in resp.get_data(as_text=True)
    zhao.post(f"/committee/cases/{case.id}/grade", {"grade": "low", "reason": "checked"})
    zhao.post(f"/committee/cases/{case.id}/grade", {"grade": "medium", "reason": "checked again"})
    pending = {
        p.action: p.id for p in db_session.scalars(select(PendingAction).where(PendingAction.case_id == case.id))
    }
    assert sorted(pending) == ["close", "downgrade"]
    assert db_session.scalar(select(func.count()).select_from(PendingAction)) == 2
    # Zhang, in two tabs (two sessions), confirms the downgrade in both at once.
    other = Person("liu.yang", liu.keypair, liu.totp, app.test_client())
    other.client.environ_base.update(liu.client.environ_base)
    login(other, app=app)  # forgets the step liu used, so the same code works again
    forms = [(person, person.csrf()) for person in (liu, other)]
    answers = []

    def confirm(person, token):
        answers.append(
            person.client.post(
                f"/committee/cases/{case.id}/confirm/{pending['downgrade']}",
                data={"csrf_token": token, "decision": "approve"},
                headers={"Accept-Language": "en"},
                follow_redirects=True,
            )
        )

    threads = [threading.Thread(target=confirm, args=form) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 200]
    assert sum("This request has already been decided." in a.get_data(as_text=True) for a in answers) == 1
    actions = [e.action for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions.count("confirmed_downgrade") == 1 and actions.count("grade_override") == 1
    assert actions.count("proposed_close") == 1 and actions.count("proposed_downgrade") == 1
    assert _case(db_session).risk_grade == "low"
    # The close request, confirmed now, closes a case that is no longer 高危: still one close.
    liu.post(f"/committee/cases/{case.id}/confirm/{pending['close']}", {"decision": "approve"})
    assert _case(db_session).status == "closed" and _closed_events(db_session, case.id) == 1
    assert audit.verify(db_session) == (len(actions) + 2, None)


def _closed_events(db_session, case_id) -> int:
    from whistle.models import CaseEvent

    db_session.expire_all()
    return db_session.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.event == "closed")
    )


def test_dispositions_need_reason_or_link(app, people, db_session):
    _report(app)
    _report(app, narrative="again")
    first, second = sorted(db_session.scalars(select(Case)).all(), key=lambda c: c.id)
    zhao = people["zhao.lei"]
    zhao.post(f"/committee/cases/{first.id}/disposition", {"disposition": "not_accepted", "reason": ""})
    assert _case_by(db_session, first.id).disposition is None
    zhao.post(f"/committee/cases/{first.id}/disposition", {"disposition": "not_accepted", "reason": "outside remit"})
    assert _case_by(db_session, first.id).disposition == "not_accepted"
    zhao.post(f"/committee/cases/{second.id}/disposition", {"disposition": "duplicate", "duplicate_of": first.id})
    second = _case_by(db_session, second.id)
    assert second.disposition == "duplicate" and second.duplicate_of == first.id
    page = zhao.client.get(f"/committee/cases/{second.id}").get_data(as_text=True)
    assert first.id[:8] in page
    assert zhao.post(f"/committee/cases/{first.id}/disposition", {"disposition": "bogus"}).status_code == 400


def _case_by(db_session, case_id):
    db_session.expire_all()
    return db_session.get(Case, case_id)


def test_admin_has_no_key_and_cannot_open_cases(app, people, db_session):
    _report(app)
    case = _case(db_session)
    admin = people["ma.lin"]
    assert admin.keypair is None
    assert admin.client.get(f"/committee/cases/{case.id}").status_code == 404
    assert admin.client.get("/committee/admin/members").status_code == 200
    assert people["zhao.lei"].client.get("/committee/admin/members").status_code == 403


def test_case_list_puts_overdue_first(app, people, db_session):
    import datetime as dt

    _report(app, header=dict(HOUSING, money_band="none", frequency="once", evidence="none", category="meals"))
    _report(app)
    low, high = sorted(db_session.scalars(select(Case)).all(), key=lambda c: c.risk_grade != "low")
    low.ack_due = dt.date(2026, 1, 5)  # long overdue
    db_session.commit()
    html = people["zhao.lei"].client.get("/committee/").get_data(as_text=True)
    assert html.index(low.id[:8]) < html.index(high.id[:8])
    assert "urgency-overdue" in html


def test_a_grant_is_refused_when_a_message_came_in_since_its_keys_were_sealed(app, people, db_session, config):
    """A grant carries a re-sealed key for every item. A reporter's message stored while the
    grant goes in (here: its transaction holds the case's lock) was sealed before the new
    holder held the case: a grant taken anyway would leave them a case with a message they
    cannot open. It is refused (re-seal and try again), and the next one holds every key."""
    import datetime as dt

    import nacl.bindings as sodium

    from whistle.cases import store as cases
    from whistle.models import Member

    from tests.helpers import once_it_waits

    _report(app)
    case = _case(db_session)
    zhao, liu = people["zhao.lei"], people["liu.yang"]
    view, _ = _open(zhao, case.id)
    target = next(
        m
        for m in zhao.api("get", f"/committee/api/cases/{case.id}/grantable").get_json()["members"]
        if m["username"] == "liu.yang"
    )

    def keys_of(items):
        return {
            i["id"]: b64u(
                sodium.crypto_box_seal(env.open_content_key(i["envelope"], zhao.keypair), unb64u(target["public_key"]))
            )
            for i in items
        }

    stale = keys_of(view["items"])
    rules = services(app).rules
    locked = cases.locked(db_session, case)  # the reporter's message is being stored
    recipients = [r.public_key for r in cases.case_recipients(db_session, rules, locked)] + [locked.reporter_pk]
    sealed = env.seal("message", {"case": case.id}, {"text": "MEANWHILE", "attachments": []}, recipients)
    cases.add_message(db_session, rules, locked, "message", sealed.envelope, [], dt.date.today())
    resp = once_it_waits(
        db_session,
        config.database_url,
        lambda: zhao.api(
            "post", f"/committee/api/cases/{case.id}/grants", json={"username": "liu.yang", "keys": stale}
        ),
    )
    assert resp.status_code == 400 and resp.get_json()["error"] == "recipients_changed", resp.get_json()
    db_session.expire_all()
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(CaseGrant)
            .join(Member, Member.id == CaseGrant.member_id)
            .where(CaseGrant.case_id == case.id, Member.username == "liu.yang")
        )
        == 0
    )
    view, _ = _open(zhao, case.id)  # the browser reads the items again and re-seals them all
    resp = zhao.api(
        "post", f"/committee/api/cases/{case.id}/grants", json={"username": "liu.yang", "keys": keys_of(view["items"])}
    )
    assert resp.status_code == 201
    _view, bodies = _open(liu, case.id)
    assert bodies[-1]["text"] == "MEANWHILE"


@pytest.mark.parametrize(
    "path, form",
    [
        ("status", {"event": "acknowledged"}),
        ("disposition", {"disposition": "conclude"}),
        ("grade", {"grade": "low", "reason": "checked"}),
    ],
)
def test_a_change_to_a_case_purged_meanwhile_is_refused(app, people, db_session, config, path, form):
    """A member's change that opened the case before a purge committed, then waited for the
    case's lock, finds the tombstone under it: refused (404, as the case is gone), not applied
    to the tombstone (a status change would bring it back among the open cases, empty)."""
    import datetime as dt

    from whistle.cases import store as cases
    from whistle.custody import retention
    from whistle.models import CaseEvent

    from tests.helpers import once_it_waits

    _report(app)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    assert zhao.client.get(f"/committee/cases/{case.id}").status_code == 200
    cases.add_event(db_session, cases.locked(db_session, case), "closed", dt.date.today())
    db_session.commit()
    retention.purge(
        db_session,
        cases.locked(db_session, case),
        on=dt.date.today(),
        actor="li.na",
        reason="early",
        confirmed_by="wang.fang",
    )  # committed below, while the change waits
    events = db_session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id))
    purged = (case.status, case.disposition, case.risk_grade)
    assert purged[0] == "purged"
    resp = once_it_waits(
        db_session, config.database_url, lambda: zhao.post(f"/committee/cases/{case.id}/{path}", data=form)
    )
    assert resp.status_code == 404
    db_session.expire_all()
    tombstone = db_session.get(Case, case.id)
    assert (tombstone.status, tombstone.disposition, tombstone.risk_grade) == purged
    assert db_session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id)) == events
