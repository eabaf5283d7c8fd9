"""A 200 MiB file through the no-JS path: the worker's memory growth and the throughput,
beside raw secretstream encryption on the same machine.

A fresh gunicorn (one worker, so the worker measured is the one that served the upload)
takes a small warm-up report, then the 200 MiB one, streamed by the client from a 1 MiB
buffer. Memory: the worker's VmRSS before the upload and its VmHWM (peak resident set)
after, from /proc/<pid>/status. The stored attachment is then decrypted with the committee
key and compared with what was sent.
"""

import hashlib
import http.client
import json
import os
import time
from pathlib import Path

import nacl.bindings as sodium
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from crypto.stream import CHUNK, StreamEncryptor
from whistle.custody import offline
from whistle.models import Case
from whistle.cases.uploads import MULTIPART_READ

from bench.common import KEY_PASSPHRASE, status_kib
from bench.followup import RECEIPT
from bench.submissions import FORM

MiB = 1024 * 1024
SIZE = 200 * MiB
BLOCK = os.urandom(MiB)


def raw_encryption_rate(size: int = SIZE) -> dict:
    """MiB/s of libsodium's secretstream over 64 KiB chunks (no I/O), and of whistle's
    StreamEncryptor fed 1 MiB writes (what the upload spool does), best of three."""
    key = os.urandom(32)
    chunk = BLOCK[:CHUNK]
    raw, ours = [], []
    for _ in range(3):
        state = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
        began = time.perf_counter()
        for _ in range(size // CHUNK):
            sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, None, 0)
        raw.append(time.perf_counter() - began)
        encryptor = StreamEncryptor(key, lambda _data: None)
        began = time.perf_counter()
        for _ in range(size // MiB):
            encryptor.write(BLOCK)
        encryptor.finish()
        ours.append(time.perf_counter() - began)
    return {
        "secretstream_mib_s": round(size / MiB / min(raw), 1),
        "stream_encryptor_mib_s": round(size / MiB / min(ours), 1),
    }


def store_floor(db_url: str, size: int = SIZE) -> dict:
    """The least any design storing ciphertext durably in this database pays: secretstream
    encryption of ``size`` bytes plus inserting the ciphertext as 1 MiB rows of a scratch
    table shaped like whistle's attachment_chunks and committing, on the same engine settings (whistle.db), without HTTP, parsing,
    spooling or the ORM. MiB/s, best of two."""
    from whistle.db import make_engine

    engine = make_engine(db_url)
    key = os.urandom(32)
    chunk = BLOCK[:CHUNK]
    best = None
    try:
        # The shape of whistle's attachment_chunks: (attachment, index) as the key and, on
        # SQLite, WITHOUT ROWID (a rowid would number rows in the order they were written).
        sqlite = engine.dialect.name == "sqlite"
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE bench_floor (aid VARCHAR(32) NOT NULL, id INTEGER NOT NULL, data "
                    + ("BLOB" if sqlite else "BYTEA")
                    + " NOT NULL, PRIMARY KEY (aid, id))"
                    + (" WITHOUT ROWID" if sqlite else "")
                )
            )
        for attempt in range(2):
            began = time.perf_counter()
            state = sodium.crypto_secretstream_xchacha20poly1305_state()
            sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
            with engine.begin() as conn:
                rows, n = [], 0
                for _ in range(size // CHUNK):
                    rows.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, None, 0))
                    if len(rows) == MiB // CHUNK:
                        conn.execute(
                            text("INSERT INTO bench_floor (aid, id, data) VALUES (:a, :i, :d)"),
                            [{"a": f"{attempt:032x}", "i": n, "d": b"".join(rows)}],
                        )
                        rows, n = [], n + 1
            took = time.perf_counter() - began
            best = took if best is None else min(best, took)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE bench_floor"))
    finally:
        engine.dispose()
    return {"encrypt_and_store_mib_s": round(size / MiB / best, 1)}


