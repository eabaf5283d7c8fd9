"""Brute force: receipt guessing is slowed, then blocked per client and globally; committee
login likewise. Each test prints what it measured (run with -s to see it):
attempts that got an answer before the first 429, and the time they took.

The per-account login limit across addresses is tests/committee/test_auth.py
(test_login_is_throttled_per_account); here: the per-client login limit across accounts,
and the global picture (many addresses, every account).
"""

import statistics
import time

import pytest
from sqlalchemy.orm import Session

from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys
from whistle.custody import offline
from whistle.clock import today
from whistle.services import services

from tests.committee.conftest import HTTPS, PASSWORD, csrf_of, enrol
from tests.helpers import forget_used_totp_steps
from tests.test_hardening import REDIS_URL, redis_prefix  # noqa: F401 - a fixture, shared
from tests.conftest import KEY_PASSPHRASE, build_app, make_config

SITE_OPS, SITE_MEM = 3, 64 * 1024 * 1024  # the default receipt cost (whistle/config.py)


@pytest.fixture
def make_app(tmp_path, request):
    """Apps with their own limits, each with a registered committee key."""
    apps = []

    def build(**overrides):
        folder = tmp_path / f"app{len(apps)}"
        folder.mkdir()
        app = build_app(make_config(folder, request, **overrides))
        with Session(services(app).engine) as s:
            offline.init_keys(
                s, folder / "k.key", KEY_PASSPHRASE, "k", today("Asia/Shanghai"), opslimit=1, memlimit=8192 * 8
            )
            s.commit()
        apps.append(app)
        return app

    yield build
    for app in apps:
        services(app).engine.dispose()


def _guess() -> str:
    """A well-formed receipt code (right length, right check digit) that opens nothing."""
    return ReceiptCode.generate(locator=f"{int.from_bytes(random_bytes(4), 'big') % 10**7:07d}").grouped()


def _client(app, address: str):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=address)
    return client


def _until_blocked(attempt, limit: int):
    """Call ``attempt(n)`` until it answers 429 (at most ``limit`` + 3 times); return the
    statuses and the seconds spent on the attempts before the first 429."""
    statuses, started, elapsed = [], time.perf_counter(), None
    for n in range(limit + 3):
        status = attempt(n)
        if status == 429 and elapsed is None:
            elapsed = time.perf_counter() - started
        statuses.append(status)
    return statuses, elapsed


def _report(what: str, statuses: list, elapsed: float) -> None:
    answered = statuses.index(429) if 429 in statuses else len(statuses)
    print(
        f"\n[brute force] {what}: {answered} attempts answered, then 429; "
        f"{elapsed:.3f} s until blocked ({elapsed / max(answered, 1) * 1000:.1f} ms per attempt)"
    )


# --- receipts --------------------------------------------------------------------------------


def test_receipt_guessing_is_blocked_per_client(make_app):
    """One address: no-JS page and API share one budget; then 429 everywhere for it, while
    another address still gets through."""
    app = make_app(limit_followup="8 per hour", limit_followup_global="1000 per hour")
    guesser = _client(app, "192.0.2.10")

    def attempt(n):
        code = ReceiptCode.parse(_guess())
        if n % 3 == 0:
            return guesser.post("/followup", data={"code": code.grouped()}).status_code
        if n % 3 == 1:
            return guesser.get(f"/api/v1/receipts/{code.locator}/salt").status_code
        return guesser.post("/api/v1/followup", json={"locator": code.locator, "lookup": "A" * 43}).status_code

    statuses, elapsed = _until_blocked(attempt, 8)
    _report("receipt requests from one client (page, salt, API follow-up in turn; limit 8/h)", statuses, elapsed)
    assert statuses[:8] == [404, 200, 404] * 2 + [404, 200] and statuses[8:] == [429] * 3
    assert guesser.get("/api/v1/receipts/1234567/salt").status_code == 429
    assert guesser.post("/followup", data={"code": _guess()}).status_code == 429
    assert guesser.post("/followup/message", data={"code": _guess(), "text": "x"}).status_code == 429
    # Somebody else is not blocked by this client's guessing.
    other = _client(app, "192.0.2.11")
    assert other.post("/followup", data={"code": _guess()}).status_code == 404


