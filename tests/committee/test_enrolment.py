"""Enrolment needs two people. One administrator alone, with only the Members page, could
invite anyone listed in the rules file (again), enrol in their place and read what routing
then sealed to that key. Each attack below is driven through the real pages; after the fix
the account waits, sealed nothing and unable to log in, until a second person types the
fingerprint its browser shows."""

import json
import re

import pytest
from sqlalchemy import select

from crypto.keys import fingerprint
from whistle.committee import enrolment
from whistle.custody import audit
from whistle.custody.ceremony import orphaned_cases
from whistle.models import AuditEntry, CaseGrant, ItemKey, Member, MemberRequest
from whistle.rules import parse as rules_mod
from whistle.services import services

from tests.conftest import BACKENDS, make_config
from tests.committee.conftest import PASSWORD, csrf_of, enrol
from tests.committee.test_workspace import HOUSING, _case, _grant_to, _report
from tests.helpers import forget_used_totp_steps
from tests.triage import edited

SECOND_ADMIN = '\n[[members]]\nusername = "xu.qing"\nunit = "case_management"\nrole = "admin"\n'
HEAD = dict(HOUSING, accused_rank="head")  # a 一把手 complaint: the level above (county_cdi) reads it


@pytest.fixture(params=BACKENDS)
def config(tmp_path, request):
    """The example rules with a second admin, who can confirm what the first one does."""
    rules = tmp_path / "rules.toml"
    rules.write_text(edited(append=SECOND_ADMIN), encoding="utf-8")
    return make_config(tmp_path, request, backend=request.param, migrated=True, rules_file=rules)


def invite_link(admin, username) -> str:
    page = admin.post(f"/committee/admin/members/{username}/invite")
    assert page.status_code == 200, page.status_code
    return re.search(r'<code id="invite-link">([^<]+)</code>', page.get_data(as_text=True)).group(1)


def enrol_alone(app, admin, username):
    """What the lone admin does: invite through the Members page and enrol through the link
    in the invitee's place. Returns (the key they made, the page they land on)."""
    from crypto import keyfile
    from crypto.encoding import b64u
    from crypto.keys import KeyPair
    import pyotp

    token = invite_link(admin, username).rsplit("/", 1)[1]
    client = app.test_client()
    client.environ_base.update(admin.client.environ_base)
    html = client.get(f"/committee/enrol/{token}").get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', html).group(1)
    keypair = KeyPair.generate()
    resp = client.post(
        f"/committee/enrol/{token}",
        data={
            "csrf_token": csrf_of(html),
            "password": PASSWORD,
            "password2": PASSWORD,
            "totp": pyotp.TOTP(secret).now(),
            "public_key": b64u(keypair.public),
            "wrapped_key": keyfile.wrap(keypair, "a key passphrase!", opslimit=1, memlimit=8 * 1024 * 1024),
        },
    )
    return keypair, secret, client, resp


def recipient_kids(app, header=HOUSING, field="recipients") -> set:
    answer = app.test_client().post("/api/v1/recipients", json=header).get_json()
    return {r["kid"] for r in answer[field]}


def confirm(person, username, typed):
    return person.post(f"/committee/enrolments/{username}/confirm", {"fingerprint": typed})


def log_in(app, client, username, secret) -> int:
    import pyotp
    import time

    forget_used_totp_steps(app)
    html = client.get("/committee/login").get_data(as_text=True)
    return client.post(
        "/committee/login",
        data={
            "csrf_token": csrf_of(html),
            "username": username,
            "password": PASSWORD,
            "totp": pyotp.TOTP(secret).at(time.time() + 30),
        },
    ).status_code


def actions(db_session) -> list[tuple[str, str | None, dict]]:
    db_session.expire_all()
    return [
        (e.action, e.actor, json.loads(e.detail))
        for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
    ]


