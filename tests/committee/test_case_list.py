"""The member's case list through HTTP on a real database: the order across tiers and grades,
page after page by following the Next links (keyset cursors), only granted cases, both ways
of reading (walking the case indexes for a member holding many cases, sorting the grants of
one holding few), the bounded new-case count, junk cursors, and the migration's indexes."""

import base64
import datetime as dt
import itertools
import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text

from whistle import migrate
from whistle.clock import today as day_in
from whistle.committee import case_listing, triage_view, workspace
from whistle.db import make_engine
from whistle.models import Case, CaseEvent, CaseGrant, Member
from whistle.triage.deadlines import WorkCalendar
from whistle.services import services

from tests.client_side import HEADER
from tests.committee.conftest import enrol
from tests.triage import example

LIST_INDEXES = {"ix_case_grants_member_case", "ix_cases_grade_received", "ix_cases_open_grade_received"}
NOTICE_INDEX = "ix_cases_real_name_grade_received"
GRADES = ["high", "medium", "low", "critical", "aaa"]  # two outside GRADE_ORDER, one sorting before "high"
STATUSES = ["received", "in_review", "closed"]
ROW_LINK = re.compile(r'href="/committee/cases/([0-9a-f]{32})"')
# A CSRF token carries the second it was made: two requests a second apart differ in it alone.
CSRF_TOKEN = re.compile(r'(name="csrf[-_]token" (?:content|value)=)"[^"]*"')


def _page(resp) -> str:
    """A page's HTML with its CSRF tokens blanked, so two renderings can be compared."""
    return CSRF_TOKEN.sub(r'\1""', resp.get_data(as_text=True))


NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next">')


@pytest.fixture
def members(app, committee):
    """Two enrolled, logged-in members: zhao.lei and li.na."""
    return {name: enrol(app, name) for name in ("zhao.lei", "li.na")}


@pytest.fixture(params=["index walk", "sorted grants"])
def reading(request, monkeypatch):
    """Either way of reading a member's list, whatever their number of grants."""
    monkeypatch.setattr(case_listing, "FEW_GRANTS", 0 if request.param == "index walk" else 10_000)
    return request.param


def _days(app) -> tuple[dt.date, dt.date]:
    """Today in the committee's time zone and the last day that counts as due soon."""
    today = day_in(services(app).config.timezone)
    with app.app_context():
        return today, triage_view.soon_limit(today)


def _deadlines(today: dt.date, soon: dt.date) -> list[tuple]:
    """(ack_due, feedback_due) pairs reaching every tier, the edges of "due soon" included,
    and rows from before deadlines were recorded (no ack_due, or no deadline at all)."""
    return [
        (today - dt.timedelta(days=3), today + dt.timedelta(days=30)),  # overdue
        (today, today + dt.timedelta(days=30)),  # due today: due soon
        (soon, soon + dt.timedelta(days=30)),  # the last day of due soon
        (soon + dt.timedelta(days=1), soon + dt.timedelta(days=30)),  # later
        (None, today - dt.timedelta(days=1)),  # no ack_due, feedback overdue
        (None, soon),  # no ack_due, feedback due soon
        (None, None),
    ]  # no deadline at all


def _closing_days(today: dt.date, soon: dt.date) -> list[dt.date]:
    """Days a real-name case may have been closed on, at the edges of the tiers of its notice
    of the result (due n working days after closing): the last day that makes it overdue,
    the first that makes it due today, the last that makes it due by ``soon``, the first
    that makes it due later."""
    rules = example()
    calendar = WorkCalendar(rules)
    due = {
        day: calendar.add_workdays(day, rules.deadlines.real_name_result)
        for day in (today - dt.timedelta(days=n) for n in range(60, -1, -1))
    }
    return [
        max(day for day, on in due.items() if on < today),
        min(day for day, on in due.items() if on >= today),
        max(day for day, on in due.items() if on <= soon),
        min(day for day, on in due.items() if on > soon),
    ]