def test_receipt_guessing_is_blocked_globally_whatever_the_address(make_app):
    """Every guess from a new address (a botnet, or a new Tor circuit each time): the
    per-client limit never triggers, the global one does, for everyone."""
    app = make_app(limit_followup="1000 per hour", limit_followup_global="12 per hour")

    def attempt(n):
        client = _client(app, f"198.51.100.{n + 1}")
        return client.post("/followup", data={"code": _guess()}).status_code

    statuses, elapsed = _until_blocked(attempt, 12)
    _report("receipt guesses, each from a new address (global limit 12/h)", statuses, elapsed)
    assert statuses[:12] == [404] * 12 and statuses[12:] == [429] * 3
    # A fresh address, and the API, are blocked too: the budget is global.
    fresh = _client(app, "203.0.113.200")
    assert fresh.post("/followup", data={"code": _guess()}).status_code == 429
    assert fresh.get("/api/v1/receipts/7654321/salt").status_code == 429
    # Submitting reports is a different budget: reporters can still report.
    assert fresh.get("/report/contractor").status_code == 200


def test_an_ipv6_client_is_its_64_bit_network(make_app):
    """A host on IPv6 is handed a whole /64 and may take any address in it for each request:
    the per-client budgets count the network, so stepping through it dodges nothing. Each
    address tor names a circuit by (deploy/tor/torrc) stays a client of its own, and an
    IPv4-mapped address is its IPv4 address."""
    app = make_app(limit_followup="3 per hour", limit_followup_global="1000 per hour")

    def salt(address):
        return _client(app, address).get("/api/v1/receipts/1234567/salt").status_code

    assert [salt(f"2001:db8:7:8::{n + 1:x}") for n in range(4)] == [200, 200, 200, 429]
    assert salt("2001:db8:7:8:ffff:ffff:ffff:ffff") == 429
    assert salt("2001:db8:7:9::1") == 200  # the next network: another subscriber
    circuits = [salt(f"fc00:dead:beef:4dad::{n + 1:x}") for n in range(4)]
    assert circuits == [200] * 4
    assert [salt("::ffff:192.0.2.50") for _ in range(3)] + [salt("192.0.2.50")] == [200, 200, 200, 429]


def test_a_blocked_client_is_told_so_in_its_language(make_app):
    """The 429 is a page or a JSON error in the visitor's language, never an English-only one,
    on the reporter's pages, the API and the committee's login alike."""
    app = make_app(limit_followup="1 per hour", limit_followup_global="1000 per hour")
    guesser = _client(app, "192.0.2.60")
    assert guesser.post("/followup", data={"code": _guess()}).status_code == 404
    page = guesser.post("/followup?lang=zh_Hant", data={"code": _guess()})
    assert page.status_code == 429 and "嘗試次數太多" in page.get_data(as_text=True)
    api = guesser.get("/api/v1/receipts/1234567/salt", headers={"Accept-Language": "zh-CN"})
    assert api.status_code == 429
    assert api.get_json() == {"error": "too_many_requests", "message": "尝试次数太多，请稍等一会儿再试。"}
    statuses = [_login_attempt(app, "192.0.2.61", f"user{n}") for n in range(31)]
    assert statuses == [401] * 30 + [429]
    client = _client(app, "192.0.2.61")
    client.environ_base.update(HTTPS, HTTP_ACCEPT_LANGUAGE="zh-TW")
    html = client.get("/committee/login").get_data(as_text=True)
    login = client.post("/committee/login", data={"csrf_token": csrf_of(html), "username": "x", "password": "y"})
    assert login.status_code == 429 and "嘗試次數太多" in login.get_data(as_text=True)


