"""Where a JavaScript-path submission spends its time: the app in-process (Flask test
client, no gunicorn, no network), SQLite in a scratch folder or the PostgreSQL URL given,
rate limits in Redis as in production, profiled with cProfile.

    .venv/bin/python -m bench.profile_submit [--count 300] [--db URL] [--top 40]
    .venv/bin/python -m bench.profile_submit --stages [--count 1000] [--db URL]

Prints the request rate with and without the profiler and the functions with the most
cumulative time. With --stages, no profiler: the time per report of each check whistle
makes (each function timed where it is called; the rate limiter by switching it off for a
second batch), beside the bare baseline app (bench/baseline_app.py) posted the same bytes
in-process, and what a 0.7 ratio would leave for whistle's own work. A tool for finding
costs, not a benchmark: docs/benchmarks.md comes from bench/run.py through gunicorn.
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
from whistle.pow import solve

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
        sealed = env.seal("report", HEADER, {"narrative": NARRATIVE, "attachments": []}, recipients)
        submission = {"locator": issued["locator"], "locator_token": issued["token"], "salt": b64u(salt),
                      "kdf": {"opslimit": OPS, "memlimit": MEM}, "lookup": b64u(keys.lookup),
                      "reporter_public_key": b64u(keys.keypair.public), "envelope": sealed.envelope,
                      "pow": {"challenge": challenge, "nonce": solve(challenge)}}
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
STAGES = (("whistle.cases", "locator_token_valid", "locator token (HMAC, day)"),
          ("whistle.pow", "require", "proof of work (MAC check, spent in Redis)"),
          ("whistle.cases", "sealing_for", "routing: committee keys and eligible members read"),
          ("whistle.cases", "check_envelope", "envelope shape and recipients checked"),
          ("whistle.cases", "create_case", "create_case in all (routing, checks, four inserts)"),
          ("sqlalchemy.orm", "Session.commit", "COMMIT (the durable write; the baseline pays it too)"))


@contextmanager
def timed_stages(spent: Counter):
    """Wrap every STAGES function so that its time adds up in ``spent``; restored after."""
    import importlib

    undo = []
    for module_name, attr, label in STAGES:
        owner = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def wrapper(*args, _f=original, _label=label, **kwargs):
            began = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - began

        setattr(owner, name, functools.wraps(original)(wrapper))
        undo.append((owner, name, original))
    try:
        yield spent
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def baseline_ms(folder: Path, url: str | None, bodies) -> float:
    """Milliseconds per request of the bare baseline app, in-process, for ``bodies``."""
    from bench import baseline_app

    db = None if url else common.Database("sqlite", folder, "baseline")
    os.environ["BASELINE_DATABASE_URL"] = url or db.url
    try:
        baseline_app.prepare(os.environ["BASELINE_DATABASE_URL"])
        client = baseline_app.create().test_client()
        for body, ctype in bodies[:20]:
            client.post("/baseline", data=body, content_type=ctype)
        began = time.perf_counter()
        for body, ctype in bodies[20:]:
            assert client.post("/baseline", data=body, content_type=ctype).status_code == 201
        return (time.perf_counter() - began) / (len(bodies) - 20) * 1000
    finally:
        del os.environ["BASELINE_DATABASE_URL"]
        if url:  # a shared database: leave it as found
            from sqlalchemy import text

            from whistle.db import make_engine

            engine = make_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE baseline_blobs"))
            engine.dispose()


def stages(client, folder: Path, url: str | None, count: int) -> None:
    """Print each check's time per report and the baseline's, without a profiler."""
    from whistle.extensions import limiter

    half = max(1, count // 2)
    bodies = prepare(client, count + 4 * half + 20)
    send(client, bodies[:20])
    spent = Counter()
    with timed_stages(spent):
        whole, _cpu = send(client, bodies[20:20 + count])
    # Limiter off and on in alternating half batches: the database grows as the run goes,
    # so one batch each way would charge the growth to whichever came second.
    unlimited = with_limits = 0.0
    rest = bodies[20 + count:]
    for n in range(4):
        batch = rest[n * half:(n + 1) * half]
        limiter.enabled = n % 2 == 1
        try:
            took, _cpu = send(client, batch)
        finally:
            limiter.enabled = True
        if n % 2:
            with_limits += took
        else:
            unlimited += took
    base = baseline_ms(folder, url, [(body, ctype) for body, ctype in bodies[: count + 20]])
    per = lambda seconds: seconds / count * 1000  # noqa: E731 - ms per report (2 half batches = count)
    print(f"{count} reports each way, in-process (Flask test client), ms per report:")
    print(f"  {'whistle, whole request (stages timed)':<52} {per(whole):6.3f}")
    print(f"  {'whistle, whole request (nothing timed)':<52} {per(with_limits):6.3f}")
    print(f"  {'whistle, rate limiter switched off':<52} {per(unlimited):6.3f}")
    print(f"  {'rate limiter (difference)':<52} {per(with_limits) - per(unlimited):6.3f}")
    for _module, _attr, label in STAGES:
        print(f"  {label:<52} {per(spent[label]):6.3f}")
    checks = (per(with_limits) - per(unlimited)) + sum(
        per(spent[label]) for _m, attr, label in STAGES if attr in ("locator_token_valid", "require", "sealing_for",
                                                                     "check_envelope"))
    print(f"  {'baseline app, same bytes':<52} {base:6.3f}")
    print(f"A 0.7 ratio leaves whistle {base / 0.7 - base:.3f} ms beyond the baseline's own request; "
          f"the limiter, locator token, proof of work, routing read and envelope check alone take {checks:.3f} ms.")


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
        cfg = Config(instance_dir=folder, database_url=url, instance_secret_file=secret,
                     ratelimit_storage=common.REDIS_URL, receipt_opslimit=OPS, receipt_memlimit=MEM, pow_bits=0)
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
        plain, cpu = send(client, bodies[20:20 + args.count])
        profiler = cProfile.Profile()
        profiler.enable()
        profiled, _cpu = send(client, bodies[20 + args.count:])
        profiler.disable()
        print(f"{args.count} submissions: {args.count / plain:.1f}/s ({plain / args.count * 1000:.2f} ms each, "
              f"{cpu / args.count * 1000:.2f} ms of this process's CPU); "
              f"under the profiler {profiled / args.count * 1000:.2f} ms each")
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