def _add_cases(db_session, today: dt.date, soon: dt.date, holders_of) -> list[Case]:
    """Cases over every deadline, status and grade, two received on the same day (so the id
    breaks the tie); ``holders_of(n)`` names the member ids granted case number n. Their
    timelines vary too: some cases in review have had an interim reply (the feedback is still
    due) or a decision and a reply after it (no deadline left), and closed
    ones are anonymous or real-name, closed on the days of _closing_days (some closed, told
    and reopened before), with or without the notice of the result sent since."""
    received_days = [today - dt.timedelta(days=40), today - dt.timedelta(days=40), today - dt.timedelta(days=5)]
    closing_days = _closing_days(today, soon)
    made = []
    for n, ((ack, feedback), status, grade, received) in enumerate(
        itertools.product(_deadlines(today, soon), STATUSES, GRADES, received_days)
    ):
        case = Case(
            locator=f"{n:07d}",
            salt=bytes(16),
            kdf_opslimit=1,
            kdf_memlimit=8 * 1024 * 1024,
            verifier=bytes(32),
            reporter_pk=bytes(32),
            status=status,
            received_on=received,
            item_count=1,
            risk_grade=grade,
            ack_due=ack,
            feedback_due=feedback,
            **HEADER,
            # (a grade outside the rules has no deadlines to count a notice with)
            real_name=status == "closed" and n % 3 > 0 and grade in case_listing.GRADE_ORDER,
        )
        db_session.add(case)
        db_session.flush()
        events = [("received", received)]
        if status == "in_review":
            events += (
                [("acknowledged", received), ("in_review", received)]
                + [("feedback_sent", received)] * (n % 2)
                + [("disposition", received), ("feedback_sent", received)] * (n % 4 == 3)
            )
        if status == "closed":
            closed = closing_days[n % len(closing_days)]
            events += [("acknowledged", received)]
            if n % 5 == 4:  # closed once before, told, reopened: the notice counts from the last closing
                events += [("closed", received), ("feedback_sent", received), ("in_review", received)]
            events += [("closed", closed)] + [("feedback_sent", closed)] * (n % 3 == 2)
        for seq, (event, day) in enumerate(events, start=1):
            db_session.add(CaseEvent(case_id=case.id, seq=seq, event=event, happened_on=day))
        for member_id in holders_of(n):
            db_session.add(CaseGrant(case_id=case.id, member_id=member_id, granted_on=received))
        made.append(case)
    db_session.commit()
    return made


def _list_order(app, cases: list[Case], today: dt.date, soon: dt.date) -> list[str]:
    """The list's order, computed here from the deadline each case's badge shows
    (triage_view._next_due): past it, then due by ``soon``, then the rest (no deadline, or
    due later); within each, grades high, medium, low, then any other; then received, then id."""

    def key(case):
        _kind, due = triage_view._next_due(case)
        tier = 0 if due and due < today else 1 if due and due <= soon else 2
        return tier, case_listing.GRADE_ORDER.get(case.risk_grade, 3), case.received_on, case.id

    with app.app_context():
        return [case.id for case in sorted(cases, key=key)]


def _member_id(db_session, username: str) -> str:
    return db_session.scalar(select(Member.id).where(Member.username == username))


def _walk(person) -> list[list[str]]:
    """Every page of the member's list, following the Next links from the first page."""
    pages, path = [], "/committee/"
    while path:
        resp = person.client.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        html = resp.get_data(as_text=True)
        pages.append(ROW_LINK.findall(html))
        found = NEXT_LINK.search(html)
        path = found.group(1).replace("&amp;", "&") if found else None
        assert len(pages) < 500, "the Next links do not end"
    return pages


def test_pages_follow_the_list_order_across_tiers_and_grades(app, members, db_session, reading, monkeypatch):
    monkeypatch.setattr(workspace, "PAGE_SIZE", 7)
    today, soon = _days(app)
    zhao = _member_id(db_session, "zhao.lei")
    cases = _add_cases(db_session, today, soon, lambda n: [zhao])

    pages = _walk(members["zhao.lei"])

    assert [row for page in pages for row in page] == _list_order(app, cases, today, soon)
    assert all(len(page) == 7 for page in pages[:-1]) and 0 < len(pages[-1]) <= 7
    assert "First page" not in members["zhao.lei"].client.get("/committee/").get_data(as_text=True)


def test_every_page_shows_only_granted_cases(app, members, db_session, reading, monkeypatch):
    monkeypatch.setattr(workspace, "PAGE_SIZE", 5)
    today, soon = _days(app)
    zhao, li = _member_id(db_session, "zhao.lei"), _member_id(db_session, "li.na")
    cases = _add_cases(db_session, today, soon, lambda n: [zhao] if n % 3 else [zhao, li])
    held_by_li = [case for n, case in enumerate(cases) if n % 3 == 0]

    pages = _walk(members["li.na"])

    assert [row for page in pages for row in page] == _list_order(app, held_by_li, today, soon)
    later = members["li.na"].client.get(
        NEXT_LINK.search(members["li.na"].client.get("/committee/").get_data(as_text=True))
        .group(1)
        .replace("&amp;", "&")
    )
    assert "First page" in later.get_data(as_text=True)