def test_an_admin_alone_cannot_enrol_a_reader_of_head_complaints(app, people, db_session):
    admin, xu = people["ma.lin"], enrol(app, "xu.qing")
    keypair, secret, client, landed = enrol_alone(app, admin, "liu.yang")  # listed, never enrolled
    # The page they land on says what happens next, with the fingerprint of the key they made.
    page = landed.get_data(as_text=True)
    assert landed.status_code == 200 and fingerprint(keypair.public) in page
    confirmers = re.search(r'<span id="confirmers">([^<]*)</span>', page).group(1)
    assert confirmers == "xu.qing"  # who may confirm now: not the inviter, not another unit's lead
    # Until a second person confirms, the key receives nothing and the account has no session.
    assert keypair.kid not in recipient_kids(app, HEAD)
    assert log_in(app, client, "liu.yang", secret) == 200  # the waiting page again, not a session
    assert client.get("/committee/").status_code == 302

    shown = fingerprint(keypair.public)
    wrong_group = f"{(int(shown[:5]) + 1) % 100000:05d}" + shown[5:]
    refused = confirm(xu, "liu.yang", wrong_group)
    assert refused.status_code == 400 and "does not match" in refused.get_data(as_text=True)
    assert keypair.kid not in recipient_kids(app, HEAD)
    # The inviter may not confirm, whatever they type.
    assert confirm(admin, "liu.yang", fingerprint(keypair.public)).status_code == 400
    assert keypair.kid not in recipient_kids(app, HEAD)
    assert confirm(xu, "liu.yang", fingerprint(keypair.public).replace(" ", "")).status_code == 302
    assert keypair.kid in recipient_kids(app, HEAD)
    assert log_in(app, client, "liu.yang", secret) == 302
    trail = [(a, actor, d.get("reason")) for a, actor, d in actions(db_session) if d.get("member") == "liu.yang"]
    assert trail == [
        ("invite", "ma.lin", None),
        ("refused_enrolment_confirm", "xu.qing", "fingerprint"),
        ("refused_enrolment_confirm", "ma.lin", "inviter"),
        ("enrolment_confirmed", "xu.qing", None),
    ]
    assert any(a == ["enrolled", "liu.yang"] and d["waiting_for"] == "confirmation" for *a, d in actions(db_session))


def test_re_enrolment_revokes_every_grant_sealed_to_the_old_key(app, people, db_session):
    admin, zhao, zhang = people["ma.lin"], people["zhao.lei"], people["liu.yang"]
    _report(app)
    case = _case(db_session)
    _grant_to(zhao, zhang, case.id)  # liu.yang (the level above) now holds it through item_keys
    assert db_session.scalar(select(ItemKey).where(ItemKey.kid == zhang.keypair.kid)) is not None

    keypair, _secret, client, _landed = enrol_alone(app, admin, "liu.yang")

    db_session.expire_all()
    zhang_id = db_session.scalar(select(Member.id).where(Member.username == "liu.yang"))
    assert db_session.scalar(select(CaseGrant).where(CaseGrant.member_id == zhang_id)) is None
    assert db_session.scalar(select(ItemKey).where(ItemKey.kid == zhang.keypair.kid)) is None
    assert client.get(f"/committee/api/cases/{case.id}").status_code == 401
    assert ("grants_revoked", "ma.lin", {"member": "liu.yang", "grants": 1}) in actions(db_session)
    # The old session is over too.
    assert zhang.client.get("/committee/").status_code == 302
    # Re-invite the only holder: the case counts as orphaned, for the split key to hand on.
    enrol_alone(app, admin, "zhao.lei")
    assert [c.id for c in orphaned_cases(db_session, services(app).rules)] == [case.id]


def test_a_re_invited_custodian_is_sealed_no_real_name(app, people, db_session):
    admin = people["ma.lin"]
    enrol(app, "chen.jie")  # the custodian
    keypair, _secret, _client, _landed = enrol_alone(app, admin, "chen.jie")
    assert keypair.kid not in recipient_kids(app, HOUSING, "identity_recipients")
    assert keypair.kid not in recipient_kids(app, HEAD)


