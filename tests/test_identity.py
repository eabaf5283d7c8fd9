"""Real-name reports: the identity is sealed apart from the report, to the committee key and
the custodians only; a member holding the case learns it only after a custodian other than
themselves approves a written request and re-seals it to them; every step is audited; with
no custodian in the rules every request is refused."""

import json

import nacl.bindings as sodium
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.errors import CryptoError
from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys
from whistle.cases import actions
from whistle.custody import audit, offline
from whistle.clock import today
from whistle.config import PACKAGE_DIR
from whistle.models import AuditEntry, Case, CaseItem, ItemKey, PendingAction
from whistle.services import services

from tests.client_side import HEADER, MEM, OPS, credentials, new_locator, proof_of_work
from tests.committee.conftest import enrol
from tests.conftest import KEY_PASSPHRASE, build_app
from tests.helpers import receipt_from, report_form

HOUSING = dict(
    HEADER,
    department="housing",
    accused_rank="staff",
    category="gifts",
    money_band="1k_10k",
    frequency="once",
    evidence="none",
)
NAME = {"name": "张实名", "contact": "13800000000"}
EXAMPLE_RULES = (PACKAGE_DIR / "data" / "rules.example.toml").read_text(encoding="utf-8")


def real_name_report(client, header=HOUSING, identity=NAME, narrative="REAL-NAME-REPORT"):
    """What report.js does when the reporter gives a name: a second envelope, sealed to the
    identity recipients only, bound to the report by its nonce."""
    answer = client.post("/api/v1/recipients", json=header).get_json()
    locator, token = new_locator(client)
    code = ReceiptCode.generate(locator=locator)
    salt = random_bytes(16)
    keys = derive_reporter_keys(code, salt, OPS, MEM)
    report = env.seal(
        "report",
        env.bind_reporter_key(header, keys.keypair.public),
        {"narrative": narrative, "attachments": []},
        [unb64u(r["public_key"]) for r in answer["recipients"]],
    ).envelope
    sealed_identity = env.seal(
        "identity",
        {"report": report["nonce"]},
        identity,
        [unb64u(r["public_key"]) for r in answer["identity_recipients"]],
    ).envelope
    submission = {
        "locator": locator,
        "locator_token": token,
        "salt": b64u(salt),
        "kdf": {"opslimit": OPS, "memlimit": MEM},
        "lookup": b64u(keys.lookup),
        "reporter_public_key": b64u(keys.keypair.public),
        "envelope": report,
        "identity": sealed_identity,
        "pow": proof_of_work(client),
    }
    resp = client.post("/api/v1/reports", json=submission)
    assert resp.status_code == 201, resp.get_json()
    return code, answer


def _case(session) -> Case:
    session.expire_all()
    return session.scalar(select(Case))


def _identity_item(session, case) -> CaseItem:
    return session.scalar(select(CaseItem).where(CaseItem.case_id == case.id, CaseItem.kind == "identity"))


def _actions(session, action=None):
    session.expire_all()
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))


def _pending(session):
    session.expire_all()
    return session.scalar(select(PendingAction).where(PendingAction.action == "disclose"))


def _disclose(custodian, request_id):
    """What committee-identity.js does in the custodian's browser after approving."""
    info = custodian.api("get", f"/committee/api/identity-requests/{request_id}")
    assert info.status_code == 200, info.status_code
    info = info.get_json()
    content_key = env.open_content_key(info["item"]["envelope"], custodian.keypair)
    sealed = sodium.crypto_box_seal(content_key, unb64u(info["requester"]["public_key"]))
    return custodian.api(
        "post",
        f"/committee/api/cases/{info['case']}/identity-grant",
        json={"request": request_id, "sealed_key": b64u(sealed)},
    )


def _grant_case(holder, target, case_id):
    """Hand a case on (every item but the identity is re-sealed)."""
    view = holder.api("get", f"/committee/api/cases/{case_id}").get_json()
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
    assert resp.status_code == 201, resp.get_json()