def disk_floor(folder: Path, size: int = SIZE) -> dict:
    """What the disk alone allows: ``size`` bytes written to a file in ``folder`` in 1 MiB
    writes, then fsync'd (what any durable store must do at least once), MiB/s, best of
    three. No encryption, no database: an upper bound for every design on this machine."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "disk-floor.bin"
    best = None
    try:
        for _ in range(3):
            began = time.perf_counter()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for _ in range(size // MiB):
                    os.write(fd, BLOCK)
                os.fsync(fd)
            finally:
                os.close(fd)
            took = time.perf_counter() - began
            best = took if best is None else min(best, took)
            path.unlink()
    finally:
        path.unlink(missing_ok=True)
    return {"disk_write_fsync_mib_s": round(size / MiB / best, 1)}


def _upload(port: int, size: int, path: str = "/report/contractor") -> tuple[int, bytes, float, str]:
    """Post the report form with one ``size``-byte file to ``path``; (status, body, seconds,
    sha256)."""
    boundary = "----whistlebench-upload"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v.encode("utf-8") + b"\r\n"
        for k, v in FORM.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="evidence.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    digest = hashlib.sha256()
    blocks = [BLOCK] * (size // MiB) + ([BLOCK[: size % MiB]] if size % MiB else [])
    for block in blocks:
        digest.update(block)

    def body():
        yield head
        yield from blocks
        yield tail

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        began = time.perf_counter()
        conn.request(
            "POST",
            path,
            body=body(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            },
        )
        resp = conn.getresponse()
        data = resp.read()
        seconds = time.perf_counter() - began
    finally:
        conn.close()
    return resp.status, data, seconds, digest.hexdigest()


def request_floor(start_server, size: int = SIZE) -> dict:
    """What receiving alone allows: the same upload as run() posts, through gunicorn to
    bench/discard_app.py (werkzeug parses the form, the file's bytes are thrown away), with
    the multipart parser reading werkzeug's default 64 KiB at a time and whistle's
    MULTIPART_READ; MiB/s, best of three each. ``start_server(app_spec)`` gives a fresh
    one-worker Gunicorn."""
    out = {"whistle_read_kib": MULTIPART_READ // 1024}
    for key, spec in (
        ("receive_and_parse_mib_s", "bench.discard_app:create()"),
        ("receive_and_parse_whistle_reads_mib_s", f"bench.discard_app:create({MULTIPART_READ})"),
    ):
        server = start_server(spec)
        best = None
        try:
            for _ in range(3):
                status, body, seconds, _digest = _upload(server.port, size, "/discard")
                assert status == 200 and json.loads(body)["file_bytes"] == size, (status, body[:300])
                best = seconds if best is None else min(best, seconds)
        finally:
            server.stop()
        out[key] = round(size / MiB / best, 1)
    return out


UPLOADS = 3  # the throughput is the best of these, as for the floors beside it


def _verify(db_url: str, key_file: Path, out: Path, body: bytes, digest: str) -> int:
    """Decrypt the receipted report's attachment with the committee key; check it is exactly
    what was sent; its stored (ciphertext) size."""
    code = RECEIPT.search(body).group(1).decode()
    engine = create_engine(db_url)
    try:
        with Session(engine) as s:
            case = s.query(Case).filter(Case.locator == code.replace(" ", "")[:7]).one()
            keypair = offline.load_key(key_file, KEY_PASSPHRASE)
            summary = offline.decrypt_case(s, case, keypair, out)
            meta = summary["items"][0]["body"]["attachments"][0]
            saved = out / case.id / meta["saved_as"]
            sha = hashlib.sha256()
            with open(saved, "rb") as fh:
                for block in iter(lambda: fh.read(MiB), b""):
                    sha.update(block)
            saved.unlink()
            with engine.connect() as conn:
                stored = conn.execute(
                    text("SELECT stored_size FROM attachments WHERE id = :i"), {"i": meta["id"]}
                ).scalar()
    finally:
        engine.dispose()
    assert sha.hexdigest() == digest, "the stored attachment does not decrypt to what was sent"
    return stored


def run(start_server, db_url: str, key_file: Path, out: Path, size: int = SIZE) -> dict:
    """``start_server()`` gives a fresh one-worker Gunicorn; UPLOADS big uploads on it, one
    after the other. Throughput: the best of them; memory: the worker's peak after the first
    against its size before it (later uploads would add the allocator's own leftovers);
    every upload decrypted and compared."""
    server = start_server()
    uploads = []
    try:
        (worker,) = server.workers()
        status, _body, _s, _d = _upload(server.port, 100 * 1024)  # warm-up: every code path loaded
        assert status == 200, status
        before = status_kib(worker)
        for _ in range(UPLOADS):
            status, body, seconds, digest = _upload(server.port, size)
            assert status == 200, (status, body[:500])
            uploads.append((seconds, body, digest))
            if len(uploads) == 1:
                after = status_kib(worker)
    finally:
        server.stop()
    stored = {_verify(db_url, key_file, out, body, digest) for _seconds, body, digest in uploads}
    seconds = min(s for s, _b, _d in uploads)
    return {
        "size_mib": size / MiB,
        "uploads": len(uploads),
        "seconds": round(seconds, 2),
        "mib_s": round(size / MiB / seconds, 1),
        "mib_s_each": [round(size / MiB / s, 1) for s, _b, _d in uploads],
        "rss_before_mib": round(before["VmRSS"] / 1024, 1),
        "hwm_after_mib": round(after["VmHWM"] / 1024, 1),
        "peak_growth_mib": round(max(0, after["VmHWM"] - before["VmRSS"]) / 1024, 1),
        "hwm_before_mib": round(before["VmHWM"] / 1024, 1),
        "stored_bytes": stored.pop(),
        "verified": True,
    }


STALL_CLIENTS = 4  # small-report clients beside the one large upload


def stall(port: int, small: list, size: int, quiet_seconds: float = 2.0) -> dict:
    """Other reporters' wait while one ``size``-byte upload is stored: STALL_CLIENTS clients
    post small JavaScript-path reports (``small``, prepared requests, each used once) first
    alone for ``quiet_seconds`` (the reference), then beside the upload until it is answered;
    p50, p99 and max latency of each, in ms."""
    import threading

    from bench import load

    half = len(small) // 3
    quiet = load.run(port, small[:half], STALL_CLIENTS, max_seconds=quiet_seconds, expect=(201,), label="quiet")
    done, answer = threading.Event(), {}

    def upload():
        try:
            answer["status"], _body, answer["seconds"], _digest = _upload(port, size)
        finally:
            done.set()

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    beside = load.run(
        port,
        small[half:],
        STALL_CLIENTS,
        max_seconds=600,
        expect=(201,),
        label="beside",
        stop=done,
        at_least=STALL_CLIENTS,
    )  # a tiny upload may be done before any small report is sent
    uploader.join(timeout=600)
    assert answer.get("status") == 200, answer
    if not done.is_set() or not beside.ok:
        raise RuntimeError(f"stall run: upload done {done.is_set()}, small reports {dict(beside.statuses)}")
    if beside.errors or quiet.errors:
        raise RuntimeError(f"stall run errors: {dict(quiet.statuses)} / {dict(beside.statuses)}")
    return {
        "clients": STALL_CLIENTS,
        "size_mib": size / MiB,
        "upload_seconds": round(answer["seconds"], 2),
        "ran_out": beside.ok + beside.errors >= len(small) - half,  # fewer requests than the upload lasted
        "quiet": {
            "n": quiet.ok,
            "p50_ms": round(quiet.percentile(50), 1),
            "p99_ms": round(quiet.percentile(99), 1),
            "max_ms": round(max(quiet.latencies) * 1000, 1),
        },
        "beside": {
            "n": beside.ok,
            "p50_ms": round(beside.percentile(50), 1),
            "p99_ms": round(beside.percentile(99), 1),
            "max_ms": round(max(beside.latencies) * 1000, 1),
        },
    }