def test_a_cursor_naming_someone_elses_case_still_lists_only_mine(app, members, db_session, reading, monkeypatch):
    monkeypatch.setattr(workspace, "PAGE_SIZE", 4)
    today, soon = _days(app)
    zhao, li = _member_id(db_session, "zhao.lei"), _member_id(db_session, "li.na")
    cases = _add_cases(db_session, today, soon, lambda n: [li] if n % 2 else [zhao])
    mine = {case.id for n, case in enumerate(cases) if n % 2}
    zhaos = sorted((case for n, case in enumerate(cases) if n % 2 == 0), key=lambda c: c.id)[len(cases) // 4]
    cursor = case_listing.Position(0, zhaos.received_on, zhaos.id).encode()

    resp = members["li.na"].client.get(f"/committee/?after={cursor}&on={today.isoformat()}")

    assert resp.status_code == 200
    shown = ROW_LINK.findall(resp.get_data(as_text=True))
    assert shown and set(shown) <= mine


def test_old_page_numbers_get_the_first_page(app, members, db_session):
    today, soon = _days(app)
    zhao = _member_id(db_session, "zhao.lei")
    _add_cases(db_session, today, soon, lambda n: [zhao])
    person = members["zhao.lei"]
    assert _page(person.client.get("/committee/?page=3")) == _page(person.client.get("/committee/"))


def test_a_cursor_past_the_end_goes_back_to_the_first_page(app, members):
    today, _soon = _days(app)
    cursor = case_listing.Position(case_listing.SEGMENTS - 1, dt.date(9999, 12, 31), "f" * 32).encode()
    resp = members["zhao.lei"].client.get(f"/committee/?after={cursor}&on={today.isoformat()}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/committee/")


def test_a_next_link_from_another_day_starts_the_list_again(app, members, db_session, monkeypatch):
    monkeypatch.setattr(workspace, "PAGE_SIZE", 3)
    today, soon = _days(app)
    zhao = _member_id(db_session, "zhao.lei")
    _add_cases(db_session, today, soon, lambda n: [zhao])
    person = members["zhao.lei"]
    link = NEXT_LINK.search(person.client.get("/committee/").get_data(as_text=True)).group(1).replace("&amp;", "&")
    assert f"&on={today.isoformat()}" in link and person.client.get(link).status_code == 200
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    for stale in (link.replace(today.isoformat(), yesterday), link.replace(f"&on={today.isoformat()}", "")):
        resp = person.client.get(stale)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/committee/")


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


JUNK = [
    "",
    "x",
    "=",
    "%00",
    "!!!!",
    "a" * 81,
    "../../etc/passwd",
    "0.20250101." + "a" * 32,
    _b64("0.20250101." + "a" * 31),
    _b64("0.20250101." + "A" * 32),
    _b64("12.20250101." + "a" * 32),
    _b64("-1.20250101." + "a" * 32),
    _b64("0.20251301." + "a" * 32),
    _b64("0.2025-01-01." + "a" * 32),
    _b64("00.20250101." + "a" * 32),
    _b64("0.20250101." + "a" * 32) + "=",
    _b64("0.20250101." + "a" * 32 + "\n"),
    base64.urlsafe_b64encode(b"\xff\xfe" * 20).decode(),
    "写" * 10,
]


@pytest.mark.parametrize("cursor", JUNK, ids=range(len(JUNK)))
def test_a_junk_cursor_is_a_bad_request(app, members, cursor):
    resp = members["zhao.lei"].client.get("/committee/?" + urllib.parse.urlencode({"after": cursor}))
    assert resp.status_code == 400
    assert "The request could not be understood." in resp.get_data(as_text=True)


def test_a_junk_cursor_is_answered_in_the_members_language(app, members):
    resp = members["zhao.lei"].client.get("/committee/?after=junk!&lang=zh_Hant")
    assert resp.status_code == 400 and "無法識別這個請求。" in resp.get_data(as_text=True)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    cursor=st.one_of(
        st.text(max_size=90), st.binary(max_size=60).map(lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("="))
    )
)
def test_no_cursor_reaches_a_server_error(app, members, cursor):
    resp = members["zhao.lei"].client.get("/committee/?" + urllib.parse.urlencode({"after": cursor}))
    assert resp.status_code in (200, 302, 400), resp.status_code


