"""Metadata-leak scan: after a few hundred requests with distinctive client metadata, none of
it is anywhere the service writes.

gunicorn serves the app (deploy/gunicorn.conf.py, two workers, Redis for rate limits and
sessions, one trusted proxy as behind nginx) as a separate process whose stdout and stderr
are captured. Reporters send reports through both paths with attachments, follow up
(pages and API, messages with files), fail a few times on purpose (bad codes, unknown pages,
a malformed HTTP request); members enrol, log in, work cases and log out. Every request
comes from its own loopback source address (127.77.x.y: the socket's REMOTE_ADDR) and most
carry an X-Forwarded-For, X-Real-IP and Forwarded of their own, a distinctive User-Agent
and a Referer. Then the test scans, for every one of those values (and their unkeyed
SHA-256 and MD5 hex digests):

- the database: every row of every table (SQLite: also the raw .db, -wal and -shm files;
  PostgreSQL: every table read through SQL);
- Redis: every key name and value of the database the service used (its own number,
  flushed before and after);
- the instance directory, byte for byte;
- everything gunicorn and the app printed.

A single hit fails the test. So does a time of day: a Redis expiry off its clock boundary
(members' sessions and used TOTP steps aside: they follow a member's own requests), or a clock
time in a log line.
Canaries make sure each haystack is the right one: the database holds the cases (on SQLite,
its raw file too); Redis holds the rate-limit counters (never their daily key) and a live
session (one member stays logged in); the instance directory holds the instance secret; and the captured
output holds gunicorn's error log (a worker is killed: the arbiter reports it there).
"""

import hashlib
import http.client
import io
import json as jsonlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import create_engine, inspect, select, text, update
from sqlalchemy.orm import Session

from crypto import keyfile
from crypto.encoding import b64u
from crypto.keys import KeyPair
from whistle.committee import members
from whistle.custody import offline
from whistle.clock import today
from whistle.config import PROJECT_DIR
from whistle.models import Case, Member
from whistle.services import services

