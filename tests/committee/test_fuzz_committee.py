"""Fuzzing the committee side: no input a logged-in member can send gets a 5xx or a trace.

tests/test_fuzz.py covers what the public can reach (and the login and enrolment forms);
this module covers every other route under /committee, found from the app's URL map at
collection, so a route added later is fuzzed too. Each route is its own property: a
member of each role (unit lead, conflicted member, admin, overseer, notice publisher,
custodian),
logged in through the real form, sends bodies of every shape (forms, multipart with stray
files, deep and odd JSON, raw bytes) with a valid CSRF token most of the time, to paths
whose arguments are real ids (cases, attachments, pending two-person actions and an
approved disclosure request, notices, surveys, sacrificial usernames) or fuzzed segments,
with a fuzzed query string now and then. Then each member form, each JSON body (grants,
replies and notes, the re-sealed identity) from a valid one with one field broken. The
property: a status below 500, no stack trace in the body, nothing the app logs as
unhandled. A member whose session the fuzzer ended (logout) logs in again.

One app per backend for the module (SQLite, and PostgreSQL when configured); rate limits
off (tests/test_brute_force.py has them). A dozen examples per route keeps the budget at
well under a minute per backend.
"""

import datetime as dt
import json
import logging
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from whistle import create_app
from whistle.custody import offline
from whistle.clock import today
from whistle.models import Attachment, Case, CaseItem, PendingAction, Survey
from whistle.services import services

from tests.committee.conftest import enrol, login
from tests.committee.test_workspace import HOUSING, _grant_to, _report
from tests.conftest import BACKENDS, KEY_PASSPHRASE, build_app, make_config
from tests.test_fuzz import (
    FILES,
    FUZZ,
    JSON,
    ODD,
    SEGMENT,
    TEXT,
    VALUE,
    _multipart,
    _quote,
    _Unhandled,
    bodies,
    break_one_field,
    check,
)
from tests.test_identity import real_name_report
from tests.test_notices import open_notice
from tests.test_surveys import _form as survey_form

ROUTE_EXAMPLES = 12
ACTORS = ("zhao.lei", "li.na", "ma.lin", "gao.feng", "he.ping", "chen.jie")
# Members the admin routes may deactivate or invite again: never one of the actors.
SACRIFICIAL = ("wu.jing", "liu.yang", "sun.hao", "wang.fang", "nobody.here")
GRANTEE = "liu.yang"  # enrolled, eligible for the housing cases (the level above): what a valid grant names
CUSTODIAN = "chen.jie"  # approves disclosing a real-name reporter's identity


