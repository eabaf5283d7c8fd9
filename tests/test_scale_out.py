"""deploy/scale-out.sh: two gunicorn instances on one PostgreSQL database and one Redis.

A report goes in through instance A; the reporter follows up through instance B with the
receipt code; a locator issued by A is accepted by B (one instance secret); and receipt
attempts spread over A and B draw on one shared rate-limit budget. The stack is stopped
whatever happens, and stopping leaves no process, database or Redis key behind.
"""

import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from crypto.receipt import ReceiptCode
from whistle.config import PROJECT_DIR, Config

from tests.client_side import credentials, new_locator, seal_report
from tests.conftest import PG_URL
from tests.http_client import HttpClient

SCRIPT = PROJECT_DIR / "deploy" / "scale-out.sh"
REDIS_URL = os.environ.get("WHISTLE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = 11  # a database of the test's own (tests/test_hardening.py uses 13)


def _clean(client) -> None:
    for key in [*client.scan_iter("LIMITS:*"), *client.scan_iter("whistle:*")]:
        client.delete(key)


pytestmark = pytest.mark.skipif(not PG_URL, reason="the scale-out stack needs PostgreSQL (WHISTLE_TEST_DATABASE_URL)")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _databases() -> set:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        names = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    engine.dispose()
    return names


def _env_file(path: Path) -> dict:
    """The settings the script wrote for the CLI (`export NAME=value` lines)."""
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0]
    return env


def _default_budget() -> int:
    """Requests per hour one client may make to the receipt endpoints (Config default)."""
    default = next(f.default for f in fields(Config) if f.name == "limit_followup")
    return int(re.match(r"(\d+) per hour", default).group(1))


@pytest.fixture
def stack(tmp_path):
    import redis

    redis_url = f"{REDIS_URL}/{REDIS_DB}"
    client = redis.Redis.from_url(redis_url)
    try:
        _clean(client)  # left over from an interrupted run, the counts below would be off
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"the scale-out test needs Redis at {REDIS_URL}: {exc}")
    name = "whistle_scale_" + secrets.token_hex(4)
    ports = _free_ports(2)
    state = tmp_path / "stack"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(
        WHISTLE_VENV_BIN=str(Path(sys.executable).parent),
        WHISTLE_SCALE_PG=PG_URL,
        WHISTLE_SCALE_REDIS=redis_url,
        WHISTLE_SCALE_DIR=str(state),
        WHISTLE_SCALE_PORTS=" ".join(map(str, ports)),
        WHISTLE_SCALE_WORKERS="2",
        WHISTLE_REDIS_SETTINGS="warn",  # the tests' shared Redis keeps its defaults
        # The Python stand-in for the browser stretches receipts cheaply; the site's
        # cost must match (the API refuses any other).
        WHISTLE_RECEIPT_OPSLIMIT="1",
        WHISTLE_RECEIPT_MEMLIMIT=str(8 * 1024 * 1024),
    )

    def run(mode):
        return subprocess.run(
            [str(SCRIPT), mode, name],
            env=env,
            capture_output=True,  # noqa: E731
            text=True,
            timeout=240,
        )

    started = run("start")
    pids = {p: int((state / f"{p}.pid").read_text()) for p in ports if (state / f"{p}.pid").exists()}
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {
            "name": name,
            "ports": ports,
            "state": state,
            "pids": pids,
            "redis": redis_url,
            "env": {**env, **_env_file(state / "env")},
        }
    finally:
        stopped = run("stop")
        for pid in pids.values():  # a last resort if stop failed: only the pids start recorded
            if _alive(pid):
                os.kill(pid, 9)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    # Stopping left nothing behind.
    assert not any(_alive(pid) for pid in pids.values())
    assert name not in _databases()
    assert not [*client.scan_iter("LIMITS:*"), *client.scan_iter("whistle:*")]