@pytest.fixture
def rules_app(config, tmp_path):
    """An app on rules text of the test's choosing, with a registered committee key."""
    apps = []

    def make(text):
        path = tmp_path / f"rules-{len(apps)}.toml"
        path.write_text(text, encoding="utf-8")
        app = build_app(config.with_(rules_file=path))
        with Session(services(app).engine) as s:
            keypair = offline.init_keys(
                s,
                tmp_path / f"committee-{len(apps)}.key",
                KEY_PASSPHRASE,
                "test",
                today("Asia/Shanghai"),
                opslimit=1,
                memlimit=8 * 1024 * 1024,
            )
            s.commit()
        apps.append(app)
        return app, keypair

    yield make
    for app in apps:
        services(app).engine.dispose()


def test_identity_is_sealed_only_to_the_custodians_and_the_committee(app, committee, db_session):
    zhao, chen, li = enrol(app, "zhao.lei"), enrol(app, "chen.jie"), enrol(app, "li.na")
    code, answer = real_name_report(app.test_client())
    committee_kid = committee[0].kid
    # The browser is told the identity keys with opaque labels only.
    assert {(r["kid"], r["label"]) for r in answer["identity_recipients"]} == {
        (committee_kid, "committee"),
        (chen.keypair.kid, "custodian"),
    }
    assert "chen.jie" not in json.dumps(answer)
    case = _case(db_session)
    assert case.real_name
    item = _identity_item(db_session, case)
    envelope = json.loads(item.envelope)
    assert envelope["kind"] == "identity"
    assert set(env.recipient_kids(envelope)) == {committee_kid, chen.keypair.kid}
    report = json.loads(
        db_session.scalar(select(CaseItem.envelope).where(CaseItem.case_id == case.id, CaseItem.kind == "report"))
    )
    assert envelope["header"] == {"report": report["nonce"]}
    assert zhao.keypair.kid in env.recipient_kids(report)  # zhao handles the case ...
    with pytest.raises(CryptoError):  # ... but cannot open the name
        env.open_envelope(envelope, zhao.keypair)
    with pytest.raises(CryptoError):
        env.open_envelope(envelope, li.keypair)
    # The custodian and the committee key (offline recovery) can.
    assert env.open_envelope(envelope, chen.keypair)[0] == NAME
    assert env.open_envelope(envelope, committee[0])[0] == NAME
    # Not the reporter either: their follow-up never lists it.
    creds, keys = credentials(app.test_client(), code)
    view = app.test_client().post("/api/v1/followup", json=creds).get_json()
    assert all(i["kind"] != "identity" for i in view["items"])
    with pytest.raises(CryptoError):
        env.open_envelope(envelope, keys.keypair)
    # The routed member's view: no identity among the items, a sealed notice on the page.
    api_view = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()
    assert [i["kind"] for i in api_view["items"]] == ["report"] and api_view["identity"] == []
    page = zhao.client.get(f"/committee/cases/{case.id}?lang=en").get_data(as_text=True)
    assert "Real name given: sealed" in page and "Request disclosure" in page and NAME["name"] not in page


def test_envelopes_sealed_to_the_wrong_keys_are_refused(app, committee, db_session):
    zhao, chen = enrol(app, "zhao.lei"), enrol(app, "chen.jie")
    client = app.test_client()
    answer = client.post("/api/v1/recipients", json=HOUSING).get_json()
    report_keys = [unb64u(r["public_key"]) for r in answer["recipients"]]
    identity_keys = [unb64u(r["public_key"]) for r in answer["identity_recipients"]]

    def submit(identity_keys, header=None, kind="identity"):
        locator, token = new_locator(client)
        code = ReceiptCode.generate(locator=locator)
        salt = random_bytes(16)
        keys = derive_reporter_keys(code, salt, OPS, MEM)
        report = env.seal(
            "report", env.bind_reporter_key(HOUSING, keys.keypair.public), {"narrative": "x"}, report_keys
        ).envelope
        identity = env.seal(
            kind, header if header is not None else {"report": report["nonce"]}, NAME, identity_keys
        ).envelope
        return client.post(
            "/api/v1/reports",
            json={
                "locator": locator,
                "locator_token": token,
                "salt": b64u(salt),
                "kdf": {"opslimit": OPS, "memlimit": MEM},
                "lookup": b64u(keys.lookup),
                "reporter_public_key": b64u(keys.keypair.public),
                "envelope": report,
                "identity": identity,
                "pow": proof_of_work(client),
            },
        )

    assert submit(identity_keys + [zhao.keypair.public]).status_code == 400  # a routed member
    refused = submit([chen.keypair.public])  # without the committee key
    # (a plain malformed submission: "who can read this case changed" is said of a message
    # to an existing case only, whose page reads the recipients again)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_submission"
    assert submit(identity_keys, header={}).status_code == 400  # not bound to the report
    assert submit(identity_keys, kind="message").status_code == 400
    assert db_session.scalar(select(Case)) is None
    assert submit(identity_keys).status_code == 201


