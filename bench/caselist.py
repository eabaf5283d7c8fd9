"""The committee's case list with 100,000 cases: server time of the first page.

Cases are bulk-inserted with realistic rows (routing codes from the catalogue and the rules
file, grade and deadlines computed by whistle.triage, statuses and received days spread
over two years, the timeline events their status implies) and every one is granted to one
member, the worst case for that member's list. Sealed items and attachments are left out:
the list never reads them. The member logs in through the real form; the view is timed
with the Flask test client in-process (no network, no gunicorn: the server's own time).
Later pages are reached as a member reaches them, by following each page's "Next" link
(a keyset cursor); the query time and the plans are those of case_listing.CaseListing, the
code the view runs.
"""

import datetime as dt
import random
import re
import secrets
import statistics
import time
from html import unescape
from pathlib import Path

import pyotp
from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session

from whistle import catalog, create_app
from whistle.clock import today as day_in
from whistle.committee import case_listing, triage_view, workspace
from whistle.config import Config
from whistle.models import Case, CaseEvent, CaseGrant, new_id
from whistle.triage import deadlines, risk
from whistle.triage.routing import route
from whistle.services import services

from bench.common import MEMBER_PASSWORD, prepare_whistle

MEMBER = "zhao.lei"  # holds every case: the worst case for one member's list
SHARE_MEMBER = "zhang.wei"  # holds every tenth case: a member among several
STATUS_WEIGHTS = {"received": 10, "acknowledged": 20, "in_review": 20, "closed": 50}
EVENTS_FOR = {
    "received": ["received"],
    "acknowledged": ["received", "acknowledged"],
    "in_review": ["received", "acknowledged", "in_review"],
    "closed": ["received", "acknowledged", "in_review", "feedback_sent", "closed"],
}