def test_two_re_invited_members_cannot_hand_on_close_or_purge(app, people, db_session):
    admin = people["ma.lin"]
    _report(app)  # a 高危 case for zhao.lei
    case = _case(db_session)
    _k1, s1, zhao, _ = enrol_alone(app, admin, "zhao.lei")
    _k2, s2, zhang, _ = enrol_alone(app, admin, "zhang.wei")
    for client, name, secret in ((zhao, "zhao.lei", s1), (zhang, "zhang.wei", s2)):
        assert log_in(app, client, name, secret) == 200
        assert client.get(f"/committee/api/cases/{case.id}/grantable").status_code == 401
        assert client.post(f"/committee/cases/{case.id}/status", data={"event": "closed"}).status_code in (302, 400)
    assert _case(db_session).status != "closed"
    assert db_session.scalar(select(CaseGrant).where(CaseGrant.case_id == case.id)) is None


def test_nobody_acts_on_their_own_account(app, people, db_session):
    admin = people["ma.lin"]
    before = db_session.scalar(select(Member).where(Member.username == "ma.lin")).password_hash
    resp = admin.post("/committee/admin/members/ma.lin/invite")
    assert resp.status_code == 302 and admin.client.get("/committee/admin/members").status_code == 200
    db_session.expire_all()
    assert db_session.scalar(select(Member).where(Member.username == "ma.lin")).password_hash == before
    admin.post("/committee/admin/members/ma.lin/deactivate")
    assert admin.client.get("/committee/admin/members").status_code == 200
    rules = services(app).rules
    assert enrolment.confirm(db_session, rules, "ma.lin", "ma.lin", "0", dt_today()).code == "self"
    db_session.commit()
    reasons = [(a, d.get("reason")) for a, _actor, d in actions(db_session) if a.startswith("refused_")]
    assert reasons == [
        ("refused_invite", "self"),
        ("refused_deactivate", "self"),
        ("refused_enrolment_confirm", "self"),
    ]
    assert "Invite again" not in re.search(
        r"<tr>\s*<td>ma.lin</td>.*?</tr>", admin.client.get("/committee/admin/members").get_data(as_text=True), re.S
    ).group(0)


def dt_today():
    from whistle.clock import today

    return today("Asia/Shanghai")


def test_who_may_confirm_follows_the_rules_file(app, people, db_session):
    rules = services(app).rules
    assert enrolment.may_confirm(rules, "zhao.lei", "li.na")  # her unit's lead
    assert not enrolment.may_confirm(rules, "zhang.wei", "li.na")  # another unit's lead
    assert not enrolment.may_confirm(rules, "wu.jing", "li.na")  # a member
    assert enrolment.may_confirm(rules, "gao.feng", "li.na") and enrolment.may_confirm(rules, "xu.qing", "li.na")
    example = 'confirmers = ["admin", "overseer", "unit_lead"]'
    only_leads = rules_mod.parse(edited((example, 'confirmers = ["unit_lead"]'), append=SECOND_ADMIN))
    assert only_leads.confirmers == ("unit_lead",)
    assert not enrolment.may_confirm(only_leads, "xu.qing", "li.na")
    assert not enrolment.may_confirm(only_leads, "gao.feng", "li.na")
    for bad in ("[]", '["everyone"]', '"admin"'):
        with pytest.raises(rules_mod.RulesError, match="confirmers"):
            rules_mod.parse(edited((example, f"confirmers = {bad}")))
    # A unit lead confirms a member of their unit on their own page.
    keypair, _s, _c, _l = enrol_alone(app, people["ma.lin"], "li.na")
    page = people["zhao.lei"].client.get("/committee/enrolments").get_data(as_text=True)
    assert 'id="fingerprint-li.na"' in page
    assert confirm(people["zhao.lei"], "li.na", fingerprint(keypair.public)).status_code == 302
    assert keypair.kid in recipient_kids(app, dict(HOUSING, department="transport"))