def test_cursors_read_back_what_they_wrote():
    position = case_listing.Position(7, dt.date(2025, 1, 31), "0123456789abcdef" * 2)
    assert case_listing.Position.decode(position.encode()) == position


@pytest.mark.parametrize(
    "received, cap, shown",
    [
        (3, 5, "3 new cases are waiting for acknowledgement."),
        (3, 2, "More than 2 new cases are waiting for acknowledgement."),
    ],
)
def test_new_case_count_stops_at_the_cap(app, members, db_session, reading, monkeypatch, received, cap, shown):
    monkeypatch.setattr(case_listing, "NEW_COUNT_CAP", cap)
    today, soon = _days(app)
    zhao, li = _member_id(db_session, "zhao.lei"), _member_id(db_session, "li.na")
    cases = _add_cases(db_session, today, soon, lambda n: [li])
    waiting = [case for case in cases if case.status == "received"][:received]
    for case in waiting:
        db_session.add(CaseGrant(case_id=case.id, member_id=zhao, granted_on=today))
    db_session.commit()

    html = members["zhao.lei"].client.get("/committee/").get_data(as_text=True)

    assert re.search(r'id="new-count">\s*' + re.escape(shown), html)


def _indexes(engine) -> dict[str, str]:
    """The case list's indexes present, each with its definition as the database keeps it."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        else:
            rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes"))
        return {name: definition for name, definition in rows if name in LIST_INDEXES}


def test_migration_adds_and_drops_the_case_list_indexes(config):
    engine = make_engine(config.database_url)
    try:
        migrate.upgrade(engine, "0004s")
        assert _indexes(engine) == {}

        migrate.upgrade(engine, "0005")
        found = _indexes(engine)
        assert set(found) == LIST_INDEXES
        columns = {
            ix["name"]: ix["column_names"]
            for table in ("cases", "case_grants")
            for ix in inspect(engine).get_indexes(table)
        }
        assert columns["ix_case_grants_member_case"] == ["member_id", "case_id"]
        assert (
            columns["ix_cases_grade_received"]
            == columns["ix_cases_open_grade_received"]
            == ["risk_grade", "received_on", "id"]
        )
        assert re.search(r"WHERE \(*status\)*(::text)? (!=|<>) 'closed'", found["ix_cases_open_grade_received"])
        assert "WHERE" not in found["ix_cases_grade_received"]

        migrate.downgrade(engine, "0004s")
        assert _indexes(engine) == {}
    finally:
        engine.dispose()


def test_migration_adds_and_drops_the_real_name_index(config):
    engine = make_engine(config.database_url)
    try:
        migrate.upgrade(engine, "0005")
        assert NOTICE_INDEX not in {ix["name"] for ix in inspect(engine).get_indexes("cases")}

        migrate.upgrade(engine, "0006")
        found = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("cases")}
        assert found[NOTICE_INDEX] == ["risk_grade", "received_on", "id"]
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                definition = conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": NOTICE_INDEX}
                ).scalar()
            else:
                definition = conn.execute(
                    text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": NOTICE_INDEX}
                ).scalar()
        assert re.search(r"WHERE \(*real_name = true\)*$", definition), definition

        migrate.downgrade(engine, "0005")
        assert NOTICE_INDEX not in {ix["name"] for ix in inspect(engine).get_indexes("cases")}
    finally:
        engine.dispose()


def _one_case(db_session, member_id, locator, status, received, grade, ack, feedback, events, real_name=False):
    case = Case(
        locator=locator,
        salt=bytes(16),
        kdf_opslimit=1,
        kdf_memlimit=8 * 1024 * 1024,
        verifier=bytes(32),
        reporter_pk=bytes(32),
        status=status,
        received_on=received,
        item_count=1,
        risk_grade=grade,
        ack_due=ack,
        feedback_due=feedback,
        real_name=real_name,
        **HEADER,
    )
    db_session.add(case)
    db_session.flush()
    for seq, (event, day) in enumerate(events, start=1):
        db_session.add(CaseEvent(case_id=case.id, seq=seq, event=event, happened_on=day))
    db_session.add(CaseGrant(case_id=case.id, member_id=member_id, granted_on=received))
    return case


def _rows_with_badges(app, person) -> list[tuple[str, str]]:
    """(case id, urgency badge) of each row of the member's first page."""
    html = person.client.get("/committee/").get_data(as_text=True)
    rows = re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)
    return [(ROW_LINK.search(row).group(1), row) for row in rows if ROW_LINK.search(row)]


