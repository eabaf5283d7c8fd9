"""Where a JavaScript-path submission spends its time: the app in-process (Flask test
client, no gunicorn, no network), SQLite in a scratch folder or the PostgreSQL URL given,
rate limits in Redis as in production, profiled with cProfile.

    .venv/bin/python -m bench.profile_submit [--count 300] [--db URL] [--top 40]

Prints the request rate with and without the profiler and the functions with the most
cumulative time. A tool for finding costs, not a benchmark: docs/benchmarks.md comes from
bench/run.py through gunicorn.
"""
import argparse
import cProfile
import json
import pstats
import tempfile
import time
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--db", help="a database URL (default: SQLite in a scratch folder)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="also write the profile to this file (pstats)")
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