def test_deactivating_the_only_holder_or_the_overseer_needs_a_second_admin(app, people, db_session):
    admin = people["ma.lin"]
    xu, overseer = enrol(app, "xu.qing"), enrol(app, "gao.feng")
    _report(app)
    case = _case(db_session)  # zhao.lei alone holds it
    for name in ("zhao.lei", "gao.feng"):
        admin.post(f"/committee/admin/members/{name}/deactivate")
        admin.post(f"/committee/admin/members/{name}/deactivate")  # the requester again: refused
        db_session.expire_all()
        assert db_session.scalar(select(Member.active).where(Member.username == name))
        assert db_session.scalar(select(MemberRequest).where(MemberRequest.username == name)) is not None
        xu.post(f"/committee/admin/members/{name}/deactivate")
        db_session.expire_all()
        assert not db_session.scalar(select(Member.active).where(Member.username == name))
    assert overseer.client.get("/committee/").status_code == 302
    # A member who does not hold a case alone is switched off by one admin.
    admin.post("/committee/admin/members/li.na/deactivate")
    db_session.expire_all()
    assert not db_session.scalar(select(Member.active).where(Member.username == "li.na"))
    trail = [
        (a, actor, d.get("reason"))
        for a, actor, d in actions(db_session)
        if a in ("deactivate", "deactivate_requested", "deactivate_confirmed", "refused_deactivate")
    ]
    assert trail == [
        ("deactivate_requested", "ma.lin", None),
        ("refused_deactivate", "ma.lin", "requester"),
        ("deactivate_confirmed", "xu.qing", None),
    ] * 2 + [("deactivate", "ma.lin", None)]
    assert audit.verify(db_session)[1] is None
    assert case.id


def test_the_console_alone_confirms_only_the_first_account(app, people, db_session):
    """Once anyone is confirmed, a console confirmation names a confirmer and carries a
    current code of their authenticator: the operator alone is one person."""
    import pyotp

    keypair, _s, _c, _l = enrol_alone(app, people["ma.lin"], "li.na")
    rules, shown = services(app).rules, fingerprint(keypair.public)
    on = dt_today()
    kw = dict(instance_secret=services(app).secret, used_steps=services(app).totp_used)
    assert enrolment.console_confirm(db_session, rules, "li.na", shown, on).code == "not_confirmer"
    assert (
        enrolment.console_confirm(
            db_session, rules, "li.na", shown, on, confirmer="zhao.lei", confirmer_code="000000", **kw
        ).code
        == "not_confirmer"
    )
    forget_used_totp_steps(app)  # his login spent the current steps; only a test can forget them
    kw["used_steps"] = services(app).totp_used
    right = pyotp.TOTP(people["zhao.lei"].totp).now()
    assert enrolment.console_confirm(
        db_session, rules, "li.na", shown, on, confirmer="zhao.lei", confirmer_code=right, **kw
    ).ok
    db_session.commit()
    assert [(a, actor, d.get("reason")) for a, actor, d in actions(db_session) if d.get("member") == "li.na"][-3:] == [
        ("refused_enrolment_confirm", "cli", "not_confirmer"),
        ("refused_enrolment_confirm", "zhao.lei", "not_confirmer"),
        ("enrolment_confirmed", "zhao.lei", None),
    ]


def test_the_split_key_hands_nothing_to_an_unconfirmed_account(app, committee, people, db_session):
    from whistle.custody import ceremony

    _report(app)
    # liu.yang (the level above) is someone routing allows: what refuses them is the confirmation.
    case = _case(db_session)
    keypair, _s, _c, _l = enrol_alone(app, people["ma.lin"], "liu.yang")
    account = ceremony.member_by_username(db_session, "liu.yang")
    with pytest.raises(ceremony.GrantRefused) as refused:
        ceremony.regrant(db_session, services(app).rules, committee[0], case, account, dt_today())
    assert refused.value.reason == "unconfirmed"
    db_session.commit()
    assert db_session.scalar(select(ItemKey).where(ItemKey.kid == keypair.kid)) is None
