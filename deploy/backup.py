"""whistle backups: what deploy/backup.sh and deploy/restore.sh run (see their --help).

A backup is one tar file holding the database and nothing else:

    manifest.json     backend, schema revision, the day it was made, row count of every
                      table, SHA-256 of every other member
    database.pgdump   PostgreSQL: ``pg_dump --format=custom`` of the whistle database only
    database.sqlite   SQLite: a consistent copy made with sqlite3's online backup API
    instance-secret   only with --with-secret

No log, no configuration, no rules file, no committee key. Report contents, messages and
files are in the database as sealed envelopes and encrypted chunks, so they are ciphertext
in the backup too; the routing codes, days, statuses, member accounts (password hashes,
sealed TOTP secrets) and the audit log are in clear, as they are in the database: keep a
backup where you would keep the database, and encrypt it when it leaves the host.

Every backup is checked before it is reported made: it is restored into a scratch
database (a new PostgreSQL database on the same server, dropped afterwards, or a
temporary SQLite file), the row count of every table is compared with the manifest, and
``whistle audit verify`` must pass on the restored copy. A restore does the same checks on
its target.
"""

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

FORMAT = "whistle-backup/1"
MEMBERS = {"manifest.json", "database.pgdump", "database.sqlite", "instance-secret"}


class BackupError(Exception):
    """A backup, verification or restore that must stop; the message says why."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- configuration -------------------------------------------------------------------------


def _settings():
    """The app's own configuration (the same environment variables as the service)."""
    from whistle import config

    try:
        return config.from_env()
    except config.ConfigError as exc:
        raise BackupError(str(exc)) from exc


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("postgresql", "sqlite"):
        raise BackupError(f"unsupported database {name!r}: PostgreSQL or SQLite")
    return name


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an SQLite database in a file is needed")
    return Path(database)


def _pg_env(url: str, database: str | None = None) -> dict:
    """libpq environment variables for ``url``: the password never appears in argv."""
    u = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    values = {
        "PGHOST": u.host or u.query.get("host"),
        "PGPORT": u.port,
        "PGUSER": u.username,
        "PGPASSWORD": u.password,
        "PGDATABASE": database or u.database,
    }
    env.update({k: str(v) for k, v in values.items() if v})
    return env


def _pg_connect(url: str, database: str | None = None, autocommit: bool = False):
    import psycopg

    env = _pg_env(url, database)
    return psycopg.connect(
        host=env.get("PGHOST"),
        port=env.get("PGPORT"),
        user=env.get("PGUSER"),
        password=env.get("PGPASSWORD"),
        dbname=env.get("PGDATABASE"),
        autocommit=autocommit,
    )


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


# --- row counts ----------------------------------------------------------------------------


def _pg_counts(conn) -> dict:
    from psycopg import sql

    names = [
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
    ]
    return {n: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(n))).fetchone()[0] for n in names}


def _sqlite_counts(path: Path) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- dumping -------------------------------------------------------------------------------


def _dump_postgresql(url: str, out: Path) -> tuple[dict, str | None]:
    """pg_dump under an exported snapshot, so the counts taken in that same snapshot are
    exactly the rows in the dump, whatever the service writes meanwhile."""
    with _pg_connect(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = _pg_counts(conn)
        revision = None
        if "alembic_version" in counts:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--no-comments",
                f"--snapshot={snapshot}",
                f"--file={out}",
            ],
            env=_pg_env(url),
        )
        conn.rollback()
    return counts, revision


def _dump_sqlite(url: str, out: Path) -> tuple[dict, str | None]:
    source = _sqlite_path(url)
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(out)
    try:
        src.backup(dst)  # a consistent snapshot, WAL included, while the service runs
    finally:
        dst.close()
        src.close()
    counts = _sqlite_counts(out)
    revision = None
    if "alembic_version" in counts:
        conn = sqlite3.connect(out)
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.close()
        revision = row[0] if row else None
    return counts, revision


