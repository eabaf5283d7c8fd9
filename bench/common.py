"""What the benchmarks share: the machine, throw-away databases, gunicorn processes started
and stopped by their own pid, a committee with enrolled members."""

import datetime as dt
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from crypto import keyfile
from crypto.keys import KeyPair
from whistle import migrate
from whistle.committee import members
from whistle.custody import offline
from whistle.clock import today
from whistle.config import PROJECT_DIR
from whistle.db import make_engine

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
GUNICORN_CONF = str(PROJECT_DIR / "deploy" / "gunicorn.conf.py")
PG_ADMIN_URL = (
    os.environ.get("WHISTLE_BENCH_PG")
    or os.environ.get("WHISTLE_TEST_DATABASE_URL")
    or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("WHISTLE_BENCH_REDIS", "redis://127.0.0.1:6379/9")  # a database of the bench's own
KEY_PASSPHRASE = "benchmark committee key"
MEMBER_PASSWORD = "benchmark member password"
TZ = "Asia/Shanghai"


def machine() -> dict:
    """nproc, memory, CPU model, kernel, Python, date."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "commit": _commit(),
    }


def _commit() -> str:
    if os.environ.get("WHISTLE_BENCH_CODE"):  # e.g. when run from an exported copy without .git
        return os.environ["WHISTLE_BENCH_CODE"]
    try:
        head = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "") if head else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - no PostgreSQL: the benchmark says so and goes on
        return False


class Database:
    """A fresh database: a SQLite file in ``folder``, or a PostgreSQL database of its own
    (created here, dropped by drop())."""

    def __init__(self, backend: str, folder: Path, name: str):
        self.backend = backend
        self.created = None
        if backend == "sqlite":
            folder.mkdir(parents=True, exist_ok=True)
            self.url = f"sqlite:///{folder / (name + '.db')}"
        else:
            admin = make_url(PG_ADMIN_URL)
            self.created = f"whistle_bench_{name}_{secrets.token_hex(4)}"
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.created}"'))
            engine.dispose()
            self.url = admin.set(database=self.created).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.created is None:
            return
        engine = create_engine(make_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": self.created}
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.created}"'))
        engine.dispose()
        self.created = None


def prepare_whistle(db_url: str, key_file: Path, secret_file: Path, member_names=("zhao.lei", "li.na")) -> dict:
    """Migrate, register a committee key (file ``key_file``) and enrol members with keys (as
    their browsers would), so reports are sealed to and granted as in production. Returns
    {username: (member id, TOTP secret, keypair)}."""
    from whistle.models import Member

    engine = make_engine(db_url)
    migrate.upgrade(engine)
    enrolled = {}
    with Session(engine) as s:
        offline.init_keys(
            s, key_file, KEY_PASSPHRASE, "benchmark committee", today(TZ), opslimit=1, memlimit=8 * 1024 * 1024
        )
        s.commit()
    secret = instance_secret(secret_file)
    for username in member_names:
        with Session(engine) as s:
            members.invite(s, username, today(TZ))
            member = s.query(Member).filter_by(username=username).one()
            totp = members.new_totp_secret()
            keypair = KeyPair.generate()
            members.complete_enrolment(
                member,
                password=MEMBER_PASSWORD,
                totp_secret_blob=members.seal_totp(secret, totp),
                public_key=keypair.public,
                wrapped_key=keyfile.wrap(keypair, "member key passphrase", opslimit=1, memlimit=8 * 1024 * 1024),
                on=today(TZ),
            )
            # As a second person's confirmation leaves it (whistle.committee.enrolment): an
            # unconfirmed account is sealed nothing, and the benchmark's members must be.
            member.confirmed_on = today(TZ)
            s.commit()
            enrolled[username] = (member.id, totp, keypair)
    engine.dispose()
    return enrolled


def instance_secret(path: Path) -> bytes:
    """The 32-byte instance secret in ``path``, created (mode 0600) if missing."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secrets.token_bytes(32))
        os.close(fd)
    return path.read_bytes()


def redis_clean(url: str = REDIS_URL) -> None:
    """Delete what the benchmark's servers kept in its Redis database (and nothing else)."""
    import redis

    client = redis.Redis.from_url(url)
    for pattern in ("LIMITS:*", "whistle:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)
    client.close()


class Gunicorn:
    """A gunicorn master (and its workers) in a process group of its own, with
    deploy/gunicorn.conf.py; stopped by its pid."""

    def __init__(self, app_spec: str, env: dict, workers: int, log: Path):
        self.port = free_port()
        self.log = log
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WHISTLE_", "BASELINE_", "WEB_CONCURRENCY"))}
        base["PYTHONPATH"] = str(PROJECT_DIR)
        base.update(env)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    GUNICORN,
                    "-c",
                    GUNICORN_CONF,
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(workers),
                    app_spec,
                ],
                cwd=PROJECT_DIR,
                env=base,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def workers(self) -> list[int]:
        """The worker pids (children of the master)."""
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(p) for p in children)
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def status_kib(pid: int) -> dict:
    """VmRSS and VmHWM of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":", 1)
            out[name] = int(value.split()[0])
    return out


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