from tests.client_side import credentials, seal_report
from tests.committee.conftest import KEY_PASSPHRASE as MEMBER_KEY_PASSPHRASE
from tests.committee.conftest import PASSWORD, csrf_of
from tests.conftest import BACKENDS, KEY_PASSPHRASE, build_app, make_config
from tests.helpers import receipt_from, report_form
from tests.http_client import Response, multipart

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
REDIS_URL = os.environ.get("WHISTLE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = 12  # a database of this test's own (hardening: 13, scale-out: 11 and 15)
RUN = secrets.token_hex(4)  # makes this run's needles unique
UA = f"LeakScan-UA/{RUN}"
REFERER = f"https://referrer.invalid/leak-{RUN}"
REPORTS = 60  # per path (JavaScript and no-JS)
MEMBERS = ("zhao.lei", "li.na", "zhang.wei")


class Needles:
    """Every identifying value sent, and where it was seen."""

    def __init__(self):
        self.values = {UA, REFERER, RUN, "referrer.invalid"}
        self.lock = threading.Lock()
        self.counter = 0

    def next_identity(self) -> dict:
        """A new source address, forwarded addresses and headers for one request."""
        with self.lock:
            self.counter += 1
            n = self.counter
        source = f"127.77.{n // 250}.{n % 250 + 1}"
        forwarded = f"198.51.{100 + n // 250}.{n % 250 + 1}"
        real_ip = f"203.0.{113 + n // 250}.{n % 250 + 1}"
        headers = {"User-Agent": UA, "Referer": REFERER}
        if n % 3:  # most requests come "through the proxy"; the rest straight from the socket
            headers.update(
                {
                    "X-Forwarded-For": forwarded,
                    "X-Real-IP": real_ip,
                    "X-Forwarded-Proto": "https",
                    "Forwarded": f"for={real_ip};proto=https",
                }
            )
            with self.lock:
                self.values.update({forwarded, real_ip})
        with self.lock:
            self.values.add(source)
        return {"source": source, "headers": headers}

    def all(self) -> set:
        """The values, and their unkeyed digests (a plain hash is no anonymisation)."""
        out = set(self.values)
        for value in self.values:
            out.add(hashlib.sha256(value.encode()).hexdigest())
            out.add(hashlib.md5(value.encode()).hexdigest())
        return out


class Client:
    """HTTP with the test client's calling convention (tests/http_client.py), each request
    from a new identity, with the committee's session cookie kept by hand (it is Secure:
    a cookie jar would not send it over plain HTTP to 127.0.0.1)."""

    def __init__(self, port: int, needles: Needles):
        self.port, self.needles = port, needles
        self.cookies = {}

    def request(self, method, path, body=None, headers=None) -> Response:
        identity = self.needles.next_identity()
        headers = {**identity["headers"], **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=(identity["source"], 0))
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            for line in resp.headers.get_all("Set-Cookie") or []:
                name, _, rest = line.partition("=")
                value = rest.split(";", 1)[0]
                if value and "expires=thu, 01 jan 1970" not in line.lower():
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, path, headers=None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(self, path, json=None, data=None, content_type=None, headers=None) -> Response:
        headers = dict(headers or {})
        if json is not None:
            body, headers["Content-Type"] = jsonlib.dumps(json).encode(), "application/json"
        elif content_type == "multipart/form-data":
            body, headers["Content-Type"] = multipart(data or {})
        else:
            body = urllib.parse.urlencode(data or {}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.request("POST", path, body=body, headers=headers)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_db():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"the leak scan needs Redis at {REDIS_URL}: {exc}")
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(params=BACKENDS)
def service(tmp_path, request, redis_db):
    """gunicorn on a migrated database with a committee key; its output captured."""
    cfg = make_config(tmp_path, request, backend=request.param)
    app = build_app(cfg)
    with Session(services(app).engine) as s:
        offline.init_keys(
            s,
            tmp_path / "committee.key",
            KEY_PASSPHRASE,
            "committee",
            today("Asia/Shanghai"),
            opslimit=1,
            memlimit=8 * 1024 * 1024,
        )
        s.commit()
    services(app).engine.dispose()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(
        WHISTLE_INSTANCE_DIR=str(cfg.instance_dir),
        WHISTLE_DATABASE_URL=cfg.database_url,
        WHISTLE_RECEIPT_OPSLIMIT=str(cfg.receipt_opslimit),
        WHISTLE_RECEIPT_MEMLIMIT=str(cfg.receipt_memlimit),
        WHISTLE_RATELIMIT_STORAGE=f"{REDIS_URL}/{REDIS_DB}",
        WHISTLE_TRUSTED_PROXIES="1",
        WEB_CONCURRENCY="2",
        WHISTLE_POW_BITS="4",
        PYTHONPATH=str(PROJECT_DIR),
        WHISTLE_REDIS_SETTINGS="warn",
    )  # the tests' shared Redis keeps its defaults
    out, err = tmp_path / "gunicorn.stdout", tmp_path / "gunicorn.stderr"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [
                GUNICORN,
                "-c",
                str(PROJECT_DIR / "deploy" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "whistle:create_app()",
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, err.read_text()[-2000:]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield {"port": port, "cfg": cfg, "proc": proc, "logs": [out, err], "redis": redis_db, "totp": {}}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# --- the traffic ---------------------------------------------------------------------------------


def _js_report(port, needles, n):
    client = Client(port, needles)
    resp, code, _keys = seal_report(client, f"js report {n}", files=[(f"js-{n}.txt", b"js evidence %d" % n)])
    assert resp.status_code == 201, resp.data[:300]
    return ("js", code)


def _nojs_report(port, needles, n):
    client = Client(port, needles)
    resp = client.post(
        "/report/contractor",
        data=report_form(f"no-js report {n}", files=[(f"n-{n}.txt", b"nojs %d" % n)]),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.data[:300]
    return ("nojs", receipt_from(resp.get_data(as_text=True)))


def _follow_up(port, needles, receipt):
    client = Client(port, needles)
    path, code = receipt
    if path == "js":
        creds, keys = credentials(client, code)
        view = client.post("/api/v1/followup", json=creds)
        assert view.status_code == 200
        return 2
    grouped = code
    assert client.post("/followup", data={"code": grouped}).status_code == 200
    resp = client.post(
        "/followup/message",
        data={"code": grouped, "text": "more detail", "files": (io.BytesIO(b"later file"), "later.txt")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    return 2


def _mistakes(port, needles):
    """Error paths write logs if anything does."""
    client = Client(port, needles)
    assert client.post("/followup", data={"code": "1234"}).status_code == 400
    assert client.post("/followup", data={"code": "0000 0000 0000 0000 0000 0000 0000"}).status_code in (400, 404)
    assert client.get("/no-such-page").status_code == 404
    assert client.post("/api/v1/reports", json={"nonsense": True}).status_code == 400
    assert client.post("/api/v1/followup", data={"x": "y"}).status_code == 400
    assert (
        client.post("/report/contractor", data={"narrative": ""}, content_type="multipart/form-data").status_code == 400
    )
    assert client.post("/committee/login", data={"username": "x"}).status_code == 400  # no CSRF token
    # A malformed HTTP request straight to gunicorn (it would log the peer at warning level).
    identity = needles.next_identity()
    with socket.create_connection(("127.0.0.1", port), source_address=(identity["source"], 0)) as raw:
        raw.sendall(b"GARBAGE \x00\x01 / HTTP/9.9\r\nHost: x\r\nUser-Agent: " + UA.encode() + b"\r\n\r\n")
        raw.settimeout(10)
        try:
            raw.recv(1000)
        except OSError:
            pass
    return 8


def _enrol(service, needles):
    """Members enrol over HTTP (password, TOTP, a key made as the browser makes it)."""
    port = service["port"]
    engine = create_engine(service["cfg"].database_url)
    actions = 0
    try:
        for username in MEMBERS:
            with Session(engine) as s:
                token = members.invite(s, username, today("Asia/Shanghai"))
                s.commit()
            member = Client(port, needles)
            html = member.get(f"/committee/enrol/{token}").get_data(as_text=True)
            secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', html).group(1)
            keypair = KeyPair.generate()
            resp = member.post(
                f"/committee/enrol/{token}",
                data={
                    "csrf_token": csrf_of(html),
                    "password": PASSWORD,
                    "password2": PASSWORD,
                    "totp": pyotp.TOTP(secret).now(),
                    "public_key": b64u(keypair.public),
                    "wrapped_key": keyfile.wrap(keypair, MEMBER_KEY_PASSPHRASE, opslimit=1, memlimit=8 * 1024 * 1024),
                },
            )
            assert resp.status_code == 200 and b'id="fingerprint"' in resp.data, resp.data[:500]
            with Session(engine) as s:  # a second person's confirmation (tests/committee/test_enrolment.py)
                s.execute(update(Member).where(Member.username == username).values(confirmed_on=today("Asia/Shanghai")))
                s.commit()
            service["totp"][username] = secret
            actions += 2
    finally:
        engine.dispose()
    return actions


def _committee_work(service, needles):
    """Members log in (and fail once each), list and open cases, acknowledge, log out."""
    port = service["port"]
    actions = 0
    for username in MEMBERS:
        member = Client(port, needles)
        totp = service["totp"][username]
        html = member.get("/committee/login").get_data(as_text=True)
        resp = member.post(
            "/committee/login",
            data={
                "csrf_token": csrf_of(html),
                "username": username,
                "password": PASSWORD,
                "totp": pyotp.TOTP(totp).at(time.time() + 30),
            },
        )
        assert resp.status_code == 302, resp.data[:500]
        wrong = Client(port, needles)  # a failed login too (it is audited: by username only)
        html = wrong.get("/committee/login").get_data(as_text=True)
        assert (
            wrong.post(
                "/committee/login",
                data={"csrf_token": csrf_of(html), "username": username, "password": "wrong", "totp": "000000"},
            ).status_code
            == 401
        )
        listing = member.get("/committee/").get_data(as_text=True)
        case_ids = sorted(set(re.findall(r"/committee/cases/([0-9a-f]{32})", listing)))
        actions += 5
        for case_id in case_ids[:12]:
            page = member.get(f"/committee/cases/{case_id}")
            assert page.status_code == 200
            assert member.get(f"/committee/api/cases/{case_id}").status_code == 200
            resp = member.post(
                f"/committee/cases/{case_id}/status",
                data={"csrf_token": csrf_of(page.get_data(as_text=True)), "event": "acknowledged"},
            )
            assert resp.status_code in (302, 303), resp.status_code
            actions += 3
        page = member.get("/committee/").get_data(as_text=True)
        assert member.post("/committee/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
        actions += 2
    return actions


def _stay_logged_in(service, needles):
    """One member logs in again and does not log out: a live session is in Redis when it is
    scanned (the others ended theirs on the server). Their last login used one of the steps
    a code is good for now, or none: the first of them that is still unused logs in."""
    username = MEMBERS[0]
    totp = pyotp.TOTP(service["totp"][username])
    for ahead in (-1, 0, 1):
        member = Client(service["port"], needles)
        html = member.get("/committee/login").get_data(as_text=True)
        resp = member.post(
            "/committee/login",
            data={
                "csrf_token": csrf_of(html),
                "username": username,
                "password": PASSWORD,
                "totp": totp.at(time.time() + 30 * ahead),
            },
        )
        if resp.status_code == 302:
            break
    assert resp.status_code == 302, resp.data[:500]
    assert member.get("/committee/").status_code == 200
    return 3


def _worker_pids(proc) -> list[int]:
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def _kill_a_worker(service) -> str:
    """SIGKILL one worker: gunicorn's arbiter reports it at error level, a line that must be in
    the captured output (else the logs scanned are not the ones gunicorn writes)."""
    pid = _worker_pids(service["proc"])[0]
    os.kill(pid, signal.SIGKILL)  # a worker of the gunicorn this test started
    line = f"Worker (pid:{pid}) was sent SIGKILL"
    deadline = time.monotonic() + 20
    while line not in service["logs"][1].read_text(errors="replace"):
        assert time.monotonic() < deadline, "gunicorn's error log is not in the captured stderr"
        time.sleep(0.1)
    return line


# --- the scan --------------------------------------------------------------------------------------


def _database_text(url: str) -> str:
    """Every row of every table, read through SQL, as text (bytes as latin-1)."""
    engine = create_engine(url)
    out = []
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    out.append(repr(tuple(row)))
                    out.extend(bytes(v).decode("latin-1") for v in row if isinstance(v, (bytes, memoryview)))
    finally:
        engine.dispose()
    return "\n".join(out)


def _redis_text(client) -> str:
    out = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        out.append(key.decode("latin-1"))
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [m for m, _score in client.zrange(key, 0, -1, withscores=True)]
        else:
            values = [repr(client.dump(key)).encode()]
        out.extend(v.decode("latin-1") for v in values if v is not None)
    return "\n".join(out)


WINDOW_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 30 * 86400, "year": 365 * 86400}


def _untimely_expiries(client) -> list:
    """Redis keys whose expiry could keep the time of day of a request: every expiry must
    fall on a boundary of the clock that no request chose (a rate-limit counter's at the end
    of its window, spent challenges' on the hour). Members' sessions and
    logins are the exception by design: a session's time-to-live is the idle timeout, and the
    TOTP step a login used is kept until its codes expire (two minutes at most)."""
    odd = []
    for key in client.scan_iter(count=1000):
        name = key.decode("latin-1")
        if name.startswith(("whistle:session:", "whistle:totp-used:")):
            continue
        expires_ms = client.execute_command("PEXPIRETIME", key)
        if name.startswith("LIMITS:"):
            amount, unit = name.rsplit("/", 2)[-2:]
            boundary = int(amount) * WINDOW_SECONDS[unit] * 1000
        else:
            boundary = 3600 * 1000
        if expires_ms < 0 or expires_ms % boundary:
            odd.append((name, expires_ms))
    return odd


def _files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in sorted(root.rglob("*")) if p.is_file())


def test_no_client_metadata_in_database_redis_files_or_logs(service):
    needles = Needles()
    port = service["port"]
    started = time.monotonic()
    counts = {"enrolment": _enrol(service, needles)}  # before the reports: they are granted at arrival
    with ThreadPoolExecutor(4) as pool:
        receipts = list(pool.map(lambda n: _js_report(port, needles, n), range(REPORTS)))
        receipts += list(pool.map(lambda n: _nojs_report(port, needles, n), range(REPORTS)))
        counts["follow-ups"] = sum(pool.map(lambda r: _follow_up(port, needles, r), receipts))
    counts["reports"] = len(receipts)
    killed = _kill_a_worker(service)  # (early: its successor boots while the traffic goes on)
    counts["mistakes"] = _mistakes(port, needles)
    counts["committee"] = _committee_work(service, needles)
    counts["live session"] = _stay_logged_in(service, needles)
    elapsed = time.monotonic() - started

    redis_text = _redis_text(service["redis"])  # before stopping: sessions, counters
    untimely = _untimely_expiries(service["redis"])
    service["proc"].send_signal(signal.SIGTERM)
    service["proc"].wait(timeout=30)
    cfg = service["cfg"]
    database_text = _database_text(cfg.database_url)
    haystacks = {
        "database rows": database_text,
        "instance directory (database files, WAL, secret)": _files_text(cfg.instance_dir),
        "Redis": redis_text,
        "gunicorn stdout and stderr": "\n".join(p.read_bytes().decode("latin-1") for p in service["logs"]),
    }
    # Canaries: each haystack is the one the service wrote to.
    engine = create_engine(cfg.database_url)
    with Session(engine) as s:
        locators = s.scalars(select(Case.locator)).all()
    engine.dispose()
    assert len(locators) == 2 * REPORTS and all(loc in database_text for loc in locators[:5])
    assert "LIMITS:" in redis_text and "whistle:" in redis_text, redis_text[:500]
    assert "whistle:session:" in redis_text and "ratelimit-key" not in redis_text, redis_text[:500]
    assert killed in haystacks["gunicorn stdout and stderr"]
    files_text = haystacks["instance directory (database files, WAL, secret)"]
    assert (cfg.instance_dir / "instance-secret").read_bytes().decode("latin-1") in files_text
    if cfg.database_url.startswith("sqlite"):  # the database file itself was read, byte for byte
        assert all(loc in files_text for loc in locators[:5])

    needle_set = needles.all()
    hits = [(needle, where) for where, hay in haystacks.items() for needle in needle_set if needle in hay]
    print(
        f"\n[leak scan] {needles.counter} requests from {needles.counter} source addresses in {elapsed:.1f} s "
        f"({counts}); {len(needle_set)} needles x {len(haystacks)} haystacks "
        f"({', '.join(f'{k}: {len(v) // 1024} KiB' for k, v in haystacks.items())}); {len(hits)} hits"
    )
    assert not hits, hits[:20]
    # No time of day either: not in a Redis expiry, not in a log line.
    assert not untimely, untimely[:20]
    logs = haystacks["gunicorn stdout and stderr"]
    assert not re.search(r"\b\d{1,2}:\d{2}:\d{2}\b", logs), logs[:2000]
