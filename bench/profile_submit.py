"""Where a JavaScript-path submission spends its time: the app in-process (Flask test
client, no gunicorn, no network), SQLite in a scratch folder or the PostgreSQL URL given,
rate limits in Redis as in production, profiled with cProfile.

    .venv/bin/python -m bench.profile_submit [--count 300] [--db URL] [--top 40]
    .venv/bin/python -m bench.profile_submit --stages --count 1000 [--db URL]

Prints the request rate with and without the profiler and the functions with the most
cumulative time. With --stages, no profiler: the time per report of each check whistle
makes (each function timed where it is called; the rate limiter by difference, in half
batches with it switched off and on in turn), beside the bare baseline app
(bench/baseline_app.py) posted the same bytes in-process, and what a 0.7 ratio would leave
for whistle's own work. --db names a scratch database: the run fills it with a committee,
members and cases. A tool for finding costs, not a benchmark: docs/benchmarks.md comes
from bench/run.py through gunicorn.
"""

import argparse
import cProfile
import functools
import json
import os
import pstats
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys
from whistle import create_app
from whistle.config import Config
from whistle.security.proof_of_work import solve

from bench import common
from bench.submissions import HEADER, NARRATIVE

OPS, MEM = 1, 8 * 1024 * 1024


def _post(client, path, body):
    resp = client.post(path, json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()


def prepare(client, count: int) -> list[tuple[bytes, str]]:
    """``count`` (body, content type) pairs as report.js posts them."""
    recipients = [unb64u(r["public_key"]) for r in _post(client, "/api/v1/recipients", HEADER)["recipients"]]
    bodies, seen = [], set()
    while len(bodies) < count:
        issued = _post(client, "/api/v1/locators", {})
        if issued["locator"] in seen:
            continue
        seen.add(issued["locator"])
        salt = random_bytes(16)
        keys = derive_reporter_keys(ReceiptCode.generate(locator=issued["locator"]), salt, OPS, MEM)
        challenge = _post(client, "/api/v1/pow", {})["challenge"]
        sealed = env.seal(
            "report",
            env.bind_reporter_key(HEADER, keys.keypair.public),
            {"narrative": NARRATIVE, "attachments": []},
            recipients,
        )
        submission = {
            "locator": issued["locator"],
            "locator_token": issued["token"],
            "salt": b64u(salt),
            "kdf": {"opslimit": OPS, "memlimit": MEM},
            "lookup": b64u(keys.lookup),
            "reporter_public_key": b64u(keys.keypair.public),
            "envelope": sealed.envelope,
            "pow": {"challenge": challenge, "nonce": solve(challenge)},
        }
        bodies.append((json.dumps(submission).encode(), "application/json"))  # as report.js posts it
    return bodies


def send(client, bodies) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to post ``bodies``."""
    started, cpu = time.perf_counter(), time.process_time()
    for body, ctype in bodies:
        resp = client.post("/api/v1/reports", data=body, content_type=ctype)
        assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
    return time.perf_counter() - started, time.process_time() - cpu


# The checks a JavaScript-path report goes through, each timed where it is looked up
# (module attributes, so the view and create_case call the timed function).
STAGES = (
    ("whistle.cases.store", "locator_token_valid", "locator token (HMAC, day)"),
    ("whistle.security.proof_of_work", "require", "proof of work (MAC check, spent in Redis)"),
    ("whistle.cases.store", "sealing_for", "routing: committee keys and eligible members read"),
    ("whistle.cases.store", "check_envelope", "envelope shape and recipients checked"),
    ("whistle.cases.store", "create_case", "create_case in all (routing, checks, four inserts)"),
    ("sqlalchemy.orm", "Session.commit", "COMMIT (the durable write; the baseline pays it too)"),
)


CONNECT = "connection from the pool, pre-ping on PostgreSQL (baseline too)"
CHECKS = ("locator_token_valid", "require", "sealing_for", "check_envelope")  # with the limiter: the defences


def _timed(original, label: str, spent: Counter):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - began

    return functools.wraps(original)(wrapper)


@contextmanager
def timed_stages(spent: Counter):
    """Wrap every STAGES function so that its time adds up in ``spent``, and give each
    request's session its connection up front (timed as CONNECT), so that the first query
    (the routing read) is not charged for the pool checkout; everything restored after."""
    import importlib

    from flask import g

    from whistle import db

    undo = []

    def patch(owner, name, replacement):
        undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    try:
        for module_name, attr, label in STAGES:
            owner = importlib.import_module(module_name)
            *path, name = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            patch(owner, name, _timed(getattr(owner, name), label, spent))
        plain_session = db.session

        def session_connected():
            fresh = "db" not in g
            session = plain_session()
            if fresh:
                began = time.perf_counter()
                session.connection()
                spent[CONNECT] += time.perf_counter() - began
            return session

        patch(db, "session", session_connected)
        yield spent
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def baseline_ms(folder: Path, url: str | None, bodies) -> float:
    """Milliseconds per request of the bare baseline app, in-process, for ``bodies``; on a
    given database its table is made for the run and dropped after (refused if it exists)."""
    from sqlalchemy import inspect, text

    from bench import baseline_app
    from whistle.db import make_engine

    db = None if url else common.Database("sqlite", folder, "baseline")
    target = url or db.url
    if url:
        engine = make_engine(url)
        try:
            if inspect(engine).has_table("baseline_blobs"):
                raise SystemExit(f"{url} already has a table baseline_blobs: give a scratch database")
        finally:
            engine.dispose()
    before = os.environ.get("BASELINE_DATABASE_URL")
    os.environ["BASELINE_DATABASE_URL"] = target
    app = None
    try:
        baseline_app.prepare(target)
        app = baseline_app.create()
        client = app.test_client()
        for body, ctype in bodies[:20]:
            client.post("/baseline", data=body, content_type=ctype)
        began = time.perf_counter()
        for body, ctype in bodies[20:]:
            assert client.post("/baseline", data=body, content_type=ctype).status_code == 201
        return (time.perf_counter() - began) / (len(bodies) - 20) * 1000
    finally:
        if before is None:
            os.environ.pop("BASELINE_DATABASE_URL", None)
        else:
            os.environ["BASELINE_DATABASE_URL"] = before
        if app is not None:
            app.extensions["baseline.engine"].dispose()
        if url:
            engine = make_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS baseline_blobs"))
            engine.dispose()


def stages(client, folder: Path, url: str | None, count: int) -> None:
    """Print each check's time per report and the baseline's, without a profiler."""
    from whistle.extensions import limiter

    half = max(1, count // 2)
    bodies = prepare(client, count + 4 * half + 20)
    send(client, bodies[:20])
    spent = Counter()
    with timed_stages(spent):
        whole, _cpu = send(client, bodies[20 : 20 + count])
    # Limiter off and on in alternating half batches: the database grows as the run goes,
    # so one batch each way would charge the growth to whichever came second.
    unlimited = with_limits = 0.0
    rest = bodies[20 + count :]
    was_enabled = limiter.enabled
    try:
        for n in range(4):
            limiter.enabled = n % 2 == 1
            took, _cpu = send(client, rest[n * half : (n + 1) * half])
            if n % 2:
                with_limits += took
            else:
                unlimited += took
    finally:
        limiter.enabled = was_enabled
    base = baseline_ms(folder, url, [(body, ctype) for body, ctype in bodies[: count + 20]])
    per = lambda seconds: seconds / count * 1000  # noqa: E731 - ms per report, timed batch
    per_half = lambda seconds: seconds / (2 * half) * 1000  # noqa: E731 - ms per report, half batches
    limiter_ms = per_half(with_limits) - per_half(unlimited)
    print(
        f"{count} reports timed by stage, {2 * half} each with the limiter on and off; in-process (Flask test "
        "client), ms per report:"
    )
    print(f"  {'whistle, whole request (stages timed)':<64} {per(whole):6.3f}")
    print(f"  {'whistle, whole request (nothing timed)':<64} {per_half(with_limits):6.3f}")
    print(f"  {'whistle, rate limiter switched off':<64} {per_half(unlimited):6.3f}")
    print(f"  {'rate limiter (difference)':<64} {limiter_ms:6.3f}")
    for label in [CONNECT] + [label for _m, _a, label in STAGES]:
        print(f"  {label:<64} {per(spent[label]):6.3f}")
    checks = limiter_ms + sum(per(spent[label]) for _m, attr, label in STAGES if attr in CHECKS)
    print(f"  {'baseline app, same bytes':<64} {base:6.3f}")
    print(
        f"A 0.7 ratio leaves whistle {base / 0.7 - base:.3f} ms beyond the baseline's own request; "
        f"the limiter, locator token, proof of work, routing read and envelope check alone take {checks:.3f} ms."
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--db", help="a database URL (default: SQLite in a scratch folder)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="also write the profile to this file (pstats)")
    parser.add_argument("--stages", action="store_true", help="time each check instead of profiling")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="whistle-profile-"))
    db = None if args.db else common.Database("sqlite", folder, "profile")
    url = args.db or db.url
    secret = folder / "secret"
    try:
        common.prepare_whistle(url, folder / "committee.key", secret)
        common.redis_clean()
        cfg = Config(
            instance_dir=folder,
            database_url=url,
            instance_secret_file=secret,
            ratelimit_storage=common.REDIS_URL,
            receipt_opslimit=OPS,
            receipt_memlimit=MEM,
            pow_bits=0,
            redis_settings="warn",
        )  # a benchmark machine's Redis, at its defaults
        from bench.app import RAISED

        cfg = cfg.with_(**{n: RAISED for n in ("limit_submit", "limit_pow", "limit_followup") if hasattr(cfg, n)})
        app = create_app(cfg)
        client = app.test_client()
        client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "localhost"})
        if args.stages:
            stages(client, folder, args.db, args.count)
            return
        bodies = prepare(client, 2 * args.count + 20)
        send(client, bodies[:20])  # warm: statement caches, templates, connections
        plain, cpu = send(client, bodies[20 : 20 + args.count])
        profiler = cProfile.Profile()
        profiler.enable()
        profiled, _cpu = send(client, bodies[20 + args.count :])
        profiler.disable()
        print(
            f"{args.count} submissions: {args.count / plain:.1f}/s ({plain / args.count * 1000:.2f} ms each, "
            f"{cpu / args.count * 1000:.2f} ms of this process's CPU); "
            f"under the profiler {profiled / args.count * 1000:.2f} ms each"
        )
        stats = pstats.Stats(profiler)
        if args.dump:
            stats.dump_stats(args.dump)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    finally:
        common.redis_clean()
        common.remove_tree(folder)


if __name__ == "__main__":
    main()
