"""Member authentication: TOTP is mandatory, sessions live on the server and end there."""

import json
import time

from sqlalchemy import select

from whistle.models import AuditEntry, Member
from whistle.services import services

from tests.committee.conftest import HTTPS, PASSWORD, csrf_of, enrol, login
from tests.helpers import forget_used_totp_steps


def _store(app):
    return app.session_interface.store


def test_cookie_is_host_prefixed_and_session_only(app, committee):
    person = enrol(app, "zhang.wei")
    cookies = [c for c in person.client._cookies.values()]
    assert [c.key for c in cookies] == ["__Host-session"]
    cookie = cookies[0]
    assert cookie.secure and cookie.http_only and cookie.path == "/" and cookie.expires is None
    assert cookie.domain in ("", "localhost")


def test_password_alone_is_not_enough(app, committee):
    person = enrol(app, "zhang.wei")
    person.client.post("/committee/logout", data={"csrf_token": person.csrf()})
    html = person.client.get("/committee/login").get_data(as_text=True)
    for code in ("", "000000", person.code(ahead=0)):  # empty, wrong, and replayed (already used)
        resp = person.client.post(
            "/committee/login",
            data={"csrf_token": csrf_of(html), "username": "zhang.wei", "password": PASSWORD, "totp": code},
        )
        assert resp.status_code == 401
    assert person.client.get("/committee/").status_code == 302


def test_logout_ends_the_session_on_the_server(app, committee):
    person = enrol(app, "zhang.wei")
    sid = person.client.get_cookie("__Host-session", domain="localhost").value
    assert _store(app).get(sid) is not None
    person.client.post("/committee/logout", data={"csrf_token": person.csrf()})
    assert _store(app).get(sid) is None
    # Replaying the old cookie does not bring the session back.
    replay = app.test_client()
    replay.environ_base.update(HTTPS)
    replay.set_cookie("__Host-session", sid, domain="localhost", secure=True)
    assert replay.get("/committee/").status_code == 302


