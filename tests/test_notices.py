"""Pre-appointment notices (任前公示): publishing (a window of at least five working days),
the public pages, comments sealed and routed like reports while the window is open (to
the second), a clear refusal once it has closed, and the committee's content-free summary."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys
from whistle import catalog
from whistle.cases import store as cases
from whistle.channels import notices
from whistle.rules import parse as rules_mod
from whistle.clock import today
from whistle.models import AuditEntry, Case, Notice, new_id
from whistle.triage.deadlines import WorkCalendar
from whistle.services import services

from tests.client_side import MEM, OPS, credentials, new_locator, proof_of_work
from tests.committee.conftest import enrol
from tests.helpers import receipt_from
from tests.triage import EXAMPLE_TEXT

TZ = "Asia/Shanghai"
SHANGHAI = ZoneInfo(TZ)
EN = {"Accept-Language": "en"}
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def add_notice(session, opens_on, closes_on, name="王候选", department="transport") -> Notice:
    notice = Notice(
        id=new_id(),
        candidate_name=name,
        current_post="交通运输局副局长",
        proposed_post="交通运输局局长",
        department=department,
        opens_on=opens_on,
        closes_on=closes_on,
        published_on=opens_on,
        published_by="he.ping",
    )
    session.add(notice)
    session.commit()
    return notice


def open_notice(session, **kw) -> Notice:
    now = today(TZ)
    return add_notice(session, now, now + 10 * DAY, **kw)


def notice_header(notice, **changes) -> dict:
    header = {
        "channel": "notice",
        "department": notice.department,
        "category": "integrity",
        "accused_rank": "leadership",
        "money_band": "10k_100k",
        "frequency": "several",
        "evidence": "witnesses",
        "notice": notice.id,
    }
    header.update(changes)
    return header


def comment(client, notice, narrative="COMMENT-MARKER", headers=None, **changes):
    """A comment sealed as report.js seals it; returns (response, code)."""
    header = notice_header(notice, **changes)
    answer = client.post("/api/v1/recipients", json=header, headers=headers or {})
    if answer.status_code != 200:
        return answer, None
    recipients = answer.get_json()["recipients"]
    locator, token = new_locator(client)
    code = ReceiptCode.generate(locator=locator)
    salt = random_bytes(16)
    keys = derive_reporter_keys(code, salt, OPS, MEM)
    sealed = env.seal(
        "report",
        env.bind_reporter_key(header, keys.keypair.public),
        {"narrative": narrative, "attachments": []},
        [unb64u(r["public_key"]) for r in recipients],
    )
    submission = {
        "locator": locator,
        "locator_token": token,
        "salt": b64u(salt),
        "kdf": {"opslimit": OPS, "memlimit": MEM},
        "lookup": b64u(keys.lookup),
        "reporter_public_key": b64u(keys.keypair.public),
        "envelope": sealed.envelope,
        "pow": proof_of_work(client),
    }
    return client.post("/api/v1/reports", json=submission, headers=headers or {}), code


# -- the window -----------------------------------------------------------------------------


def test_window_state_to_the_second():
    notice = Notice(opens_on=dt.date(2026, 6, 1), closes_on=dt.date(2026, 6, 5))
    opens = dt.datetime(2026, 6, 1, tzinfo=SHANGHAI)
    closes = dt.datetime(2026, 6, 6, tzinfo=SHANGHAI)  # 24:00 of the last day
    assert notices.window_state(notice, opens - SECOND, TZ) == "upcoming"
    assert notices.window_state(notice, opens, TZ) == "open"
    assert notices.window_state(notice, closes - SECOND, TZ) == "open"
    assert notices.window_state(notice, closes, TZ) == "closed"
    assert notices.window_state(notice, closes + SECOND, TZ) == "closed"
    # Any aware instant works: 23:59:59 UTC on 31 May is 07:59:59 in Shanghai on 1 June.
    assert notices.window_state(notice, dt.datetime(2026, 5, 31, 15, 59, 59, tzinfo=dt.timezone.utc), TZ) == "upcoming"
    assert notices.window_state(notice, dt.datetime(2026, 5, 31, 16, 0, 0, tzinfo=dt.timezone.utc), TZ) == "open"
    with pytest.raises(ValueError):
        notices.window_state(notice, dt.datetime(2026, 6, 2), TZ)  # naive: which zone?


def _store_comment(app, session, notice, now):
    """cases.create_case as the API calls it, at the instant ``now``."""
    rules = services(app).rules
    header = notice_header(notice)
    recipients = cases.recipients_for(session, rules, header)
    code = ReceiptCode.generate(cases.unused_locator(session))
    keys = derive_reporter_keys(code, random_bytes(16), OPS, MEM)
    sealed = env.seal(
        "report",
        env.bind_reporter_key(header, keys.keypair.public),
        {"narrative": "x"},
        [r.public_key for r in recipients],
    )
    case = cases.create_case(
        session,
        locator=code.locator,
        salt=random_bytes(16),
        opslimit=OPS,
        memlimit=MEM,
        verifier=keys.verifier,
        reporter_pk=keys.keypair.public,
        envelope=sealed.envelope,
        uploads=[],
        rules=rules,
        on=now.date(),
        now=now,
        tz=TZ,
    )
    session.commit()
    return case


def test_a_comment_a_second_outside_the_window_is_refused(app, committee, db_session):
    notice = add_notice(db_session, dt.date(2026, 6, 1), dt.date(2026, 6, 5))
    opens = dt.datetime(2026, 6, 1, tzinfo=SHANGHAI)
    closes = dt.datetime(2026, 6, 6, tzinfo=SHANGHAI)
    with pytest.raises(notices.NoticeNotOpen):
        _store_comment(app, db_session, notice, opens - SECOND)
    db_session.rollback()
    with pytest.raises(notices.NoticeClosed):
        _store_comment(app, db_session, notice, closes + SECOND)
    db_session.rollback()
    with pytest.raises(notices.NoticeClosed):
        _store_comment(app, db_session, notice, closes)
    db_session.rollback()
    assert db_session.scalar(select(Case)) is None
    first = _store_comment(app, db_session, notice, opens)
    last = _store_comment(app, db_session, notice, closes - SECOND)
    assert first.notice_id == last.notice_id == notice.id
    assert first.received_on == dt.date(2026, 6, 1) and last.received_on == dt.date(2026, 6, 5)


def test_a_window_shorter_than_five_working_days_across_a_holiday_is_rejected(app):
    rules = services(app).rules
    calendar = WorkCalendar(rules)

    def draft(opens, closes):
        return notices.Draft("王候选", "副局长", "局长", "transport", opens, closes)

    # 29 Sep to 9 Oct 2026 is eleven days, but the National Day holiday leaves four working days.
    short = draft(dt.date(2026, 9, 29), dt.date(2026, 10, 9))
    assert notices.working_days(calendar, short.opens_on, short.closes_on) == 4
    assert notices.problems(short, rules, calendar, dt.date(2026, 9, 1)) == {"closes_on": "too_short"}
    ok = draft(dt.date(2026, 9, 28), dt.date(2026, 10, 9))
    assert notices.working_days(calendar, ok.opens_on, ok.closes_on) == 5
    assert notices.problems(ok, rules, calendar, dt.date(2026, 9, 1)) == {}
    # Five plain weekdays are enough; other mistakes are named too.
    assert (
        notices.problems(draft(dt.date(2026, 11, 30), dt.date(2026, 12, 4)), rules, calendar, dt.date(2026, 11, 25))
        == {}
    )
    assert notices.problems(
        draft(dt.date(2026, 12, 4), dt.date(2026, 11, 30)), rules, calendar, dt.date(2026, 11, 25)
    ) == {"closes_on": "order"}
    assert notices.problems(
        notices.Draft("", "x", "y", "nowhere", None, dt.date(2026, 12, 4)), rules, calendar, dt.date(2026, 11, 25)
    ) == {"candidate_name": "required", "department": "unknown", "opens_on": "date"}
    assert notices.problems(
        draft(dt.date(2026, 11, 1), dt.date(2026, 11, 30)), rules, calendar, dt.date(2026, 11, 25)
    ) == {"opens_on": "past"}


def test_a_window_far_away_or_of_centuries_is_rejected(app):
    rules = services(app).rules
    calendar = WorkCalendar(rules)
    now = dt.date(2026, 11, 25)

    def draft(opens, closes):
        return notices.Draft("王候选", "副局长", "局长", "transport", opens, closes)

    assert notices.problems(draft(dt.date(9999, 12, 1), dt.date(9999, 12, 31)), rules, calendar, now) == {
        "opens_on": "too_far"
    }
    assert notices.problems(draft(now, dt.date(9999, 12, 31)), rules, calendar, now) == {"closes_on": "too_wide"}
    assert notices.problems(draft(dt.date(1, 1, 1), dt.date(1, 1, 31)), rules, calendar, now) == {"opens_on": "past"}
    assert notices.problems(draft(dt.date(1, 1, 1), now), rules, calendar, now) == {
        "opens_on": "past",
        "closes_on": "too_wide",
    }
    # A year ahead, a year long: generous, still taken.
    far = now + notices.MAX_LEAD_DAYS * DAY
    assert notices.problems(draft(far, far + notices.MAX_WINDOW_DAYS * DAY), rules, calendar, now) == {}


def test_notices_stored_at_the_edge_of_the_calendar_still_render(app, client, committee, db_session):
    """Windows the form refuses, stored before it did: no page or API call fails on them."""
    he = enrol(app, "he.ping")
    now = today(TZ)
    endless = add_notice(db_session, now, dt.date.max, name="ENDLESS-候选")
    last_days = add_notice(db_session, dt.date(9999, 12, 1), dt.date.max, name="LAST-候选")
    first_days = add_notice(db_session, dt.date.min, dt.date(1, 1, 31), name="FIRST-候选")
    assert notices.window_state(endless, dt.datetime.now(SHANGHAI), TZ) == "open"
    assert notices.window_state(last_days, dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=SHANGHAI), TZ) == "open"
    assert notices.window_state(first_days, dt.datetime.min.replace(tzinfo=SHANGHAI), TZ) == "open"
    assert notices.working_days(WorkCalendar(), dt.date.min, dt.date(1, 1, 7)) == 5
    assert notices.working_days(WorkCalendar(), now, dt.date.max) is None  # not counted day by day
    for notice in (endless, last_days, first_days):
        assert client.get(f"/notices/{notice.id}", headers=EN).status_code == 200
        assert client.get(f"/report/notice/{notice.id}", headers=EN).status_code == 200
        page = he.client.get(f"/committee/notices/{notice.id}?lang=en")
        assert page.status_code == 200
        assert ("working day" in page.get_data(as_text=True)) == (notice is not endless)
    assert client.get("/notices").status_code == 200 and he.client.get("/committee/notices").status_code == 200
    assert client.post("/api/v1/recipients", json=notice_header(endless)).status_code == 200
    assert client.post("/api/v1/recipients", json=notice_header(last_days)).get_json()["error"] == "notice_not_open"
    assert client.post("/api/v1/recipients", json=notice_header(first_days)).get_json()["error"] == "notice_closed"


def _next_weekday(day: dt.date, weekday: int) -> dt.date:
    while day.weekday() != weekday:
        day += DAY
    return day


def test_publishing_form(app, committee, db_session):
    he, zhao, chen = enrol(app, "he.ping"), enrol(app, "zhao.lei"), enrol(app, "chen.jie")
    assert zhao.client.get("/committee/notices").status_code == 403  # not the notice units
    assert chen.client.get("/committee/notices").status_code == 200  # also_units: sees, cannot publish
    calendar = WorkCalendar(services(app).rules)
    friday = _next_weekday(today(TZ) + 7 * DAY, 4)
    while not calendar.is_workday(friday):
        friday = _next_weekday(friday + DAY, 4)
    wednesday = friday + 5 * DAY  # Fri, Mon, Tue, Wed: six days, four working days at most
    form = {
        "candidate_name": "李候选",
        "current_post": "水利局副局长",
        "proposed_post": "水利局局长",
        "department": "water",
        "opens_on": friday.isoformat(),
        "closes_on": wednesday.isoformat(),
    }
    assert chen.post("/committee/notices", form).status_code == 403
    resp = he.post("/committee/notices?lang=en", form)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "must include at least 5 working days" in html and "aria-invalid" in html
    assert db_session.scalar(select(Notice)) is None
    # A mistyped year is refused with a message, not published for the year 9999.
    resp = he.post("/committee/notices?lang=en", dict(form, opens_on="9999-12-01", closes_on="9999-12-31"))
    assert resp.status_code == 400
    assert "cannot start more than 366 days from today" in resp.get_data(as_text=True)
    resp = he.post("/committee/notices?lang=en", dict(form, closes_on="9999-12-31"))
    assert resp.status_code == 400
    assert "cannot be more than 366 days after the first day" in resp.get_data(as_text=True)
    assert db_session.scalar(select(Notice)) is None
    form["closes_on"] = (friday + 14 * DAY).isoformat()
    resp = he.post("/committee/notices", form)
    assert resp.status_code == 303
    notice = db_session.scalar(select(Notice))
    assert (notice.candidate_name, notice.department, notice.published_by) == ("李候选", "water", "he.ping")
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "notice_published"))
    assert entry.actor == "he.ping" and json.loads(entry.detail)["notice"] == notice.id
    assert "李候选" in he.client.get("/committee/notices").get_data(as_text=True)
    # Not open yet: the public page says so and offers no form.
    page = app.test_client().get(f"/notices/{notice.id}", headers=EN)
    assert page.status_code == 200 and "has not opened yet" in page.get_data(as_text=True)


# -- public pages and comments ---------------------------------------------------------------


def test_public_list_shows_open_and_recently_closed_notices(client, committee, db_session):
    now = today(TZ)
    add_notice(db_session, now - 2 * DAY, now + 5 * DAY, name="OPEN-候选")
    add_notice(db_session, now - 20 * DAY, now - 10 * DAY, name="RECENT-候选")
    add_notice(db_session, now - 60 * DAY, now - 40 * DAY, name="OLD-候选")
    add_notice(db_session, now + 3 * DAY, now + 12 * DAY, name="LATER-候选")
    html = client.get("/notices", headers=EN).get_data(as_text=True)
    assert "OPEN-候选" in html and "RECENT-候选" in html
    assert "OLD-候选" not in html and "LATER-候选" not in html
    assert html.index("OPEN-候选") < html.index("RECENT-候选")
    assert "Comment or report" in html
    assert "/notices" in client.get("/", headers=EN).get_data(as_text=True)
    assert client.get("/report/notice").status_code == 302  # comments start from a notice


def test_a_comment_is_sealed_and_routed_like_a_report(app, client, committee, db_session):
    he, chen, zhao = enrol(app, "he.ping"), enrol(app, "chen.jie"), enrol(app, "zhao.lei")
    notice = open_notice(db_session)
    page = client.get(f"/notices/{notice.id}", headers=EN).get_data(as_text=True)
    assert "王候选" in page and f"/report/notice/{notice.id}" in page
    form = client.get(f"/report/notice/{notice.id}", headers=EN).get_data(as_text=True)
    assert f'data-notice="{notice.id}"' in form and "Give your name (optional)" in form
    assert "named reports are answered" in form
    resp, code = comment(client, notice)
    assert resp.status_code == 201, resp.get_json()
    case = db_session.scalar(select(Case))
    assert (case.channel, case.notice_id, case.handling_unit) == ("notice", notice.id, "org_cadre_supervision")
    assert catalog.routing_header(case)["notice"] == notice.id
    kids = set(env.recipient_kids(json.loads(case.items[0].envelope)))
    assert he.keypair.kid in kids and chen.keypair.kid in kids and zhao.keypair.kid not in kids
    assert env.open_envelope(json.loads(case.items[0].envelope), he.keypair)[0]["narrative"] == "COMMENT-MARKER"
    page = he.client.get(f"/committee/cases/{case.id}?lang=en").get_data(as_text=True)
    assert f"/committee/notices/{notice.id}" in page and "Integrity: bribes, gifts or abuse of office" in page
    # Same receipt, same follow-up.
    creds, _keys = credentials(client, code)
    assert client.post("/api/v1/followup", json=creds).get_json()["status"] == "received"
    # The department is the notice's, whatever the browser says.
    bad, _ = comment(client, notice, department="housing")
    assert bad.status_code == 400


def test_the_notice_field_belongs_to_the_notice_channel_only():
    departments = {"transport": object()}
    base = {
        "department": "transport",
        "accused_rank": "staff",
        "money_band": "none",
        "frequency": "once",
        "evidence": "none",
    }
    notice_id = new_id()
    assert (
        catalog.routing_problems(dict(base, channel="notice", category="integrity", notice=notice_id), departments)
        == []
    )
    assert catalog.routing_problems(dict(base, channel="notice", category="integrity"), departments) == ["notice"]
    assert catalog.routing_problems(
        dict(base, channel="notice", category="integrity", notice="NOT-AN-ID"), departments
    ) == ["notice"]
    assert catalog.routing_problems(
        dict(base, channel="general", category="bribery", notice=notice_id), departments
    ) == ["notice"]
    assert catalog.routing_problems(dict(base, channel="general", category="integrity"), departments) == ["category"]


def test_nojs_comment_with_a_name(app, client, committee, db_session):
    enrol(app, "chen.jie")
    notice = open_notice(db_session, department="water")
    data = {
        "department": "housing",  # ignored: the notice's department is used
        "accused_rank": "leadership",
        "category": "qualifications",
        "money_band": "none",
        "frequency": "once",
        "evidence": "can_provide",
        "narrative": "NOJS-COMMENT",
        "identity_name": "赵实名",
        "identity_contact": "zhao@example.invalid",
    }
    resp = client.post(f"/report/notice/{notice.id}", data=data, content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:1000]
    receipt_from(resp.get_data(as_text=True))
    case = db_session.scalar(select(Case))
    assert case.real_name and case.department == "water" and case.notice_id == notice.id
    assert [i.kind for i in case.items] == ["report", "identity"]


def test_after_the_window_closes_no_comment_is_accepted(app, client, committee, db_session):
    now = today(TZ)
    notice = add_notice(db_session, now - 10 * DAY, now - DAY)
    message = "The comment window of this notice has closed"
    page = client.get(f"/notices/{notice.id}", headers=EN)
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    assert f'/report/notice/{notice.id}"' not in page.get_data(as_text=True).replace("action=", "")
    form = client.get(f"/report/notice/{notice.id}", headers=EN)
    assert form.status_code == 200 and message in form.get_data(as_text=True)
    assert 'id="report-form"' not in form.get_data(as_text=True)
    data = {
        "accused_rank": "staff",
        "category": "integrity",
        "money_band": "none",
        "frequency": "once",
        "evidence": "none",
        "narrative": "LATE",
    }
    late = client.post(f"/report/notice/{notice.id}", data=data, content_type="multipart/form-data", headers=EN)
    assert late.status_code == 409
    html = late.get_data(as_text=True)
    assert message in html and "We could not do that" not in html  # the notice's page, not an error page
    resp, _ = comment(client, notice, headers=EN)
    assert resp.status_code == 409 and resp.get_json()["error"] == "notice_closed"
    assert message in resp.get_json()["message"]
    # In the reporter's language (a translatable message, like every error of the API).
    assert isinstance(notices.NoticeClosed.message, type(catalog.CHANNELS["notice"]))
    # Straight to /api/v1/reports, past the recipients check: refused as well.
    open_one = open_notice(db_session)
    header = notice_header(notice)
    recipients = client.post("/api/v1/recipients", json=notice_header(open_one)).get_json()["recipients"]
    locator, token = new_locator(client)
    code = ReceiptCode.generate(locator=locator)
    salt = random_bytes(16)
    keys = derive_reporter_keys(code, salt, OPS, MEM)
    sealed = env.seal(
        "report",
        env.bind_reporter_key(header, keys.keypair.public),
        {"narrative": "x"},
        [unb64u(r["public_key"]) for r in recipients],
    )
    resp = client.post(
        "/api/v1/reports",
        headers=EN,
        json={
            "locator": locator,
            "locator_token": token,
            "salt": b64u(salt),
            "kdf": {"opslimit": OPS, "memlimit": MEM},
            "lookup": b64u(keys.lookup),
            "reporter_public_key": b64u(keys.keypair.public),
            "envelope": sealed.envelope,
            "pow": proof_of_work(client),
        },
    )
    assert resp.status_code == 409 and resp.get_json()["error"] == "notice_closed"
    assert db_session.scalar(select(Case)) is None
    # An unknown notice is a plain 404 page.
    assert client.get(f"/notices/{new_id()}").status_code == 404


def test_the_committee_summary_counts_without_content(app, client, committee, db_session):
    he, chen, zhao = enrol(app, "he.ping"), enrol(app, "chen.jie"), enrol(app, "zhao.lei")
    notice = open_notice(db_session)
    for n in range(3):
        assert comment(client, notice, narrative=f"SUMMARY-MARKER-{n}")[0].status_code == 201
    ids = sorted(db_session.scalars(select(Case.id)))
    he.post(f"/committee/cases/{ids[0]}/disposition", {"disposition": "talk_inquiry"})
    he.post(f"/committee/cases/{ids[1]}/disposition", {"disposition": "not_accepted", "reason": "no facts"})
    resp = he.client.get(f"/committee/notices/{notice.id}?lang=en")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<strong id="comment-count">3</strong>' in html
    summary = notices.summary(db_session, services(app).rules, notice)
    assert summary["comments"] == 3
    assert dict(summary["units"]) == {"org_cadre_supervision": 3, "county_cdi": 3}
    assert dict(summary["dispositions"]) == {"": 1, "talk_inquiry": 1, "not_accepted": 1}
    assert "Talk or written inquiry" in html and "Not accepted" in html and "Not decided yet" in html
    assert "Organization Department, Cadre Supervision Section" in html
    assert "SUMMARY-MARKER" not in html and "no facts" not in html
    assert not any(case_id in html or case_id[:8] in html for case_id in ids)
    assert chen.client.get(f"/committee/notices/{notice.id}").status_code == 200
    assert zhao.client.get(f"/committee/notices/{notice.id}").status_code == 403
    # The candidate's department merged away in a later rules file: counted where each comment went.
    start = EXAMPLE_TEXT.index('[[departments]]\ncode = "transport"')
    merged = rules_mod.parse(EXAMPLE_TEXT[:start] + EXAMPLE_TEXT[EXAMPLE_TEXT.index("[[departments]]", start + 1) :])
    assert "transport" not in merged.department_codes
    gone = notices.summary(db_session, merged, notice)
    assert gone["comments"] == 3 and sum(count for _unit, count in gone["units"]) == 3


def test_a_member_of_the_candidates_department_sees_neither_the_notice_nor_its_summary(config, tmp_path):
    """A conflict in a notice is a conflict as in a case about the candidate's department."""
    from sqlalchemy.orm import Session

    from tests.conftest import build_app
    from whistle.custody import offline

    text = config.rules_file.read_text(encoding="utf-8")
    for username, unit, role in (
        ("liu.yang", "county_cdi", "member"),
        ("he.ping", "org_cadre_supervision", "unit_lead"),
    ):
        entry = f'username = "{username}"\nunit = "{unit}"\nrole = "{role}"\n'
        assert entry in text
        text = text.replace(entry, entry + 'departments = ["transport"]\n')
    path = tmp_path / "rules-conflict.toml"
    path.write_text(text, encoding="utf-8")
    app = build_app(config.with_(rules_file=path))
    try:
        with Session(services(app).engine) as session:
            offline.init_keys(
                session,
                tmp_path / "committee.key",
                "a key passphrase",
                "test",
                today(TZ),
                opslimit=1,
                memlimit=8 * 1024 * 1024,
            )
            session.commit()
            transport = open_notice(session, name="TRANSPORT-候选")
            water = open_notice(session, name="WATER-候选", department="water")
            liu, chen, he = enrol(app, "liu.yang"), enrol(app, "chen.jie"), enrol(app, "he.ping")
            assert comment(app.test_client(), transport)[0].status_code == 201
            listed = liu.client.get("/committee/notices").get_data(as_text=True)
            assert "WATER-候选" in listed and "TRANSPORT-候选" not in listed
            assert liu.client.get(f"/committee/notices/{water.id}").status_code == 200
            refused = liu.client.get(f"/committee/notices/{transport.id}")
            assert refused.status_code == 404 and 'id="comment-count"' not in refused.get_data(as_text=True)
            entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "refused_view"))
            assert entry.actor == "liu.yang" and json.loads(entry.detail) == {
                "notice": transport.id,
                "reason": "conflict",
            }
            # Not conflicted: the summary as before.
            assert "TRANSPORT-候选" in chen.client.get("/committee/notices").get_data(as_text=True)
            page = chen.client.get(f"/committee/notices/{transport.id}").get_data(as_text=True)
            assert '<strong id="comment-count">1</strong>' in page
            # The publisher may publish for their own department, but is not shown its summary.
            form = {
                "candidate_name": "OWN-候选",
                "current_post": "副局长",
                "proposed_post": "局长",
                "department": "transport",
                "opens_on": transport.opens_on.isoformat(),
                "closes_on": transport.closes_on.isoformat(),
            }
            published = he.post("/committee/notices", form)
            assert published.status_code == 303 and published.headers["Location"].endswith("/committee/notices")
            assert "OWN-候选" not in he.client.get("/committee/notices").get_data(as_text=True)
    finally:
        services(app).engine.dispose()


def test_notices_keep_no_insertion_order(app):
    """Random ids, and on SQLite no hidden rowid either; dates only."""
    from sqlalchemy import DateTime, Time, text

    engine = services(app).engine
    assert not any(isinstance(c.type, (DateTime, Time)) for c in Notice.__table__.columns)
    if engine.dialect.name != "sqlite":
        pytest.skip("rowid is SQLite's")
    with engine.connect() as conn:
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'notices'")).scalar()
    assert sql.rstrip().endswith("WITHOUT ROWID")