def test_scale_out_stack(stack, tmp_path):
    a_port, b_port = stack["ports"]
    assert len(set(stack["pids"].values())) == 2, "two separate gunicorn processes"
    a, b = HttpClient(f"http://127.0.0.1:{a_port}"), HttpClient(f"http://127.0.0.1:{b_port}")
    for instance in (a, b):
        assert instance.get("/healthz").status_code == 200
        assert instance.get("/readyz").get_json() == {"ready": False, "failing": ["committee_key"]}

    # The committee registers its key with the CLI, against the stack's database.
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple")
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("whistle")),
            "keys",
            "init",
            "--out",
            str(tmp_path / "committee.key"),
            "--passphrase-file",
            str(passphrase),
        ],
        env=stack["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for instance in (a, b):
        assert instance.get("/readyz").status_code == 200

    # A report through A.
    resp, code, _keys = seal_report(a, "SCALE-OUT report 吃拿卡要", files=[("evidence.txt", b"EVIDENCE")])
    assert resp.status_code == 201, resp.get_json()

    # The reporter follows up through B: salt and lookup token from B.
    creds, _ = credentials(b, code)
    case = b.post("/api/v1/followup", json=creds)
    assert case.status_code == 200, case.get_json()
    assert [e["event"] for e in case.get_json()["timeline"]] == ["received"]
    used = 2  # salt + follow-up, both on the receipt budget

    # One instance secret: a locator issued by A is accepted by B, and an unknown locator
    # gets the same fake salt from both.
    locator, token = new_locator(a)
    resp, _code, _ = seal_report(b, "second report", code=ReceiptCode.generate(locator=locator), token=token)
    assert resp.status_code == 201, resp.get_json()
    fake = [x.get("/api/v1/receipts/0000001/salt").get_json() for x in (a, b)]
    assert fake[0] == fake[1]
    used += 2

    # One rate-limit budget: receipt attempts alternate between A and B.
    budget = _default_budget()
    statuses = []
    for i in range(budget + 4):
        statuses.append((a if i % 2 else b).get("/api/v1/receipts/0000002/salt").status_code)
    assert statuses.count(200) == budget - used, statuses
    first_refused = statuses.index(429)
    assert set(statuses[first_refused:]) == {429}, "refused on both instances alike"
    assert {statuses[-1], statuses[-2]} == {429}

    # The counters live in Redis; the key that names clients in them is not there, but
    # computed alike by both instances from the one chain file they share.
    import redis

    r = redis.Redis.from_url(stack["redis"])
    assert not list(r.scan_iter("*ratelimit-key*"))
    assert list(r.scan_iter("LIMITS:*"))
    assert (stack["state"] / "ratelimit-key").is_file()

    # The instances' own logs hold no client address and no time of day.
    for port in stack["ports"]:
        log = (stack["state"] / f"{port}.log").read_text()
        assert "127.0.0.1" not in log
        assert not re.search(r"\d\d:\d\d:\d\d", log)


def test_stop_refuses_nothing_it_did_not_start(tmp_path):
    """`stop` for a stack that was never started touches no process and no database."""
    before = _databases()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(
        WHISTLE_VENV_BIN=str(Path(sys.executable).parent),
        WHISTLE_SCALE_PG=PG_URL,
        WHISTLE_SCALE_DIR=str(tmp_path / "none"),
    )
    result = subprocess.run([str(SCRIPT), "stop", "test"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # The existing "test" database was not dropped. (The other test worker's throw-away
    # databases come and go meanwhile: they are left out of the comparison.)
    assert _lasting(_databases()) >= _lasting(before)


def _lasting(names: set[str]) -> set[str]:
    return {n for n in names if not n.startswith(("whistle_test_", "whistle_template_"))}


def test_start_cleans_up_when_an_instance_cannot_start(tmp_path):
    """A port already taken: start fails, and what it had created is gone again."""
    name = "whistle_scale_" + secrets.token_hex(4)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    free = _free_ports(1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(
        WHISTLE_VENV_BIN=str(Path(sys.executable).parent),
        WHISTLE_SCALE_PG=PG_URL,
        WHISTLE_SCALE_DIR=str(tmp_path / "stack"),
        WHISTLE_SCALE_REDIS=f"{REDIS_URL}/{REDIS_DB + 1}",
        WHISTLE_SCALE_PORTS=f"{free} {blocker.getsockname()[1]}",
    )
    try:
        result = subprocess.run([str(SCRIPT), "start", name], env=env, capture_output=True, text=True, timeout=240)
    finally:
        blocker.close()
    assert result.returncode != 0
    assert "cleaning up" in result.stderr
    assert name not in _databases()
    assert not list((tmp_path / "stack").glob("*.pid"))
    with socket.socket() as probe:  # the first instance was stopped again: nothing listens on its port
        # SO_REUSEADDR: connections the script's health checks left in TIME_WAIT do not count;
        # a process still listening there would still make the bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", free))
