"""Crash safety: the server is killed with SIGKILL while reports stream in, and restarted.

gunicorn (deploy/gunicorn.conf.py, the production settings) serves the app as a separate
process group. Reporter threads keep sending reports with attachments, and follow-up
messages with attachments on reports already receipted, through both paths (sealed by the
Python stand-in for the browser, and the no-JS forms sealed on the server); the whole group
is killed with SIGKILL mid-stream, four times, and started again. Then:

- every report that returned a receipt can be followed up with it on the restarted server,
  and decrypts with the committee key (whistle.custody.offline.decrypt_case) to exactly what was
  sent, attachments included; so does every follow-up message the server said it stored;
- nothing half-written remains: no case without its report item and "received" event, no
  item without its case, no gap in a case's item or event numbers, no attachment without
  chunks or with a gap or a wrong size, no chunk without its attachment; every stored item
  of every case, receipted or not (a response lost in the crash), opens completely with
  the committee key; and no temporary file of an upload is left behind.

(SIGKILL ends the processes, not the machine: what they wrote survives in the page cache
whether or not it was fsynced, so this test cannot tell a durable commit from one that a
power cut would lose. The SQLite settings (whistle.db) and PostgreSQL's synchronous_commit
are what make the commit durable.)

Runs on SQLite, and on PostgreSQL when WHISTLE_TEST_DATABASE_URL is set.
"""

import hashlib
import http.client
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from crypto.receipt import ReceiptCode
from whistle.custody import offline
from whistle.clock import today
from whistle.config import PROJECT_DIR
from whistle.models import Case
from whistle.services import services