def test_the_api_answers_a_logged_out_page_with_json_in_its_language(app, committee):
    """A case page left open after logout (or a timeout) calls the API: a 401 whose JSON
    message the page shows, in the member's language; no redirect to an HTML login page."""
    person = enrol(app, "zhang.wei")
    csrf = person.csrf()
    person.client.post("/committee/logout", data={"csrf_token": csrf})
    for language, message in (
        ("zh-CN", "登录已失效，请重新登录。"),
        ("zh-TW", "登入已失效，請重新登入。"),
        ("en", "Your session has ended. Please log in again."),
    ):
        resp = person.client.get("/committee/api/me", headers={"Accept-Language": language})
        assert resp.status_code == 401
        assert resp.get_json() == {"error": "unauthorized", "message": message}
    # The page's calls still carry the old CSRF token, which died with the session: the same
    # answer, not "the request could not be understood" (also once the login page, opened in
    # another tab, has started a new session with a token of its own).
    resp = person.client.post("/committee/api/session-key", headers={"X-CSRFToken": csrf, "Accept-Language": "en"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "unauthorized"
    person.client.get("/committee/login")
    resp = person.client.post("/committee/api/session-key", headers={"X-CSRFToken": csrf, "Accept-Language": "en"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "unauthorized"
    # A form of an open page goes back to the login page, which says why.
    resp = person.client.post(
        "/committee/cases/" + "a" * 32 + "/status",
        data={"csrf_token": csrf, "event": "closed"},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert resp.request.path == "/committee/login"
    assert "Your session has ended. Please log in again." in resp.get_data(as_text=True)
    # A request with no token at all is no page of ours: the usual 400. (A made-up token
    # without a session gets the session answer: Flask-WTF reports the missing session
    # before it checks a signature. Nothing runs either way.)
    resp = person.client.post("/committee/api/session-key", headers={"Accept-Language": "en"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "bad_request"
    # A made-up token while a session exists is refused as such: the usual 400.
    resp = person.client.post("/committee/api/session-key", headers={"X-CSRFToken": "x", "Accept-Language": "en"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "bad_request"


def test_idle_and_absolute_timeouts(app, committee):
    from whistle.security import sessions

    person = enrol(app, "zhang.wei")
    sid = person.client.get_cookie("__Host-session", domain="localhost").value
    store = _store(app)
    expiry, value = store._data[sid]
    store._data[sid] = (time.monotonic() - 1, value)  # 15 idle minutes have passed
    assert person.client.get("/committee/").status_code == 302
    login(person, ahead=0, app=app)
    sid = person.client.get_cookie("__Host-session", domain="localhost").value
    expiry, value = store._data[sid]
    data = json.loads(value)
    data["_created"] -= sessions.ABSOLUTE_SECONDS + 1  # logged in more than 12 hours ago
    store._data[sid] = (expiry, json.dumps(data))
    assert person.client.get("/committee/").status_code == 302


def test_login_rotates_the_session_id(app, committee):
    person = enrol(app, "zhang.wei")
    before = person.client.get_cookie("__Host-session", domain="localhost").value
    person.client.post("/committee/logout", data={"csrf_token": person.csrf()})
    person.client.get("/committee/login")
    login(person, ahead=0, app=app)
    assert person.client.get_cookie("__Host-session", domain="localhost").value != before


def test_login_is_throttled_per_account(app, committee, db_session):
    enrol(app, "zhang.wei")
    statuses = []
    for n in range(12):
        client = app.test_client()
        client.environ_base.update(HTTPS, REMOTE_ADDR=f"198.51.100.{n + 1}")  # a new address each time
        html = client.get("/committee/login").get_data(as_text=True)
        statuses.append(
            client.post(
                "/committee/login",
                data={
                    "csrf_token": csrf_of(html),
                    "username": "zhang.wei",
                    "password": "wrong password",
                    "totp": "123456",
                },
            ).status_code
        )
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    failed = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed")).all()
    assert len(failed) == 10


def test_post_without_csrf_token_is_refused(app, committee):
    person = enrol(app, "zhang.wei")
    resp = person.client.post("/committee/logout", data={})
    assert resp.status_code == 400
    assert person.client.get("/committee/").status_code == 200


def test_enrolment_link_works_once_and_totp_secret_is_sealed_at_rest(app, committee, db_session):
    person = enrol(app, "zhang.wei")
    member = db_session.scalar(select(Member).where(Member.username == "zhang.wei"))
    assert member.invite_hash is None and person.totp.encode() not in member.totp_secret
    assert member.password_hash.startswith("$argon2id$")


def test_the_enrolment_page_offers_no_workspace_to_someone_not_logged_in(app, committee, db_session):
    """The invitee is not logged in yet: no workspace menu, no "Log out" (whose button was
    the page's first, before "Finish enrolment"), just the welcome and the form."""
    from whistle.committee import members
    from whistle.clock import today

    token = members.invite(db_session, "wang.fang", today("Asia/Shanghai"))
    db_session.commit()
    html = app.test_client().get(f"/committee/enrol/{token}?lang=en").get_data(as_text=True)
    assert "Welcome, wang.fang" in html
    assert "/committee/logout" not in html and "My cases" not in html and 'class="who"' not in html


def test_an_enrolment_form_left_open_too_long_comes_back_to_be_filled_in_again(app, committee, db_session):
    """The invitee has no login yet: when the form's session has ended (the idle timeout),
    the form comes back, saying why, and the invitation still works."""
    from whistle.committee import members as member_accounts
    from whistle.clock import today

    client = app.test_client()
    client.environ_base.update(HTTPS)
    token = member_accounts.invite(db_session, "zhang.wei", today("Asia/Shanghai"))
    db_session.commit()
    html = client.get(f"/committee/enrol/{token}").get_data(as_text=True)
    client.delete_cookie("__Host-session", domain="localhost")  # what the timeout leaves
    resp = client.post(
        f"/committee/enrol/{token}",
        data={"csrf_token": csrf_of(html), "password": PASSWORD},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert resp.status_code == 200 and resp.request.path == f"/committee/enrol/{token}"
    assert "This page had expired. Please fill it in again." in resp.get_data(as_text=True)
    assert 'id="totp-secret"' in resp.get_data(as_text=True)


def test_reporter_pages_still_set_no_cookie_after_committee_use(app, committee):
    person = enrol(app, "zhang.wei")
    resp = app.test_client().get("/")
    assert "Set-Cookie" not in resp.headers
    assert person.client.get("/report/contractor").headers.get("Set-Cookie") is None


def test_no_row_keeps_the_time_of_an_enrolment_or_a_login(app, committee):
    """Enrolling and logging in leave no time of day in the database: neither as a time nor
    as a count since the epoch (in seconds, milliseconds, minutes, or the 30-second steps of
    TOTP codes: refusing a replayed code by the last step used kept each member's last login
    to the half-minute)."""
    from whistle.models import Base

    enrol(app, "zhang.wei")  # enrolled, then logged in
    now = time.time()
    hits = []
    with services(app).engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()).mappings():
                for column, value in row.items():
                    if not isinstance(value, int) or isinstance(value, bool):
                        continue
                    for unit in (1, 0.001, 30, 60):  # within two minutes of now, in each unit
                        if abs(value - now / unit) <= 120 / unit + 2:
                            hits.append((table.name, column, value, unit))
    assert not hits, hits


def test_a_line_break_in_an_address_is_never_put_in_a_redirect_header(app, committee, unhandled):
    """werkzeug refuses a header value with a line break (the exception then escapes even
    the error handlers: a 500): the expired enrolment form and a login's ``next`` redirect
    to an address built from the request."""
    from tests.test_fuzz import check

    client = app.test_client()
    client.environ_base.update(HTTPS)
    html = client.get("/committee/login").get_data(as_text=True)
    client.delete_cookie("__Host-session", domain="localhost")
    resp = client.post("/committee/enrol/a%0Ab", data={"csrf_token": csrf_of(html), "password": PASSWORD})
    check(unhandled, resp, "expired enrolment form")
    assert resp.status_code == 302 and resp.headers["Location"] == "/committee/enrol/a%0Ab"
    person = enrol(app, "zhang.wei")
    person.client.post("/committee/logout", data={"csrf_token": person.csrf()})
    forget_used_totp_steps(app)  # log in again within the same TOTP step
    html = person.client.get("/committee/login").get_data(as_text=True)
    resp = person.client.post(
        "/committee/login?next=/committee/cases/%0D%0AX-Injected:%201",
        data={"csrf_token": csrf_of(html), "username": person.username, "password": PASSWORD, "totp": person.code(0)},
    )
    check(unhandled, resp, "login with a line break in next")
    assert resp.status_code == 302 and "\n" not in resp.headers["Location"] and "X-Injected" not in resp.headers


def test_a_used_totp_step_is_not_kept_in_memory_once_its_codes_expire():
    """A used step is the time of a login to the half-minute. The memory store (the default)
    drops it once its codes are refused anyway, as Redis expires it: it must not pile up,
    a log of every login since the process started."""
    from whistle.security.proof_of_work import MemorySpent

    store = MemorySpent()
    assert store.add("step of a login", int(time.time()) + 1)
    time.sleep(1.1)
    assert store.add("step of the next login", int(time.time()) + 90)
    assert list(store._seen) == ["step of the next login"]