def test_an_acknowledged_case_is_no_longer_listed_by_its_acknowledgement_deadline(app, members, db_session, reading):
    """Acknowledged in time long ago, feedback due in 40 days: nothing is overdue (its badge
    says so), so a case whose acknowledgement is due tomorrow comes first. The list used the
    acknowledgement deadline for ever and put the acknowledged case among the overdue."""
    today, _soon = _days(app)
    zhao = _member_id(db_session, "zhao.lei")
    received = today - dt.timedelta(days=20)
    acknowledged = _one_case(
        db_session,
        zhao,
        "0000001",
        "acknowledged",
        received,
        "high",
        today - dt.timedelta(days=15),
        today + dt.timedelta(days=40),
        [("received", received), ("acknowledged", received)],
    )
    waiting = _one_case(
        db_session,
        zhao,
        "0000002",
        "received",
        received,
        "high",
        today + dt.timedelta(days=1),
        today + dt.timedelta(days=60),
        [("received", received)],
    )
    db_session.commit()

    rows = _rows_with_badges(app, members["zhao.lei"])

    assert [case_id for case_id, _row in rows] == [waiting.id, acknowledged.id]
    assert "Overdue" not in rows[1][1]


def test_a_closed_real_name_case_with_its_result_notice_overdue_is_listed_overdue(app, members, db_session, reading):
    """Closed 100 days ago without the notice of the result (实名举报) it owes the reporter:
    its badge says overdue, and the list now puts it with the overdue cases, before an open
    case whose deadlines are weeks away (it was listed among "the rest")."""
    today, _soon = _days(app)
    zhao = _member_id(db_session, "zhao.lei")
    received = today - dt.timedelta(days=120)
    closed = _one_case(
        db_session,
        zhao,
        "0000003",
        "closed",
        received,
        "medium",
        received + dt.timedelta(days=5),
        received + dt.timedelta(days=80),
        [
            ("received", received),
            ("acknowledged", received + dt.timedelta(days=2)),
            ("closed", received + dt.timedelta(days=20)),
        ],
        real_name=True,
    )
    fresh = _one_case(
        db_session,
        zhao,
        "0000004",
        "received",
        today,
        "high",
        today + dt.timedelta(days=20),
        today + dt.timedelta(days=90),
        [("received", today)],
    )
    db_session.commit()

    rows = _rows_with_badges(app, members["zhao.lei"])

    assert [case_id for case_id, _row in rows] == [closed.id, fresh.id]
    assert "Overdue" in rows[0][1]
    with app.app_context():
        db_session.refresh(closed)
        assert triage_view.summary(closed, today)["urgency"] == "overdue"


def test_an_interim_reply_leaves_the_feedback_deadline_on_the_list(app, members, db_session, reading):
    """A reply before the decision is an interim message: the member's list still shows when
    the feedback on the outcome is due; after the decision and a reply, nothing is pending."""
    from whistle.cases import store as cases

    from tests.client_side import seal_report

    seal_report(app.test_client(), "x")
    case = db_session.scalar(select(Case))
    on = day_in(services(app).config.timezone)
    db_session.add(CaseGrant(case_id=case.id, member_id=_member_id(db_session, "zhao.lei"), granted_on=on))
    cases.add_event(db_session, case, "acknowledged", on)
    cases.add_event(db_session, case, "feedback_sent", on)  # what a reply records
    db_session.commit()

    def deadline_cell():
        html = members["zhao.lei"].client.get("/committee/?lang=en").get_data(as_text=True)
        row = re.search(r"<tr class=\"urgency-[a-z_]+\">.*?</tr>", html, re.S).group(0)
        return re.findall(r"<td>(.*?)</td>", row, re.S)[5]

    assert f"feedback by {case.feedback_due.isoformat()}" in deadline_cell()
    case.disposition = "conclude"
    cases.add_event(db_session, case, "disposition", on)
    cases.add_event(db_session, case, "feedback_sent", on)
    db_session.commit()
    assert "none pending" in deadline_cell()