def seed(engine, rules, member_id: str, count: int, batch: int = 5000, share_id: str | None = None) -> float:
    """Insert ``count`` cases granted to ``member_id`` (every tenth also to ``share_id``);
    seconds taken."""
    rnd = random.Random(20261125)
    calendar = deadlines.WorkCalendar(rules)
    departments = [d.code for d in rules.departments]
    today = dt.date.today()
    due_cache = {}
    locators = rnd.sample(range(10**7), count)
    started = time.perf_counter()
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    for first in range(0, count, batch):
        cases, events, grants = [], [], []
        for n in range(first, min(count, first + batch)):
            channel = rnd.choice(list(catalog.CATEGORIES))
            header = {
                "channel": channel,
                "department": rnd.choice(departments),
                "category": rnd.choice(list(catalog.CATEGORIES[channel])),
                "accused_rank": rnd.choice(list(catalog.RANKS)),
                "money_band": rnd.choice(list(catalog.MONEY_BANDS)),
                "frequency": rnd.choice(list(catalog.FREQUENCIES)),
                "evidence": rnd.choice(list(catalog.EVIDENCE)),
            }
            received = today - dt.timedelta(days=rnd.randrange(730))
            status = rnd.choices(statuses, weights)[0]
            assessment = risk.assess(rules, header)
            key = (channel, assessment.grade, received)
            if key not in due_cache:
                due_cache[key] = deadlines.due_dates(rules, calendar, channel, assessment.grade, received)
            due = due_cache[key]
            routed = route(rules, header)
            case_id = new_id()
            cases.append(
                dict(
                    id=case_id,
                    locator=f"{locators[n]:07d}",
                    salt=secrets.token_bytes(16),
                    kdf_opslimit=3,
                    kdf_memlimit=64 * 1024 * 1024,
                    verifier=secrets.token_bytes(32),
                    reporter_pk=secrets.token_bytes(32),
                    status=status,
                    received_on=received,
                    item_count=1,
                    handling_unit=routed.unit,
                    route_reason=routed.reason,
                    held_for_superior=routed.held_for_superior,
                    risk_grade=assessment.grade,
                    risk_score=assessment.score,
                    ack_due=due.get("acknowledge"),
                    feedback_due=due.get("feedback"),
                    risk_override_reason=None,
                    disposition=None,
                    duplicate_of=None,
                    real_name=False,
                    **header,
                )
            )
            for seq, happened in enumerate(EVENTS_FOR[status], start=1):
                events.append(
                    dict(
                        id=new_id(),
                        case_id=case_id,
                        seq=seq,
                        event=happened,
                        happened_on=received + dt.timedelta(days=seq - 1),
                    )
                )
            grants.append(dict(case_id=case_id, member_id=member_id, granted_on=received, granted_by=None))
            if share_id is not None and n % 10 == 0:
                grants.append(dict(case_id=case_id, member_id=share_id, granted_on=received, granted_by=None))
        with engine.begin() as conn:
            conn.execute(insert(Case.__table__), cases)
            conn.execute(insert(CaseEvent.__table__), events)
            conn.execute(insert(CaseGrant.__table__), grants)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def _login(app, totp: str, username: str = MEMBER):
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "localhost"})
    html = client.get("/committee/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp = client.post(
        "/committee/login",
        data={"csrf_token": token, "username": username, "password": MEMBER_PASSWORD, "totp": pyotp.TOTP(totp).now()},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def _time(client, path: str, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        resp = client.get(path)
        times.append(time.perf_counter() - began)
        assert resp.status_code == 200, resp.status_code
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "rows": resp.get_data(as_text=True).count("/committee/cases/"),
    }


def _listing(app, session, member_id: str) -> case_listing.CaseListing:
    """The listing workspace.case_list builds for this member today."""
    today = day_in(services(app).config.timezone)
    return case_listing.CaseListing(session, member_id, today, triage_view.soon_limit(today))


def _first_page(app, session, member_id: str) -> None:
    """What workspace.case_list asks of the database for a first page: the rows (with their
    timeline events) and the new-case count."""
    listing = _listing(app, session, member_id)
    listing.page(None, workspace.PAGE_SIZE)
    listing.new_count()


def _query_ms(app, member_id: str, repeat: int) -> float:
    """Median time of the first page's queries alone (rows fetched, no template)."""
    times = []
    with app.app_context(), Session(services(app).engine) as session:
        _first_page(app, session, member_id)
        for _ in range(repeat):
            began = time.perf_counter()
            _first_page(app, session, member_id)
            times.append(time.perf_counter() - began)
            session.expunge_all()  # each round loads its rows afresh, as a request does
    return round(statistics.median(times) * 1000, 1)


def _statements(app, member_id: str) -> list[tuple[str, object]]:
    """Every statement (with its parameters) a first page runs, in order."""
    engine = services(app).engine
    seen = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with app.app_context(), Session(engine) as session:
            _first_page(app, session, member_id)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def explain(app, member_id: str) -> str:
    """The database's plan for each statement of a first page, as workspace.case_list runs
    them (the same SQL and parameters)."""
    engine = services(app).engine
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    out = []
    with engine.connect() as conn:
        for statement, parameters in _statements(app, member_id):
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            out += [re.sub(r"\s+", " ", statement).strip(), *(" | ".join(str(v) for v in row) for row in rows), ""]
    return "\n".join(out).strip()


def _next_page(client, path: str) -> str:
    """The address of the page after ``path``: its "Next" link, as a member would follow it."""
    html = client.get(path).get_data(as_text=True)
    found = re.search(r'<a href="([^"]+)" rel="next">', html)
    assert found, f"no Next link on {path}"
    return unescape(found.group(1))


def _page_after(client, hops: int) -> str:
    path = "/committee/"
    for _ in range(hops):
        path = _next_page(client, path)
    return path


def run(db_url: str, folder: Path, secret_file: Path, count: int = 100_000, repeat: int = 15) -> dict:
    """Seed ``count`` cases on ``db_url`` and time the member's list."""
    folder.mkdir(parents=True, exist_ok=True)
    enrolled = prepare_whistle(db_url, folder / "committee.key", secret_file, member_names=(MEMBER, SHARE_MEMBER))
    member_id, totp, _keypair = enrolled[MEMBER]
    share_id, share_totp, _keypair = enrolled[SHARE_MEMBER]
    cfg = Config(instance_dir=folder, database_url=db_url, instance_secret_file=secret_file, extra={"ratelimit": False})
    app = create_app(cfg)
    engine = services(app).engine
    try:
        seconds = seed(engine, services(app).rules, member_id, count, share_id=share_id)
        client = _login(app, totp)
        client.get("/committee/")  # warm: templates compiled, connection open
        result = {
            "cases": count,
            "seed_seconds": round(seconds, 1),
            "first_page": _time(client, "/committee/", repeat),
            "page_2": _time(client, _page_after(client, 1), repeat),
            "page_1000": _time(client, _page_after(client, 999), max(3, repeat // 3)),
            "query_ms": _query_ms(app, member_id, repeat),
        }
        client = _login(app, share_totp, SHARE_MEMBER)
        client.get("/committee/")
        result["tenth_first_page"] = _time(client, "/committee/", repeat)
        result["tenth_query_ms"] = _query_ms(app, share_id, repeat)
        result["plan"] = "\n\n".join(
            [
                f"-- member holding every case\n{explain(app, member_id)}",
                f"-- member holding every tenth case\n{explain(app, share_id)}",
            ]
        )
        return result
    finally:
        engine.dispose()
