"""Helpers shared by the tests: a valid report form, receipt extraction, waiting for a lock."""

import io
import re
import time

REPORT_FIELDS = {
    "department": "housing",
    "accused_rank": "staff",
    "category": "meals",
    "money_band": "1k_10k",
    "frequency": "several",
    "evidence": "attached",
    "accused_name": "王某",
    "accused_post": "科长",
    "period": "2026年10月",
    "place": "城东项目",
}


def report_form(narrative: str, files=(), **changes) -> dict:
    """A complete no-JS report form, with (name, bytes) files."""
    data = dict(REPORT_FIELDS, narrative=narrative, **changes)
    data["files"] = [(io.BytesIO(content), name) for name, content in files] or [(io.BytesIO(b""), "")]
    return data


def redis_or_skip(url: str):
    """A connection to the Redis at ``url``; the test is skipped when none answers there."""
    import pytest

    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(url)
    try:
        connection.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {url}")
    return connection


def receipt_from(html: str) -> str:
    """The grouped receipt code shown on a receipt page."""
    match = re.search(r'<output id="receipt-code"[^>]*>([0-9 ]+)</output>', html)
    assert match, "no receipt code on the page"
    return match.group(1)


def forget_used_totp_steps(app) -> None:
    """Forget which TOTP steps logins used (in memory, or in the app's Redis beside its
    sessions), so a member can log in again within the same 30-second window: only a test
    can do that."""
    from whistle.security.proof_of_work import MemorySpent, RedisSpent
    from whistle.services import services

    used = services(app).totp_used
    if isinstance(used, RedisSpent):
        for key in used._redis.scan_iter(match=f"{used._prefix}{used._kind}:*"):
            used._redis.delete(key)
        return
    assert isinstance(used, MemorySpent)
    services(app).totp_used = MemorySpent()


def wait_until_waiting_for_a_lock(database_url: str, done=lambda: False) -> None:
    """Until another connection waits for a lock, or ``done()``. PostgreSQL shows the wait;
    SQLite's busy wait shows nowhere, so there this waits long enough for the other side to
    have read what it reads before its first write."""
    if not database_url.startswith("postgresql"):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not done():
            time.sleep(0.05)
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not done():
            with engine.connect() as conn:
                if conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                ).scalar():
                    return
            time.sleep(0.05)
        assert done(), "nothing ever waited for the lock"
    finally:
        engine.dispose()


def once_it_waits(session, database_url: str, request):
    """``request()`` run in a thread while ``session`` holds a lock it will wait for; the
    session commits once it waits (or once it answered without waiting). Its result."""
    import threading

    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=request()))
    thread.start()
    try:
        wait_until_waiting_for_a_lock(database_url, done=lambda: "result" in outcome)
        session.commit()
    finally:
        session.rollback()
        thread.join(timeout=60)
    return outcome["result"]