def _run(argv: list, env=None) -> None:
    tool = shutil.which(argv[0])
    if tool is None:
        raise BackupError(f"{argv[0]} is not installed (Debian: apt-get install postgresql-client)")
    result = subprocess.run([tool, *argv[1:]], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {result.stderr.strip()}")


def _secret_path(cfg) -> Path:
    return cfg.instance_secret_file or cfg.instance_dir / "instance-secret"


def _unique_name(out_dir: Path, day: dt.date) -> Path:
    base = f"whistle-backup-{day.isoformat()}"
    candidate, n = out_dir / f"{base}.tar", 1
    while candidate.exists():
        n += 1
        candidate = out_dir / f"{base}-{n}.tar"
    return candidate


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def backup(out_dir: Path, with_secret: bool = False, verify_it: bool = True, scratch_url: str | None = None) -> Path:
    """Write a backup of the configured database into ``out_dir``; return its path."""
    cfg = _settings()
    url = cfg.database_url
    backend = _backend(url)
    out_dir.mkdir(parents=True, exist_ok=True)
    day = dt.datetime.now(dt.timezone.utc).date()
    with tempfile.TemporaryDirectory(prefix="whistle-backup-") as work:
        dump = Path(work) / ("database.pgdump" if backend == "postgresql" else "database.sqlite")
        counts, revision = (_dump_postgresql if backend == "postgresql" else _dump_sqlite)(url, dump)
        files = {dump.name: dump.read_bytes()}
        if with_secret:
            secret = _secret_path(cfg)
            if not secret.is_file():
                raise BackupError(f"--with-secret: no instance secret at {secret}")
            files["instance-secret"] = secret.read_bytes()
        manifest = {
            "format": FORMAT,
            "made_on": day.isoformat(),
            "backend": backend,
            "revision": revision,
            "rows": counts,
            "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
            "instance_secret": with_secret,
        }
        target = _unique_name(out_dir, day)
        partial = target.with_name(target.name + ".partial")
        # Only the day, like every row: no time of day in the archive's members either.
        mtime = int(dt.datetime.combine(day, dt.time(), dt.timezone.utc).timestamp())
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, "manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode(), mtime)
                for name, data in files.items():
                    _add(tar, name, data, mtime)
            if verify_it:
                verify(partial, scratch_url=scratch_url, label=target.name)
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    return target


# --- reading, verifying, restoring ---------------------------------------------------------


def _extract(archive: Path, into: Path) -> dict:
    """The manifest, after extracting the expected members and checking their hashes."""
    try:
        tar = tarfile.open(archive, mode="r:")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{archive}: not a whistle backup ({exc})") from exc
    with tar:
        for member in tar.getmembers():
            if member.name not in MEMBERS or not member.isfile():
                raise BackupError(f"{archive}: unexpected member {member.name!r}")
            data = tar.extractfile(member).read()
            path = into / member.name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
    try:
        manifest = json.loads((into / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{archive}: no readable manifest") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: unknown format {manifest.get('format')!r}")
    for name, digest in manifest["sha256"].items():
        if not (into / name).is_file() or _sha256(into / name) != digest:
            raise BackupError(f"{archive}: {name} is missing or damaged (SHA-256 differs)")
    return manifest


def _load(dump_dir: Path, manifest: dict, url: str) -> dict:
    """Restore the dump into the empty database at ``url``; return its row counts."""
    if manifest["backend"] != _backend(url):
        raise BackupError(f"this is a {manifest['backend']} backup; the target is {_backend(url)}")
    if manifest["backend"] == "postgresql":
        with _pg_connect(url) as conn:
            if _pg_counts(conn):
                raise BackupError("the target database is not empty: restore into a new database")
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={make_url(url).database}",
                str(dump_dir / "database.pgdump"),
            ],
            env=_pg_env(url),
        )
        with _pg_connect(url) as conn:
            return _pg_counts(conn)
    target = _sqlite_path(url)
    if target.exists() and target.stat().st_size and _sqlite_counts(target):
        raise BackupError(f"the target database {target} is not empty: restore into a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{dump_dir / 'database.sqlite'}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        problem = dst.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        dst.close()
        src.close()
    if problem != "ok":
        raise BackupError(f"the restored SQLite database fails its integrity check: {problem}")
    return _sqlite_counts(target)


def _whistle_command() -> list:
    script = Path(sys.executable).with_name("whistle")
    return [str(script)] if script.exists() else [sys.executable, "-m", "whistle.cli"]


def _check(manifest: dict, counts: dict, url: str) -> None:
    """Row counts equal the manifest's; then ``whistle audit verify`` on the restored copy."""
    if counts != manifest["rows"]:
        diff = sorted(set(counts) ^ set(manifest["rows"])) + sorted(
            t for t in set(counts) & set(manifest["rows"]) if counts[t] != manifest["rows"][t]
        )
        raise BackupError(f"row counts differ from the backup's manifest in: {', '.join(diff)}")
    with tempfile.TemporaryDirectory(prefix="whistle-verify-") as instance:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
        env.update(WHISTLE_DATABASE_URL=url, WHISTLE_INSTANCE_DIR=instance)
        if os.environ.get("WHISTLE_RULES"):
            env["WHISTLE_RULES"] = os.environ["WHISTLE_RULES"]
        result = subprocess.run([*_whistle_command(), "audit", "verify"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(
            f"whistle audit verify failed on the restored copy: {(result.stderr or result.stdout).strip()}"
        )
    _say(f"  {result.stdout.strip().splitlines()[0] if result.stdout.strip() else 'audit log intact'}")


@contextlib.contextmanager
def _scratch(backend: str, scratch_url: str | None, workdir: Path):
    """A new empty database for a trial restore, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'scratch.db'}"
        return
    admin = scratch_url or _settings().database_url
    if _backend(admin) != "postgresql":
        raise BackupError("a PostgreSQL backup needs a PostgreSQL server to try it on: --scratch-url")
    name = "whistle_verify_" + secrets.token_hex(6)
    with _pg_connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin, name)
    finally:
        with _pg_connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def verify(archive: Path, scratch_url: str | None = None, label: str | None = None) -> dict:
    """Restore ``archive`` into a scratch database and check it; return its manifest."""
    with tempfile.TemporaryDirectory(prefix="whistle-verify-") as work:
        workdir = Path(work)
        (workdir / "dump").mkdir()
        manifest = _extract(archive, workdir / "dump")
        with _scratch(manifest["backend"], scratch_url, workdir) as url:
            counts = _load(workdir / "dump", manifest, url)
            _check(manifest, counts, url)
    _say(
        f"verified: {label or archive.name} restores with {sum(manifest['rows'].values())} rows in "
        f"{len(manifest['rows'])} tables, audit log intact"
    )
    return manifest


def restore(archive: Path, with_secret: bool = False) -> None:
    """Restore ``archive`` into the configured (empty) database, then check it."""
    cfg = _settings()
    with tempfile.TemporaryDirectory(prefix="whistle-restore-") as work:
        dump = Path(work)
        manifest = _extract(archive, dump)
        secret_target = _secret_path(cfg)
        if with_secret:
            if not manifest.get("instance_secret"):
                raise BackupError("--with-secret: this backup holds no instance secret")
            wanted = (dump / "instance-secret").read_bytes()
            if secret_target.exists() and secret_target.read_bytes() != wanted:
                raise BackupError(f"{secret_target} holds a different instance secret; move it away first")
        counts = _load(dump, manifest, cfg.database_url)
        _check(manifest, counts, cfg.database_url)
        if with_secret and not secret_target.exists():
            secret_target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(secret_target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(wanted)
    _say(f"restored {archive.name} into the configured database: row counts match, audit log intact")
    if manifest.get("instance_secret") and not with_secret:
        _say("note: the backup holds an instance secret; --with-secret installs it")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="whistle-backup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="write a verified backup of the configured database")
    b.add_argument("--out", default=".", help="directory for the backup file (default: .)")
    b.add_argument("--with-secret", action="store_true", help="include the instance secret")
    b.add_argument("--no-verify", action="store_true", help="skip the trial restore")
    b.add_argument("--scratch-url", help="PostgreSQL server (any database URL) for the trial restore")
    v = sub.add_parser("verify", help="trial-restore a backup into a scratch database")
    v.add_argument("archive")
    v.add_argument("--scratch-url", help="PostgreSQL server (any database URL) for the trial restore")
    r = sub.add_parser("restore", help="restore a backup into the configured, empty database")
    r.add_argument("archive")
    r.add_argument("--with-secret", action="store_true", help="also install the instance secret")
    args = parser.parse_args(argv)
    os.umask(0o077)
    try:
        if args.command == "backup":
            path = backup(Path(args.out), args.with_secret, not args.no_verify, args.scratch_url)
            print(path)
        elif args.command == "verify":
            verify(Path(args.archive), args.scratch_url)
        else:
            restore(Path(args.archive), args.with_secret)
    except BackupError as exc:
        _say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