from tests.client_side import credentials, followup_message, seal_report
from tests.conftest import BACKENDS, KEY_PASSPHRASE, build_app, make_config
from tests.helpers import receipt_from, report_form
from tests.http_client import HttpClient

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
ROUNDS = 4  # kill and restart this many times
RECEIPTS_BEFORE_KILL = 4  # per round, then kill at a random moment soon after
REPORTERS = 4  # threads sending reports concurrently
DEADLINE_SECONDS = 45  # the whole streaming part, whatever happens


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn in its own process group (master and workers), killed as a group."""

    def __init__(self, env: dict, port: int, log: Path):
        self.env, self.port, self.log = env, port, log
        self.proc = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    GUNICORN,
                    "-c",
                    str(PROJECT_DIR / "deploy" / "gunicorn.conf.py"),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "whistle:create_app()",
                ],
                cwd=PROJECT_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if HttpClient(self.url, timeout=2).get("/healthz").status_code == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("gunicorn did not start within 30 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once (they share the process group
        the master leads), then reap the master."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Workers are in the group too; wait until none is left (they are gone with SIGKILL).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc is not None and _group_alive(self.proc.pid):
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


class Reporters:
    """Threads sending reports, and follow-up messages on receipted ones, until told to
    stop; receipts and stored messages are kept with what was sent."""

    def __init__(self, url: str, earlier=()):
        self.url = url
        self.receipts = []  # (path, code, narrative, {file name: sha256})
        self.earlier = list(earlier)  # receipts of the rounds before: their cases get messages too
        self.messages = []  # (path, code, text, {file name: sha256}) of messages the server stored
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = []
        self.cut = 0  # requests the kill cut off

    def _message(self, n: int, client: HttpClient, code: ReceiptCode) -> None:
        text = f"message {n} {secrets.token_hex(8)}"
        name = f"more-{n}.bin"
        data = secrets.token_bytes(secrets.choice([1024, 300 * 1024, 1024 * 1024 + 5]))
        if n % 2:
            ok = followup_message(client, code, text, files=[(name, data)]).status_code == 201
            path = "js"
        else:
            resp = client.post(
                "/followup/message",
                data={"code": code.grouped(), "text": text, "files": [(io.BytesIO(data), name)]},
                content_type="multipart/form-data",
            )
            ok = resp.status_code == 200 and 'class="success" role="status"' in resp.get_data(as_text=True)
            path = "nojs"
        if ok:
            with self.lock:
                self.messages.append((path, code, text, {name: hashlib.sha256(data).hexdigest()}))

    def _one(self, n: int, client: HttpClient) -> None:
        if n % 3 == 2:  # every third request: a follow-up message on a case that has a receipt
            with self.lock:
                known = [code for _path, code, _text, _files in self.earlier + self.receipts]
            if known:
                self._message(n, client, secrets.choice(known))
                return
        narrative = f"report {n} {secrets.token_hex(8)}"
        name = f"evidence-{n}.bin"
        data = secrets.token_bytes(secrets.choice([64 * 1024, 700 * 1024, 2 * 1024 * 1024 + 17]))
        if n % 2:
            resp, code, _keys = seal_report(client, narrative, files=[(name, data)])
            ok = resp.status_code == 201
            path = "js"
        else:
            resp = client.post(
                "/report/contractor",
                data=report_form(narrative, files=[(name, data)]),
                content_type="multipart/form-data",
            )
            ok = resp.status_code == 200
            code = ReceiptCode.parse(receipt_from(resp.get_data(as_text=True))) if ok else None
            path = "nojs"
        if ok:
            with self.lock:
                self.receipts.append((path, code, narrative, {name: hashlib.sha256(data).hexdigest()}))

    def _run(self, worker: int) -> None:
        n = worker
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not self.stop.is_set() and time.monotonic() < deadline:
            # A different forwarded address per report (the app trusts one proxy, as behind
            # nginx), so the per-client submission limit does not end the stream.
            client = HttpClient(
                self.url, headers={"X-Forwarded-For": f"10.{worker}.{n // 250}.{n % 250 + 1}"}, timeout=30
            )
            try:
                self._one(n, client)
            except (OSError, http.client.HTTPException, ValueError, TypeError, KeyError):
                with self.lock:  # the server died under this request: no receipt, nothing promised
                    self.cut += 1
            n += REPORTERS

    def start(self) -> None:
        self.stop.clear()
        self.threads = [threading.Thread(target=self._run, args=(w,), daemon=True) for w in range(REPORTERS)]
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads)


@pytest.fixture(params=BACKENDS)
def deployment(tmp_path, request):
    """A migrated database with a committee key, and the gunicorn environment for it."""
    cfg = make_config(tmp_path, request, backend=request.param)
    app = build_app(cfg)
    key_file = tmp_path / "committee.key"
    with Session(services(app).engine) as s:
        offline.init_keys(
            s, key_file, KEY_PASSPHRASE, "committee", today("Asia/Shanghai"), opslimit=1, memlimit=8 * 1024 * 1024
        )
        s.commit()
    services(app).engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    temp = tmp_path / "server-tmp"  # the workers' temporary files, checked for leftovers
    temp.mkdir()
    env.update(
        TMPDIR=str(temp),
        WHISTLE_INSTANCE_DIR=str(cfg.instance_dir),
        WHISTLE_DATABASE_URL=cfg.database_url,
        WHISTLE_RECEIPT_OPSLIMIT=str(cfg.receipt_opslimit),
        WHISTLE_RECEIPT_MEMLIMIT=str(cfg.receipt_memlimit),
        WHISTLE_TRUSTED_PROXIES="1",
        WHISTLE_POW_BITS="4",
        PYTHONPATH=str(PROJECT_DIR),
    )
    server = Server(env, _free_port(), tmp_path / "gunicorn.log")
    try:
        yield {"server": server, "url": cfg.database_url, "key": key_file, "out": tmp_path / "decrypted", "temp": temp}
    finally:
        server.stop()


PARTIAL_ROWS = {
    "case without its report item": "SELECT count(*) FROM cases c WHERE NOT EXISTS "
    "(SELECT 1 FROM case_items i WHERE i.case_id = c.id AND i.seq = 1 AND i.kind = 'report')",
    "case without its received event": "SELECT count(*) FROM cases c WHERE NOT EXISTS "
    "(SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.event = 'received')",
    "case whose item count is off": "SELECT count(*) FROM cases c WHERE c.item_count <> "
    "(SELECT count(*) FROM case_items i WHERE i.case_id = c.id)",
    "item without its case": "SELECT count(*) FROM case_items i WHERE NOT EXISTS "
    "(SELECT 1 FROM cases c WHERE c.id = i.case_id)",
    "event without its case": "SELECT count(*) FROM case_events e WHERE NOT EXISTS "
    "(SELECT 1 FROM cases c WHERE c.id = e.case_id)",
    "attachment without chunks": "SELECT count(*) FROM attachments a WHERE NOT EXISTS "
    "(SELECT 1 FROM attachment_chunks k WHERE k.attachment_id = a.id)",
    "attachment without its item": "SELECT count(*) FROM attachments a WHERE NOT EXISTS "
    "(SELECT 1 FROM case_items i WHERE i.id = a.item_id AND i.case_id = a.case_id)",
    "chunk without its attachment": "SELECT count(*) FROM attachment_chunks k WHERE NOT EXISTS "
    "(SELECT 1 FROM attachments a WHERE a.id = k.attachment_id)",
    "attachment whose chunks have a gap": "SELECT count(*) FROM attachments a WHERE "
    "(SELECT count(*) FROM attachment_chunks k WHERE k.attachment_id = a.id) <> "
    "(SELECT coalesce(max(k.idx), -1) + 1 FROM attachment_chunks k WHERE k.attachment_id = a.id)",
    "attachment whose size is not its chunks'": "SELECT count(*) FROM attachments a WHERE a.stored_size <> "
    "(SELECT coalesce(sum(length(k.data)), 0) FROM attachment_chunks k "
    "WHERE k.attachment_id = a.id)",
    "grant without its case": "SELECT count(*) FROM case_grants g WHERE NOT EXISTS "
    "(SELECT 1 FROM cases c WHERE c.id = g.case_id)",
    "case whose item numbers have a gap": "SELECT count(*) FROM cases c WHERE c.item_count <> "
    "(SELECT coalesce(max(i.seq), 0) FROM case_items i WHERE i.case_id = c.id)",
    "case whose event numbers have a gap": "SELECT count(*) FROM cases c WHERE "
    "(SELECT count(*) FROM case_events e WHERE e.case_id = c.id) <> "
    "(SELECT coalesce(max(e.seq), 0) FROM case_events e WHERE e.case_id = c.id)",
    "item key without its item": "SELECT count(*) FROM item_keys k WHERE NOT EXISTS "
    "(SELECT 1 FROM case_items i WHERE i.id = k.item_id)",
}


def test_sigkill_mid_stream_loses_no_receipted_report_and_leaves_no_partial_row(deployment):
    server = deployment["server"]
    started = time.monotonic()
    kills, receipts, messages, cut = [], [], [], 0
    for _round in range(ROUNDS):
        server.start()
        reporters = Reporters(server.url, receipts)
        reporters.start()
        # Let some reports through, then kill at a random moment while others are in flight.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with reporters.lock:
                if len(reporters.receipts) >= RECEIPTS_BEFORE_KILL:
                    break
            time.sleep(0.02)
        time.sleep(secrets.randbelow(300) / 1000)
        reporters.stop.set()  # no new report after this; those in flight are cut off below
        server.kill()
        kills.append(time.monotonic() - started)
        reporters.join()
        receipts.extend(reporters.receipts)
        messages.extend(reporters.messages)
        cut += reporters.cut
    assert len(receipts) >= ROUNDS * RECEIPTS_BEFORE_KILL // 2, "too few reports got through to test anything"
    assert cut >= ROUNDS, "the kills cut no request off: nothing was tested"
    assert {path for path, *_rest in messages} == {"js", "nojs"}, "too few messages got through to test anything"
    # Spooled uploads are unnamed temporary files: none outlives the process that wrote it.
    assert sorted(p.name for p in deployment["temp"].iterdir()) == []

    # Nothing half-written, straight from the database after the last kill.
    engine = create_engine(deployment["url"])
    try:
        with engine.connect() as conn:
            problems = {what: conn.execute(text(sql)).scalar() for what, sql in PARTIAL_ROWS.items()}
        assert problems == {what: 0 for what in PARTIAL_ROWS}, problems

        # Restarted: every receipt opens its case, through the path it was made on.
        server.start()
        followed = {}
        for n, (path, code, _narrative, _files) in enumerate(receipts):
            client = HttpClient(server.url, headers={"X-Forwarded-For": f"10.201.{n // 250}.{n % 250 + 1}"})
            if path == "js":
                creds, _keys = credentials(client, code)
                resp = client.post("/api/v1/followup", json=creds)
                assert resp.status_code == 200, (path, resp.status_code)
                followed[code.locator] = resp.get_json()["case"]
            else:
                resp = client.post("/followup", data={"code": code.grouped()})
                assert resp.status_code == 200, (path, resp.status_code)

        # Every stored case, receipted or not, opens completely with the committee key; the
        # receipted ones hold exactly what was sent.
        keypair = offline.load_key(deployment["key"], KEY_PASSPHRASE)
        with Session(engine) as s:
            stored = s.query(Case).all()
            by_locator = {case.locator: case for case in stored}
            opened = {}
            for case in stored:
                summary = offline.decrypt_case(s, case, keypair, deployment["out"])
                report = summary["items"][0]
                assert report["kind"] == "report" and report["body"] is not None, case.id
                for item in summary["items"]:
                    assert item["body"] is not None and not item.get("skipped"), (
                        case.id,
                        item["seq"],
                        item.get("skipped"),
                    )
                opened[case.locator] = summary
        for path, code, narrative, files in receipts:
            summary = opened[code.locator]
            body = summary["items"][0]["body"]
            assert body["narrative"] == narrative
            saved = {
                meta["name"]: hashlib.sha256(
                    (deployment["out"] / summary["case"] / meta["saved_as"]).read_bytes()
                ).hexdigest()
                for meta in body["attachments"]
            }
            assert saved == files
            assert by_locator[code.locator].id == summary["case"] == followed.get(code.locator, summary["case"])
        # Every message the server said it stored is there, with its files, in its case.
        for _path, code, said, files in messages:
            summary = opened[code.locator]
            found = [
                item["body"]
                for item in summary["items"][1:]
                if item["kind"] == "message" and item["body"].get("text") == said
            ]
            assert len(found) == 1, (summary["case"], said)
            saved = {
                meta["name"]: hashlib.sha256(
                    (deployment["out"] / summary["case"] / meta["saved_as"]).read_bytes()
                ).hexdigest()
                for meta in found[0]["attachments"]
            }
            assert saved == files
        print(
            f"\n[crash safety] {ROUNDS} SIGKILLs at {', '.join(f'{t:.1f}' for t in kills)} s; "
            f"{cut} requests cut off; {len(receipts)} receipted reports and {len(messages)} stored messages "
            f"all recovered; {len(stored)} cases stored "
            f"({len(stored) - len(receipts)} completed without their receipt reaching the client); "
            f"no partial row"
        )
    finally:
        engine.dispose()


def test_key_and_share_files_are_on_disk_before_their_key_is_registered(app, tmp_path, monkeypatch):
    """A committee key is committed (fsynced) with the database; its key file, or the
    holders' share files, must be on disk as surely, or a power cut after the commit leaves
    a registered key that every new report is sealed to and nobody holds. Every fsync is
    seen (and still done) here: the file's own and its directory's (its name) must happen
    before init_keys / split_committee_key return, that is before the caller commits."""
    from whistle.custody import ceremony

    synced = []
    real_fsync = os.fsync

    def seen_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", seen_fsync)
    key_file, shares_dir = tmp_path / "keys" / "committee.key", tmp_path / "shares"
    with Session(services(app).engine) as s:
        offline.init_keys(
            s, key_file, KEY_PASSPHRASE, "committee", today("Asia/Shanghai"), opslimit=1, memlimit=8 * 1024 * 1024
        )
        assert {str(key_file), str(key_file.parent)} <= set(synced), synced
        synced.clear()
        made = ceremony.split_committee_key(
            s,
            shares_dir,
            [("a.one", KEY_PASSPHRASE), ("b.two", KEY_PASSPHRASE)],
            2,
            "split",
            today("Asia/Shanghai"),
            opslimit=1,
            memlimit=8 * 1024 * 1024,
        )
        assert {str(p) for p in made.paths} | {str(shares_dir)} <= set(synced), synced
        s.commit()