def test_nojs_real_name_report_and_deadlines(app, client, committee, db_session):
    enrol(app, "chen.jie")
    resp = client.post(
        "/report/contractor",
        data=report_form("NOJS-REAL-NAME", identity_name="李四", identity_contact="li@example.invalid"),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    code = receipt_from(resp.get_data(as_text=True))
    case = _case(db_session)
    assert case.real_name
    body = env.open_envelope(json.loads(_identity_item(db_session, case).envelope), committee[0])[0]
    assert body == {"name": "李四", "contact": "li@example.invalid"}
    report_body = env.open_envelope(json.loads(case.items[0].envelope), committee[0])[0]
    assert "李四" not in json.dumps(report_body, ensure_ascii=False)
    # The notice of acceptance falls due within real_name_acceptance working days.
    from whistle.triage.deadlines import WorkCalendar, due_dates

    rules = services(app).rules
    due = due_dates(rules, WorkCalendar(rules), case.channel, case.risk_grade, case.received_on, real_name=True)
    assert case.ack_due == min(due["acknowledge"], due["acceptance_notice"])
    # A contact without a name is a form error, not an anonymous report.
    bad = client.post(
        "/report/contractor",
        data=report_form("x", identity_contact="13900000000"),
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert bad.status_code == 400 and "Give your name as well" in bad.get_data(as_text=True)
    # Once closed, the reporter's timeline shows when the notice of the result is due.
    actions.set_status(db_session, case, "closed", by=actions.CONSOLE, on=today("Asia/Shanghai"), rules=rules)
    db_session.commit()
    page = client.post("/followup?lang=en", data={"code": code}).get_data(as_text=True)
    assert "the committee should tell you the result by" in page
    creds, _ = credentials(client, ReceiptCode.parse(code))
    deadlines = client.post("/api/v1/followup", json=creds).get_json()["deadlines"]
    closed_on = today("Asia/Shanghai")
    assert (
        deadlines["result_notice_by"]
        == WorkCalendar(rules).add_workdays(closed_on, rules.deadlines.real_name_result).isoformat()
    )
    assert deadlines["result_notice_overdue"] is False


def test_disclosure_needs_two_distinct_members_and_is_audited(app, committee, db_session):
    zhao, chen, liu = enrol(app, "zhao.lei"), enrol(app, "chen.jie"), enrol(app, "liu.yang")
    real_name_report(app.test_client())
    case = _case(db_session)
    # No reason, no request.
    zhao.post(f"/committee/cases/{case.id}/identity-request", {"reason": "  "})
    assert _pending(db_session) is None
    resp = zhao.post(f"/committee/cases/{case.id}/identity-request", {"reason": "REASON need to interview the witness"})
    assert resp.status_code == 303
    pending = _pending(db_session)
    assert pending is not None
    request_id = pending.id
    # A member who does not hold the case cannot ask.
    assert liu.post(f"/committee/cases/{case.id}/identity-request", {"reason": "curious"}).status_code == 404
    # The requester is no custodian: their approval is refused and recorded.
    assert zhao.post(f"/committee/identity-requests/{pending.id}", {"decision": "approve"}).status_code == 403
    assert zhao.client.get("/committee/identity-requests").status_code == 403
    # Nothing can be re-sealed before a custodian approves.
    assert chen.api("get", f"/committee/api/identity-requests/{pending.id}").status_code == 404
    fake = chen.api(
        "post",
        f"/committee/api/cases/{case.id}/identity-grant",
        json={"request": pending.id, "sealed_key": b64u(bytes(80))},
    )
    assert fake.status_code == 403
    # The custodian sees the request and its reason, approves, and re-seals in the browser.
    listing = chen.client.get("/committee/identity-requests?lang=en").get_data(as_text=True)
    assert "REASON need to interview the witness" in listing and case.id[:8] in listing
    assert chen.post(f"/committee/identity-requests/{pending.id}", {"decision": "approve"}).status_code == 303
    assert _disclose(chen, pending.id).status_code == 201
    assert _pending(db_session) is None
    # Now the requester opens it with their own key, in its own list.
    view = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()
    assert [i["kind"] for i in view["items"]] == ["report"]
    (item,) = view["identity"]
    key = sodium.crypto_box_seal_open(unb64u(item["granted_key"]), zhao.keypair.public, zhao.keypair.secret)
    assert env.open_body(item["envelope"], key) == NAME
    assert item["envelope"]["header"]["report"] == view["items"][0]["envelope"]["nonce"]
    page = zhao.client.get(f"/committee/cases/{case.id}?lang=en").get_data(as_text=True)
    assert 'id="identity-body"' in page and "Request disclosure" not in page
    # The same approval cannot be used twice.
    assert _disclose_again(chen, case.id, request_id).status_code == 403
    actions = [e.action for e in _actions(db_session) if e.action.startswith("identity_")]
    assert actions == [
        "identity_requested",
        "identity_refused",
        "identity_refused",
        "identity_approved",
        "identity_disclosed",
        "identity_refused",
    ]
    refused = [json.loads(e.detail)["because"] for e in _actions(db_session, "identity_refused")]
    assert refused == ["not_custodian", "not_approved", "not_approved"]
    disclosed = _actions(db_session, "identity_disclosed")[0]
    assert disclosed.actor == "chen.jie" and json.loads(disclosed.detail)["to"] == "zhao.lei"
    assert NAME["name"] not in "".join(e.detail for e in _actions(db_session))
    assert audit.verify(db_session).ok
    # Handing the case on never hands on the name.
    _grant_case(zhao, liu, case.id)
    assert liu.api("get", f"/committee/api/cases/{case.id}").get_json()["identity"] == []
    assert (
        db_session.scalar(
            select(ItemKey).where(
                ItemKey.kid == liu.keypair.kid, ItemKey.item_id == _identity_item(db_session, case).id
            )
        )
        is None
    )


def _disclose_again(custodian, case_id, request_id):
    return custodian.api(
        "post",
        f"/committee/api/cases/{case_id}/identity-grant",
        json={"request": request_id, "sealed_key": b64u(bytes(80))},
    )


def test_custodian_refuses(app, committee, db_session):
    zhao, chen = enrol(app, "zhao.lei"), enrol(app, "chen.jie")
    real_name_report(app.test_client())
    case = _case(db_session)
    zhao.post(f"/committee/cases/{case.id}/identity-request", {"reason": "need it"})
    pending = _pending(db_session)
    chen.post(f"/committee/identity-requests/{pending.id}", {"decision": "refuse", "reason": "not needed yet"})
    assert _pending(db_session) is None
    entry = _actions(db_session, "identity_refused")[-1]
    assert entry.actor == "chen.jie" and json.loads(entry.detail)["because"] == "custodian"
    assert zhao.api("get", f"/committee/api/cases/{case.id}").get_json()["identity"] == []


def test_request_refused_when_no_custodian_is_configured(rules_app):
    text = EXAMPLE_RULES.replace("custodian = true", "")
    assert "custodian = true" not in text
    app, committee_key = rules_app(text)
    zhao = enrol(app, "zhao.lei")
    enrol(app, "chen.jie")  # no longer a custodian
    _code, answer = real_name_report(app.test_client())
    # Sealed to the committee key alone (offline recovery).
    assert [r["kid"] for r in answer["identity_recipients"]] == [committee_key.kid]
    with Session(services(app).engine) as s:
        case = _case(s)
        resp = zhao.post(f"/committee/cases/{case.id}/identity-request?lang=en", {"reason": "please"})
        assert resp.status_code == 303
        page = zhao.client.get(f"/committee/cases/{case.id}?lang=en").get_data(as_text=True)
        assert "No custodian is configured" in page
        assert _pending(s) is None  # refused at once: never approved by default
        (entry,) = _actions(s, "identity_refused")
        assert entry.actor == "zhao.lei" and json.loads(entry.detail)["because"] == "no_custodian"
        assert _actions(s, "identity_approved") == [] and _actions(s, "identity_disclosed") == []


def test_custodian_cannot_approve_their_own_request(rules_app):
    # sun.hao is a second custodian in this variant.
    text = EXAMPLE_RULES.replace(
        'username = "sun.hao"\nunit = "stationed_2"\nrole = "unit_lead"\n',
        'username = "sun.hao"\nunit = "stationed_2"\nrole = "unit_lead"\ncustodian = true\n',
    )
    assert text != EXAMPLE_RULES
    app, _key = rules_app(text)
    zhao, sun = enrol(app, "zhao.lei"), enrol(app, "sun.hao")
    real_name_report(app.test_client())  # before chen enrols: the name is not sealed to him
    chen = enrol(app, "chen.jie")
    with Session(services(app).engine) as s:
        case = _case(s)
        _grant_case(zhao, chen, case.id)
        chen.post(f"/committee/cases/{case.id}/identity-request", {"reason": "CHEN-REASON"})
        pending = _pending(s)
        assert pending is not None and pending.proposed_by is not None
        # chen is a custodian, but it is his own request: refused, still waiting.
        assert chen.post(f"/committee/identity-requests/{pending.id}", {"decision": "approve"}).status_code == 303
        assert "approved_by" not in json.loads(_pending(s).payload)
        assert json.loads(_actions(s, "identity_refused")[-1].detail)["because"] == "same_member"
        assert chen.api("get", f"/committee/api/identity-requests/{pending.id}").status_code == 404
        # Another custodian approves and discloses.
        sun.post(f"/committee/identity-requests/{pending.id}", {"decision": "approve"})
        assert _disclose(sun, pending.id).status_code == 201
        (item,) = chen.api("get", f"/committee/api/cases/{case.id}").get_json()["identity"]
        key = sodium.crypto_box_seal_open(unb64u(item["granted_key"]), chen.keypair.public, chen.keypair.secret)
        assert env.open_body(item["envelope"], key) == NAME
        actions = [e.action for e in _actions(s) if e.action.startswith("identity_")]
        assert actions == ["identity_requested", "identity_refused", "identity_approved", "identity_disclosed"]


SUN_CUSTODIAN = EXAMPLE_RULES.replace(
    'username = "sun.hao"\nunit = "stationed_2"\nrole = "unit_lead"\n',
    'username = "sun.hao"\nunit = "stationed_2"\nrole = "unit_lead"\ncustodian = true\n',
)


def test_a_request_is_decided_once(rules_app):
    """A second custodian deciding a request another has approved (two at once, or from a
    page shown before) changes nothing: the approval stands, for the custodian who gave it."""
    app, _key = rules_app(SUN_CUSTODIAN)
    zhao, chen, sun = enrol(app, "zhao.lei"), enrol(app, "chen.jie"), enrol(app, "sun.hao")
    real_name_report(app.test_client())
    with Session(services(app).engine) as s:
        case = _case(s)
        zhao.post(f"/committee/cases/{case.id}/identity-request", {"reason": "need it"})
        pending = _pending(s)
        request_id = pending.id
        assert chen.post(f"/committee/identity-requests/{pending.id}", {"decision": "approve"}).status_code == 303
        for decision in ("approve", "refuse"):
            late = sun.post(f"/committee/identity-requests/{pending.id}", {"decision": decision}, follow_redirects=True)
            assert "This request has already been decided." in late.get_data(as_text=True)
            assert json.loads(_pending(s).payload)["approved_by"] == chen_id(s)
        assert sun.api("get", f"/committee/api/identity-requests/{pending.id}").status_code == 404  # not his
        assert _disclose(chen, pending.id).status_code == 201
        actions = [e.action for e in _actions(s) if e.action.startswith("identity_")]
        assert actions == ["identity_requested", "identity_approved", "identity_disclosed"]
        # Decided and used: a decision now finds nothing to decide.
        gone = sun.post(f"/committee/identity-requests/{request_id}", {"decision": "approve"})
        assert gone.status_code == 404


def chen_id(session) -> str:
    from whistle.models import Member

    return session.scalar(select(Member.id).where(Member.username == "chen.jie"))


def test_an_approval_is_used_only_while_its_custodian_still_is_one(rules_app, config, tmp_path):
    """The rules may change between approving and re-sealing (a restart with a new rules
    file): a custodian no longer one cannot hand on the name with their old approval."""
    from tests.committee.conftest import HTTPS, Person, login

    app, _key = rules_app(EXAMPLE_RULES)
    zhao, chen = enrol(app, "zhao.lei"), enrol(app, "chen.jie")
    real_name_report(app.test_client())
    with Session(services(app).engine) as s:
        case_id = _case(s).id
        zhao.post(f"/committee/cases/{case_id}/identity-request", {"reason": "need it"})
        request_id = _pending(s).id
        assert chen.post(f"/committee/identity-requests/{request_id}", {"decision": "approve"}).status_code == 303
    path = tmp_path / "rules-no-custodian.toml"
    path.write_text(EXAMPLE_RULES.replace("custodian = true", ""), encoding="utf-8")
    changed = build_app(config.with_(rules_file=path))  # the same database, the new rules
    try:
        client = changed.test_client()
        client.environ_base.update(HTTPS)
        former = Person("chen.jie", chen.keypair, chen.totp, client)
        login(former, app=changed)
        # Their browser is no longer handed the sealed name, and a key re-sealed anyway is refused.
        assert former.api("get", f"/committee/api/identity-requests/{request_id}").status_code == 404
        refused = _disclose_again(former, case_id, request_id)
        assert refused.status_code == 403
        with Session(services(changed).engine) as s:
            assert _pending(s) is not None  # still waiting: a custodian can decide it again
            entry = _actions(s, "identity_refused")[-1]
            assert entry.actor == "chen.jie" and json.loads(entry.detail)["because"] == "not_custodian"
            assert _actions(s, "identity_disclosed") == []
            assert s.scalar(select(ItemKey).where(ItemKey.kid == zhao.keypair.kid)) is None
    finally:
        services(changed).engine.dispose()


def test_request_refused_when_the_only_custodian_is_the_requester(app, committee, db_session):
    zhao = enrol(app, "zhao.lei")
    real_name_report(app.test_client())
    chen = enrol(app, "chen.jie")  # the only custodian, enrolled after the report
    case = _case(db_session)
    _grant_case(zhao, chen, case.id)
    chen.post(f"/committee/cases/{case.id}/identity-request", {"reason": "mine"})
    assert _pending(db_session) is None
    entry = _actions(db_session, "identity_refused")[-1]
    assert entry.actor == "chen.jie" and json.loads(entry.detail)["because"] == "no_other_custodian"


def test_real_name_result_notice_is_shown_to_members(app, committee, db_session):
    zhao = enrol(app, "zhao.lei")
    enrol(app, "chen.jie")
    real_name_report(app.test_client())
    case = _case(db_session)
    page = zhao.client.get(f"/committee/cases/{case.id}?lang=en").get_data(as_text=True)
    assert "Notice of acceptance by" in page and "working days after closing" in page
    zhao.post(f"/committee/cases/{case.id}/status", {"event": "closed"})
    page = zhao.client.get(f"/committee/cases/{case.id}?lang=en").get_data(as_text=True)
    assert "working days after closing" not in page
    listing = zhao.client.get("/committee/?lang=en").get_data(as_text=True)
    assert "notice of the result by" in listing


def test_committee_key_regrant_never_hands_on_the_name(app, committee, db_session):
    """Recovering an orphaned case with the committee key re-seals the report, not the name;
    and a case whose readers hold everything but the name is not orphaned."""
    from whistle.custody import ceremony

    real_name_report(app.test_client())  # nobody enrolled: orphaned
    zhao = enrol(app, "zhao.lei")
    rules = services(app).rules
    case = _case(db_session)
    assert ceremony.orphaned_cases(db_session, rules) == [case]
    member = ceremony.member_by_username(db_session, "zhao.lei")
    assert ceremony.regrant(db_session, rules, committee[0], case, member, today("Asia/Shanghai")) == 1
    db_session.commit()
    assert ceremony.orphaned_cases(db_session, rules) == []
    view = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()
    assert view["identity"] == [] and [i["kind"] for i in view["items"]] == ["report"]
    assert db_session.scalar(select(ItemKey).where(ItemKey.item_id == _identity_item(db_session, case).id)) is None