def test_forwarded_addresses_are_believed_only_from_a_trusted_proxy(make_app):
    """Without a trusted proxy a client's own X-Forwarded-For, X-Real-IP or Forwarded header
    changes nothing; behind one, only the value that proxy added (the last) names the
    client, whatever the client put before it."""
    direct = make_app(limit_followup="2 per hour", limit_followup_global="1000 per hour")
    guesser = _client(direct, "192.0.2.70")
    statuses = [
        guesser.get(
            "/api/v1/receipts/1234567/salt",
            headers={
                "X-Forwarded-For": f"203.0.113.{n}",
                "X-Real-IP": f"203.0.113.{n}",
                "Forwarded": f"for=203.0.113.{n}",
            },
        ).status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 429, 429]

    proxied = make_app(limit_followup="2 per hour", limit_followup_global="1000 per hour", trusted_proxies=1)
    nginx = _client(proxied, "127.0.0.1")
    statuses = [
        nginx.get(
            "/api/v1/receipts/1234567/salt", headers={"X-Forwarded-For": f"203.0.113.{n}, 198.51.100.7"}
        ).status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 429, 429]
    assert nginx.get("/api/v1/receipts/1234567/salt", headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 200


def test_each_guess_costs_one_argon2id_derivation_at_the_site_cost(make_app):
    """Slowed: without JavaScript the server stretches every guessed code at the site's cost
    (a stable fake salt for unknown locators), so a guess costs what a real follow-up does;
    with JavaScript the guesser pays the same derivation on their side."""
    app = make_app(
        receipt_opslimit=SITE_OPS,
        receipt_memlimit=SITE_MEM,
        limit_followup="1000 per hour",
        limit_followup_global="1000 per hour",
    )
    code = ReceiptCode.parse(_guess())
    started = time.perf_counter()
    derive_reporter_keys(code, random_bytes(16), SITE_OPS, SITE_MEM)
    one = time.perf_counter() - started
    client = _client(app, "192.0.2.20")
    client.post("/followup", data={"code": _guess()})  # warm up (templates, connection)
    times = []
    for _ in range(4):
        started = time.perf_counter()
        assert client.post("/followup", data={"code": _guess()}).status_code == 404
        times.append(time.perf_counter() - started)
    print(
        f"\n[brute force] one argon2id derivation at ops={SITE_OPS}, mem={SITE_MEM >> 20} MiB: "
        f"{one * 1000:.0f} ms; a no-JS guess takes {statistics.median(times) * 1000:.0f} ms (median of 4)"
    )
    assert statistics.median(times) >= 0.5 * one
    # The salt endpoint answers an unknown locator with the site's cost: the guesser's own
    # derivation is just as expensive.
    salt = client.get(f"/api/v1/receipts/{code.locator}/salt").get_json()
    assert (salt["opslimit"], salt["memlimit"]) == (SITE_OPS, SITE_MEM)


# --- committee login -------------------------------------------------------------------------


def _login_attempt(app, address: str, username: str, password: str = "wrong password", totp: str = "123456"):
    client = _client(app, address)
    client.environ_base.update(HTTPS)
    html = client.get("/committee/login").get_data(as_text=True)
    return client.post(
        "/committee/login", data={"csrf_token": csrf_of(html), "username": username, "password": password, "totp": totp}
    ).status_code


def _fresh_code(app, person) -> str:
    """A valid TOTP code for ``person`` (forgetting the step their last login used: only a
    test can do that, to log in again within the same 30-second window)."""
    forget_used_totp_steps(app)
    return person.code(0)


def test_login_guessing_is_blocked_per_client_across_accounts(app, committee):
    """One address spraying passwords over many usernames: 30 failures per 15 minutes,
    then 429 for that address whatever username it tries; another address is unaffected."""
    person = enrol(app, "zhang.wei")
    users = [f"user{n}" for n in range(40)]

    statuses, elapsed = _until_blocked(lambda n: _login_attempt(app, "192.0.2.30", users[n]), 30)
    _report("login attempts from one client over 33 usernames (30 per 15 min)", statuses, elapsed)
    assert statuses[:30] == [401] * 30 and statuses[30:] == [429] * 3
    # Even the right password and code are refused from that address for now...
    assert _login_attempt(app, "192.0.2.30", "zhang.wei", PASSWORD, _fresh_code(app, person)) == 429
    # ...but not from another one.
    assert _login_attempt(app, "192.0.2.31", "zhang.wei", PASSWORD, _fresh_code(app, person)) == 302


def test_login_guessing_from_many_addresses_is_bounded_per_account(app, committee):
    """The global angle: every attempt from a new address, cycling over every account.
    The per-client limit never triggers; each account still blocks after 10 failures, so
    the whole committee takes at most 10 guesses per account per 15 minutes, from any
    number of addresses, and a blocked account refuses even its right password."""
    people = {name: enrol(app, name) for name in ("zhang.wei", "li.na", "zhao.lei")}
    names = sorted(people)
    statuses, started, blocked_after = [], time.perf_counter(), {}
    for n in range(12 * len(names)):
        name = names[n % len(names)]
        status = _login_attempt(app, f"198.51.100.{n + 1}", name)
        statuses.append((name, status))
        if status == 429 and name not in blocked_after:
            blocked_after[name] = sum(1 for who, s in statuses if who == name and s == 401)
    elapsed = time.perf_counter() - started
    print(
        f"\n[brute force] login attempts from {len(statuses)} addresses over {len(names)} accounts: "
        f"each account blocked after {sorted(set(blocked_after.values()))} failures; "
        f"{sum(1 for _n, s in statuses if s == 401)} answered in {elapsed:.2f} s"
    )
    assert blocked_after == {name: 10 for name in names}
    for name in names:
        assert [s for who, s in statuses if who == name] == [401] * 10 + [429] * 2
    person = people["li.na"]
    assert _login_attempt(app, "203.0.113.9", "li.na", PASSWORD, _fresh_code(app, person)) == 429


@pytest.fixture
def login_app(config, tmp_path):
    """Apps on this test's database with other settings or rules, with a committee key."""
    apps = []

    def build(**changes):
        app = build_app(config.with_(**changes))
        with Session(services(app).engine) as s:
            offline.init_keys(
                s,
                tmp_path / f"k{len(apps)}.key",
                KEY_PASSPHRASE,
                "k",
                today("Asia/Shanghai"),
                opslimit=1,
                memlimit=8192 * 8,
            )
            s.commit()
        apps.append(app)
        return app

    yield build
    for app in apps:
        services(app).engine.dispose()


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_concurrent_login_failures_all_count(login_app, storage, request):
    """Failures sent at once (one per address, so only the per-account limit applies) are
    each counted before the password is checked: no more than 10 get an answer, however many
    arrive together; the rest are refused without a guess. A success still costs nothing."""
    import threading

    shared = (
        {}
        if storage == "memory"
        else {"ratelimit_storage": REDIS_URL, "extra": {"redis_key_prefix": request.getfixturevalue("redis_prefix")}}
    )
    app = login_app(**shared)
    person = enrol(app, "zhang.wei")
    attempts = []
    for n in range(24):
        client = _client(app, f"198.51.100.{n + 1}")
        client.environ_base.update(HTTPS)
        attempts.append((client, csrf_of(client.get("/committee/login").get_data(as_text=True))))
    start, statuses = threading.Barrier(len(attempts)), []

    def attempt(client, token):
        start.wait()
        statuses.append(
            client.post(
                "/committee/login",
                data={"csrf_token": token, "username": "zhang.wei", "password": "wrong password", "totp": "123456"},
            ).status_code
        )

    threads = [threading.Thread(target=attempt, args=pair) for pair in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        f"\n[brute force] {len(attempts)} login failures at once on one account ({storage}): "
        f"{statuses.count(401)} answered, {statuses.count(429)} refused"
    )
    assert sorted(statuses) == [401] * 10 + [429] * 14
    # Successful logins from one address (on another account) never use up its budget.
    other = enrol(app, "li.na")
    assert [_login_attempt(app, "192.0.2.40", "li.na", PASSWORD, _fresh_code(app, other)) for _ in range(32)] == [
        302
    ] * 32
    assert _login_attempt(app, "192.0.2.41", "zhang.wei", PASSWORD, _fresh_code(app, person)) == 429


def test_a_longest_username_cannot_be_padded_past_its_account_limit(login_app, config, tmp_path):
    """A 64-character username (the longest a rules file allows) and the same name typed with
    more characters after it are one account: the per-account budget follows what is looked
    up, not what was typed."""
    long_name = "m" * 64
    rules = tmp_path / "long-name.toml"
    rules.write_text(
        config.rules_file.read_text(encoding="utf-8")
        + f'\n[[members]]\nusername = "{long_name}"\nunit = "office_1"\nrole = "member"\n',
        encoding="utf-8",
    )
    app = login_app(rules_file=rules)
    person = enrol(app, long_name)
    statuses = [_login_attempt(app, f"198.51.100.{n + 1}", f"{long_name}{'x' * n}") for n in range(12)]
    assert statuses == [401] * 10 + [429] * 2
    assert _login_attempt(app, "203.0.113.9", long_name + "zz", PASSWORD, _fresh_code(app, person)) == 429
