"""The committee's case list with 100,000 cases: server time of the first page.

Cases are bulk-inserted with realistic rows (routing codes from the catalogue and the rules
file, grade and deadlines computed by whistle.triage, statuses and received days spread
over two years, the timeline events their status implies) and every one is granted to one
member, the worst case for that member's list. Sealed items and attachments are left out:
the list never reads them. The member logs in through the real form; the view is timed
with the Flask test client in-process (no network, no gunicorn: the server's own time).
"""
import datetime as dt
import random
import re
import secrets
import statistics
import time
from pathlib import Path

import pyotp
from sqlalchemy import case as sql_case
from sqlalchemy import func, insert, select, text

from whistle import catalog, create_app
from whistle.config import Config
from whistle.models import Case, CaseEvent, CaseGrant, new_id
from whistle.triage import deadlines, risk
from whistle.triage.routing import route

from bench.common import MEMBER_PASSWORD, prepare_whistle

MEMBER = "zhao.lei"  # holds every case: the worst case for one member's list
SHARE_MEMBER = "zhang.wei"  # holds every tenth case: a member among several
STATUS_WEIGHTS = {"received": 10, "acknowledged": 20, "in_review": 20, "closed": 50}
EVENTS_FOR = {"received": ["received"], "acknowledged": ["received", "acknowledged"],
              "in_review": ["received", "acknowledged", "in_review"],
              "closed": ["received", "acknowledged", "in_review", "feedback_sent", "closed"]}


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
            header = {"channel": channel, "department": rnd.choice(departments),
                      "category": rnd.choice(list(catalog.CATEGORIES[channel])),
                      "accused_rank": rnd.choice(list(catalog.RANKS)), "money_band": rnd.choice(list(catalog.MONEY_BANDS)),
                      "frequency": rnd.choice(list(catalog.FREQUENCIES)), "evidence": rnd.choice(list(catalog.EVIDENCE))}
            received = today - dt.timedelta(days=rnd.randrange(730))
            status = rnd.choices(statuses, weights)[0]
            assessment = risk.assess(rules, header)
            key = (channel, assessment.grade, received)
            if key not in due_cache:
                due_cache[key] = deadlines.due_dates(rules, calendar, channel, assessment.grade, received)
            due = due_cache[key]
            routed = route(rules, header)
            case_id = new_id()
            cases.append(dict(
                id=case_id, locator=f"{locators[n]:07d}", salt=secrets.token_bytes(16), kdf_opslimit=3,
                kdf_memlimit=64 * 1024 * 1024, verifier=secrets.token_bytes(32), reporter_pk=secrets.token_bytes(32),
                status=status, received_on=received, item_count=1, handling_unit=routed.unit,
                route_reason=routed.reason, held_for_superior=routed.held_for_superior, risk_grade=assessment.grade,
                risk_score=assessment.score, ack_due=due.get("acknowledge"), feedback_due=due.get("feedback"),
                risk_override_reason=None, disposition=None, duplicate_of=None, real_name=False, **header))
            for seq, event in enumerate(EVENTS_FOR[status], start=1):
                events.append(dict(id=new_id(), case_id=case_id, seq=seq, event=event,
                                   happened_on=received + dt.timedelta(days=seq - 1)))
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
    resp = client.post("/committee/login", data={"csrf_token": token, "username": username, "password": MEMBER_PASSWORD,
                                                 "totp": pyotp.TOTP(totp).now()})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def _time(client, path: str, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        resp = client.get(path)
        times.append(time.perf_counter() - began)
        assert resp.status_code == 200, resp.status_code
    return {"median_ms": round(statistics.median(times) * 1000, 1), "max_ms": round(max(times) * 1000, 1),
            "rows": resp.get_data(as_text=True).count("/committee/cases/")}


def _list_query(member_id: str):
    """The query workspace.case_list runs for the first page (its order, written out)."""
    today = dt.date.today()
    due = func.coalesce(Case.ack_due, Case.feedback_due)
    open_cases = Case.status != "closed"
    order = [sql_case((open_cases & (due < today), 0), else_=1),
             sql_case((open_cases & (due <= today + dt.timedelta(days=5)), 0), else_=1),
             sql_case(*((Case.risk_grade == g, n) for g, n in {"high": 0, "medium": 1, "low": 2}.items()), else_=3),
             Case.received_on, Case.id]
    return (select(Case).join(CaseGrant, CaseGrant.case_id == Case.id)
            .where(CaseGrant.member_id == member_id).order_by(*order).limit(51))


def _query_ms(engine, member_id: str, repeat: int) -> float:
    """Median time of the list query alone (SQLAlchemy Core, rows fetched)."""
    query = _list_query(member_id)
    times = []
    with engine.connect() as conn:
        conn.execute(query).all()
        for _ in range(repeat):
            began = time.perf_counter()
            conn.execute(query).all()
            times.append(time.perf_counter() - began)
    return round(statistics.median(times) * 1000, 1)


def explain(engine, member_id: str) -> str:
    """The database's plan for the list query (the one workspace.case_list runs)."""
    compiled = _list_query(member_id).compile(engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    with engine.connect() as conn:
        rows = conn.execute(text(prefix + str(compiled))).all()
    return "\n".join(" | ".join(str(v) for v in row) for row in rows)


def run(db_url: str, folder: Path, secret_file: Path, count: int = 100_000, repeat: int = 15) -> dict:
    """Seed ``count`` cases on ``db_url`` and time the member's list."""
    folder.mkdir(parents=True, exist_ok=True)
    enrolled = prepare_whistle(db_url, folder / "committee.key", secret_file, member_names=(MEMBER, SHARE_MEMBER))
    member_id, totp, _keypair = enrolled[MEMBER]
    share_id, share_totp, _keypair = enrolled[SHARE_MEMBER]
    cfg = Config(instance_dir=folder, database_url=db_url, instance_secret_file=secret_file,
                 extra={"ratelimit": False})
    app = create_app(cfg)
    engine = app.extensions["whistle.engine"]
    try:
        seconds = seed(engine, app.extensions["whistle.rules"], member_id, count, share_id=share_id)
        client = _login(app, totp)
        client.get("/committee/")  # warm: templates compiled, connection open
        result = {"cases": count, "seed_seconds": round(seconds, 1),
                  "first_page": _time(client, "/committee/", repeat),
                  "page_2": _time(client, "/committee/?page=2", repeat),
                  "page_1000": _time(client, "/committee/?page=1000", max(3, repeat // 3)),
                  "query_ms": _query_ms(engine, member_id, repeat),
                  "plan": explain(engine, member_id)}
        client = _login(app, share_totp, SHARE_MEMBER)
        client.get("/committee/")
        result["tenth_first_page"] = _time(client, "/committee/", repeat)
        result["tenth_query_ms"] = _query_ms(engine, share_id, repeat)
        return result
    finally:
        engine.dispose()