def _committee_rules() -> list:
    """Every (path rule, method) under /committee but the login and enrolment forms."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(make_config(Path(tmp)))
        rules = app.url_map.iter_rules()
        pairs = sorted(
            (rule.rule, method)
            for rule in rules
            if rule.rule.startswith("/committee") and not rule.rule.startswith(("/committee/login", "/committee/enrol"))
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
        )
        services(app).engine.dispose()
    return pairs


COMMITTEE_RULES = _committee_rules()


@pytest.fixture(scope="module", params=BACKENDS)
def workspace(request, tmp_path_factory):
    """An app with the actors enrolled and logged in, and real things to point at: cases
    with attachments, pending two-person actions (zhao's own, and a colleague's for zhao
    to decide), a real-name case with an approved disclosure request, an open notice, a
    draft survey."""
    tmp = tmp_path_factory.mktemp("committee-fuzz")
    app = build_app(make_config(tmp, request, backend=request.param, extra={"ratelimit": False}))
    engine = services(app).engine
    with Session(engine) as s:
        offline.init_keys(
            s, tmp / "k.key", KEY_PASSPHRASE, "k", today("Asia/Shanghai"), opslimit=1, memlimit=8 * 1024 * 1024
        )
        s.commit()
    people = {name: enrol(app, name) for name in ACTORS + (GRANTEE,)}
    for _ in range(3):
        _report(app, header=HOUSING)
    real_name_report(app.test_client())
    with Session(engine) as s:
        case_ids = list(s.scalars(select(Case.id)))
        real_name_case = s.scalar(select(CaseItem.case_id).where(CaseItem.kind == "identity"))
        notice_id = open_notice(s).id
    zhao = people["zhao.lei"]
    # A disclosure request zhao made and the custodian approved: the re-sealing it allows
    # is fuzzed below.
    resp = zhao.post(f"/committee/cases/{real_name_case}/identity-request", {"reason": "to interview the witness"})
    assert resp.status_code == 303, resp.status_code
    with Session(engine) as s:
        disclosure = s.scalar(select(PendingAction.id).where(PendingAction.action == "disclose"))
    resp = people[CUSTODIAN].post(f"/committee/identity-requests/{disclosure}", {"decision": "approve"})
    assert resp.status_code == 303, resp.status_code
    resp = zhao.post(f"/committee/cases/{case_ids[0]}/grade", {"grade": "low", "reason": "duplicate details"})
    assert resp.status_code in (302, 303), resp.status_code
    # A request zhao did not make, for zhao's confirmations to reach the decision itself.
    _grant_to(zhao, people[GRANTEE], case_ids[1])
    resp = people[GRANTEE].post(f"/committee/cases/{case_ids[1]}/grade", {"grade": "medium", "reason": "checked"})
    assert resp.status_code in (302, 303), resp.status_code
    resp = zhao.post("/committee/surveys/new", survey_form())
    assert resp.status_code == 302, resp.status_code
    with Session(engine) as s:
        ids = {
            "case_id": case_ids,
            "notice_id": [notice_id],
            "attachment_id": list(s.scalars(select(Attachment.id))),
            "pending_id": list(s.scalars(select(PendingAction.id))),
            "survey_id": list(s.scalars(select(Survey.id))),
            "username": list(SACRIFICIAL),
        }
    assert all(ids.values()), ids
    items, reporters = {}, {}
    for case_id in case_ids:
        view = zhao.api("get", f"/committee/api/cases/{case_id}").get_json()
        items[case_id] = [item["id"] for item in view["items"]]
        reporters[case_id] = unb64u(view["reporter_public_key"])
        holders = [unb64u(r["public_key"]) for r in view["recipients"]]
    handler = _Unhandled()
    logging.getLogger("whistle").addHandler(handler)
    yield {
        "app": app,
        "people": people,
        "ids": ids,
        "unhandled": handler,
        "items": items,
        "disclosure": (real_name_case, disclosure),
        "reporters": reporters,
        "holders": holders,
        "tokens": {name: person.csrf() for name, person in people.items()},
    }
    logging.getLogger("whistle").removeHandler(handler)
    engine.dispose()


def _path(draw, workspace, rule: str) -> str:
    """The rule with each argument a real id of its kind, or a fuzzed segment."""

    def value(match):
        name = match.group(1)
        real = workspace["ids"].get(name, [])
        if real and draw(st.booleans()):
            return _quote(draw(st.sampled_from(real)))
        return _quote(draw(SEGMENT))

    return re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", value, rule)


def _still_logged_in(workspace, name: str) -> None:
    """Log the member in again if the fuzzer logged them out (and take the new token)."""
    person = workspace["people"][name]
    if person.client.get("/committee/api/me").status_code != 200:
        login(person, app=workspace["app"])
        workspace["tokens"][name] = person.csrf()


def _post_json(workspace, actor: str, path: str, body, data) -> object:
    """As JSON, or (for the items endpoint, which takes files) as a multipart submission;
    now and then the whole body is replaced by any JSON value."""
    client = workspace["people"][actor].client
    if data.draw(st.integers(0, 9), label="whole body?") == 0:
        body = data.draw(JSON, label="body")
    headers = {"X-CSRFToken": workspace["tokens"][actor]}
    if path.endswith("/items") and data.draw(st.booleans(), label="multipart?"):
        form = _multipart({"submission": json.dumps(body)}, data.draw(FILES, label="files"))
        return client.post(path, data=form, content_type="multipart/form-data", headers=headers)
    return client.post(path, json=body, headers=headers)


@settings(FUZZ, max_examples=ROUTE_EXAMPLES * 3)
@given(data=st.data())
def test_grants_survive_near_valid_bodies(workspace, data):
    """A valid grant (every item's key re-sealed to an eligible colleague) with one field
    removed or replaced, at the top or among the keys."""
    _still_logged_in(workspace, "zhao.lei")
    case_id = data.draw(st.sampled_from(workspace["ids"]["case_id"]), label="case")
    items = workspace["items"][case_id]
    grant = {"username": GRANTEE, "keys": {item: b64u(bytes(80)) for item in items}}
    where, key = break_one_field(data, {"top": grant, "keys": grant["keys"]})
    resp = _post_json(workspace, "zhao.lei", f"/committee/api/cases/{case_id}/grants", grant, data)
    check(workspace, resp, ("grant", where, key))


@settings(FUZZ, max_examples=ROUTE_EXAMPLES * 2)
@given(data=st.data())
def test_identity_grants_survive_near_valid_bodies(workspace, data):
    """The custodian's browser re-sealing a reporter's name to the member who asked, for an
    approved request, with one field removed or replaced (a valid one discloses once)."""
    _still_logged_in(workspace, CUSTODIAN)
    case_id, request_id = workspace["disclosure"]
    grant = {"request": request_id, "sealed_key": b64u(bytes(80))}
    where, key = break_one_field(data, {"top": grant})
    resp = _post_json(workspace, CUSTODIAN, f"/committee/api/cases/{case_id}/identity-grant", grant, data)
    check(workspace, resp, ("identity grant", where, key))


@settings(FUZZ, max_examples=ROUTE_EXAMPLES * 3)
@given(data=st.data())
def test_replies_and_notes_survive_near_valid_bodies(workspace, data):
    """A reply or note sealed as the member's browser seals it, with one field removed or
    replaced in the submission, the envelope, its header or a recipient entry."""
    _still_logged_in(workspace, "zhao.lei")
    case_id = data.draw(st.sampled_from(workspace["ids"]["case_id"]), label="case")
    kind = data.draw(st.sampled_from(["reply", "note"]), label="kind")
    recipients = workspace["holders"] + ([workspace["reporters"][case_id]] if kind == "reply" else [])
    sealed = env.seal(kind, {"case": case_id}, {"text": "FUZZ", "attachments": []}, recipients)
    submission = {"kind": kind, "envelope": sealed.envelope}
    where, key = break_one_field(
        data,
        {
            "top": submission,
            "envelope": sealed.envelope,
            "header": sealed.envelope["header"],
            "recipient": sealed.envelope["recipients"][0],
        },
    )
    resp = _post_json(workspace, "zhao.lei", f"/committee/api/cases/{case_id}/items", submission, data)
    check(workspace, resp, (kind, where, key))


def _notice_form() -> dict:
    opens = today("Asia/Shanghai") + dt.timedelta(days=3)
    return {
        "candidate_name": "李候选",
        "current_post": "水利局副局长",
        "proposed_post": "水利局局长",
        "department": "water",
        "opens_on": opens.isoformat(),
        "closes_on": (opens + dt.timedelta(days=14)).isoformat(),
    }


# (actor, path with {case}, {pending}, {survey}, {username} in it, the valid form): every
# form a member fills in, as the page sends it.
MEMBER_FORMS = [
    (
        "zhao.lei",
        "/committee/cases/{case}/disposition",
        lambda: {"disposition": "not_accepted", "reason": "outside remit", "duplicate_of": ""},
    ),
    ("zhao.lei", "/committee/cases/{case}/grade", lambda: {"grade": "medium", "reason": "new facts"}),
    ("zhao.lei", "/committee/cases/{case}/status", lambda: {"event": "acknowledged"}),
    ("zhao.lei", "/committee/cases/{case}/purge", lambda: {"reason": "a test report"}),
    ("zhao.lei", "/committee/cases/{case}/identity-request", lambda: {"reason": "to protect the reporter"}),
    ("zhao.lei", "/committee/cases/{case}/confirm/{pending}", lambda: {"decision": "approve"}),
    ("zhao.lei", "/committee/identity-requests/{pending}", lambda: {"decision": "approve", "reason": "fine"}),
    ("he.ping", "/committee/notices", _notice_form),
    ("zhao.lei", "/committee/surveys/new", survey_form),
    ("zhao.lei", "/committee/surveys/{survey}/edit", survey_form),
    ("ma.lin", "/committee/admin/members/{username}/invite", dict),
]


@pytest.mark.parametrize("actor, path, valid", MEMBER_FORMS, ids=[path for _actor, path, _valid in MEMBER_FORMS])
@settings(FUZZ, max_examples=ROUTE_EXAMPLES * 2)
@given(data=st.data())
def test_member_forms_survive_near_valid_fields(workspace, actor, path, valid, data):
    """A form as its page sends it, with one field removed or given any text (the
    generic property above rarely names these forms' fields)."""
    _still_logged_in(workspace, actor)
    ids = workspace["ids"]
    path = path.format(
        **{
            name: data.draw(st.sampled_from(ids[key]), label=name)
            for name, key in (
                ("case", "case_id"),
                ("pending", "pending_id"),
                ("survey", "survey_id"),
                ("username", "username"),
            )
            if "{" + name + "}" in path
        }
    )
    form = valid()
    where, key = break_one_field(data, {"form": form}, values=VALUE)
    form["csrf_token"] = workspace["tokens"][actor]
    resp = workspace["people"][actor].client.post(path, data=form)
    check(workspace, resp, (path, where, key))


@pytest.mark.parametrize("rule, method", COMMITTEE_RULES, ids=[f"{m} {r}" for r, m in COMMITTEE_RULES])
@settings(FUZZ, max_examples=ROUTE_EXAMPLES)
@given(data=st.data())
def test_every_committee_route_survives_any_request(workspace, rule, method, data):
    actor = data.draw(st.sampled_from(ACTORS), label="actor")
    _still_logged_in(workspace, actor)
    client = workspace["people"][actor].client
    path = _path(data.draw, workspace, rule)
    if data.draw(st.integers(0, 4), label="query?") == 0:
        path += "?" + "&".join(
            f"{_quote(k)}={_quote(v)}"
            for k, v in data.draw(
                st.dictionaries(
                    st.one_of(st.sampled_from(["after", "page", "lang", "q", "unit"]), TEXT),
                    st.one_of(TEXT, ODD),
                    max_size=3,
                ),
                label="query",
            ).items()
        )
    token = data.draw(st.sampled_from([workspace["tokens"][actor]] * 4 + ["", "x", "a" * 80]), label="csrf")
    kwargs = data.draw(bodies(), label="body") if method != "GET" else {}
    if isinstance(kwargs.get("data"), dict):
        kwargs["data"].setdefault("csrf_token", token)
    resp = client.open(path, method=method, headers={"X-CSRFToken": token}, **kwargs)
    check(workspace, resp, (actor, method, path))


def test_the_fuzzed_routes_include_every_kind_of_committee_work():
    """The list the properties run over came from the URL map and holds the routes that
    change things: if discovery broke, this fails rather than fuzzing nothing."""
    paths = {rule for rule, _method in COMMITTEE_RULES}
    for expected in (
        "/committee/cases/<case_id>/disposition",
        "/committee/cases/<case_id>/confirm/<pending_id>",
        "/committee/api/cases/<case_id>/grants",
        "/committee/admin/members/<username>/deactivate",
        "/committee/notices",
        "/committee/surveys/<survey_id>/edit",
        "/committee/logout",
    ):
        assert expected in paths
    assert len(COMMITTEE_RULES) >= 35
