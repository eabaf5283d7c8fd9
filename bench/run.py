"""Run every benchmark and write docs/benchmarks.md (and bench/results.json).

    .venv/bin/python -m bench.run            # everything, SQLite and PostgreSQL (~15 min)
    .venv/bin/python -m bench.run --quick    # smaller counts and shorter runs (~5 min)
    .venv/bin/python -m bench.run --tiny --output DIR   # seconds: keeps the harness working (CI)
    make bench

PostgreSQL: WHISTLE_BENCH_PG (else WHISTLE_TEST_DATABASE_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/postgres) names a server where throw-away
databases are created and dropped; without one, only SQLite is measured. Redis:
WHISTLE_BENCH_REDIS (default redis://127.0.0.1:6379/9) holds the benchmark servers' rate
limits; whistle's keys in it are deleted before and after. Scratch files go to a temporary
directory (WHISTLE_BENCH_DIR to choose it), removed at the end.
"""

import argparse
import json
import os
import tempfile
import time
import traceback
from pathlib import Path

from whistle.config import PROJECT_DIR

from bench import attachments, baseline_app, caselist, common, followup, load, report, submissions

DEFAULT_OPS, DEFAULT_MEM = 3, 64 * 1024 * 1024  # whistle.config defaults
CHEAP_OPS, CHEAP_MEM = 1, 8 * 1024 * 1024  # the JavaScript path's runs: see report.JS_COST_NOTE
LEVELS = (1, 16, 64)


def _settings(mode: str) -> dict:
    """Counts and durations of a ``full``, ``quick`` or ``tiny`` run (tiny: seconds, every
    code path once, figures meaningless: the test suite runs it so the harness keeps working)."""
    if mode == "tiny":
        return {
            "js_cap": 12,
            "js_seconds": 2,
            "nojs_cap": 2,
            "nojs_seconds": 2,
            "cases": 200,
            "attachment_mib": 2,
            "followups": 1,
            "levels": (1, 4),
            "stall_small": 30,
            "stall_mib": 2,
            "parallel_seconds": 0.5,
            "warm": 4,
            "argon2_repeat": 1,
        }
    if mode == "quick":
        return {
            "js_cap": 600,
            "js_seconds": 5,
            "nojs_cap": 120,
            "nojs_seconds": 8,
            "cases": 20_000,
            "attachment_mib": 50,
            "followups": 10,
            "levels": LEVELS,
            "stall_small": 1500,
            "stall_mib": 50,
            "parallel_seconds": 6.0,
            "warm": 60,
            "argon2_repeat": 7,
        }
    return {
        "js_cap": 2500,
        "js_seconds": 12,
        "nojs_cap": 500,
        "nojs_seconds": 20,
        "cases": 100_000,
        "attachment_mib": 200,
        "followups": 30,
        "levels": LEVELS,
        "stall_small": 3000,
        "stall_mib": 200,
        "parallel_seconds": 6.0,
        "warm": 60,
        "argon2_repeat": 7,
    }


def whistle_env(db_url: str, instance: Path, secret: Path, ops: int, mem: int) -> dict:
    return {
        "WHISTLE_DATABASE_URL": db_url,
        "WHISTLE_INSTANCE_DIR": str(instance),
        "WHISTLE_INSTANCE_SECRET_FILE": str(secret),
        "WHISTLE_RATELIMIT_STORAGE": common.REDIS_URL,
        "WHISTLE_RECEIPT_OPSLIMIT": str(ops),
        "WHISTLE_RECEIPT_MEMLIMIT": str(mem),
        # The proof of work at its minimum: challenges are fetched and "solved" while the
        # requests are prepared; the server still checks and spends each one when timed.
        "WHISTLE_POW_BITS": "0",
        # A benchmark machine's Redis is usually left at its defaults (README, Redis settings).
        "WHISTLE_REDIS_SETTINGS": "warn",
    }


def _pair(
    rows, backend, path, level, ours: load.Result, base: load.Result, defended: load.Result | None = None, **extra
):
    if not ours.ok or not base.ok or (defended is not None and not defended.ok):
        # a server died: its log says why; a ratio would mean nothing
        raise RuntimeError(
            f"{backend} {path} c={level}: whistle answered {ours.ok}, the baseline {base.ok}, the "
            f"defended baseline {defended and defended.ok}; statuses {dict(ours.statuses)} / "
            f"{dict(base.statuses)} / {defended and dict(defended.statuses)}"
        )
    row = {
        "backend": backend,
        "path": path,
        "clients": level,
        "whistle": ours.summary(),
        "baseline": base.summary(),
        "ratio": round(ours.rate / base.rate, 3) if base.rate else None,
        "load1": round(os.getloadavg()[0], 1),
        **extra,
    }
    if defended is not None:
        row.update(
            defended=defended.summary(),
            defended_ratio=round(ours.rate / defended.rate, 3) if defended.rate else None,
            defended_of_bare=round(defended.rate / base.rate, 3) if base.rate else None,
        )
        print(
            f"  {backend:10} {path:5} c={level:<3} defended baseline {defended.rate:8.1f}/s p50 "
            f"{defended.percentile(50):6.1f} p99 {defended.percentile(99):6.1f} err {defended.errors} | "
            f"whistle/defended {row['defended_ratio']}",
            flush=True,
        )
    rows.append(row)
    print(
        f"  {backend:10} {path:5} c={level:<3} whistle {ours.rate:8.1f}/s p50 {ours.percentile(50):7.1f} ms "
        f"p99 {ours.percentile(99):7.1f} ms err {ours.errors} | baseline {base.rate:8.1f}/s "
        f"p50 {base.percentile(50):6.1f} p99 {base.percentile(99):6.1f} err {base.errors} | ratio {row['ratio']}"
        + (f" | statuses {dict(ours.statuses)} / {dict(base.statuses)}" if ours.errors or base.errors else "")
        + f" | load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def throughput(backend: str, work: Path, secret: Path, prepared: list, s: dict, results: dict) -> None:
    """JavaScript and no-JS submissions on ``backend`` beside the baseline."""
    folder = work / backend
    folder.mkdir(parents=True, exist_ok=True)
    db = common.Database(backend, folder, "whistle")
    base_db = common.Database(backend, folder, "baseline")
    servers, dbs = [], [db, base_db]
    try:
        common.prepare_whistle(db.url, folder / "committee.key", secret)
        baseline_app.prepare(base_db.url)
        baseline = common.Gunicorn(
            "bench.baseline_app:create()", {"BASELINE_DATABASE_URL": base_db.url}, 2, folder / "baseline.log"
        )
        servers.append(baseline)
        defended_db = common.Database(backend, folder, "defended")
        dbs.append(defended_db)
        baseline_app.prepare(defended_db.url)
        defended = common.Gunicorn(
            "bench.defended_app:create()",
            {
                "DEFENDED_DATABASE_URL": defended_db.url,
                "DEFENDED_SECRET_FILE": str(secret),
                "DEFENDED_REDIS_URL": common.REDIS_URL,
            },
            2,
            folder / "defended.log",
        )
        servers.append(defended)
        rows = results.setdefault("submissions", [])

        # JavaScript path: ciphertext posted, sealed beforehand.
        server = common.Gunicorn(
            "bench.app:create()",
            whistle_env(db.url, folder, secret, CHEAP_OPS, CHEAP_MEM),
            2,
            folder / "whistle-js.log",
        )
        servers.append(server)
        requests = submissions.js_requests(server.port, prepared, CHEAP_OPS, CHEAP_MEM)
        warm, requests = requests[: s["warm"]], requests[s["warm"] :]
        load.run(server.port, warm, 4, max_seconds=30)
        load.run(baseline.port, submissions.baseline_requests(warm), 4, max_seconds=30)
        load.run(defended.port, submissions.baseline_requests(warm, "/defended"), 4, max_seconds=30, expect=(201,))
        for level in s["levels"]:
            batch, requests = requests[: s["js_cap"]], requests[s["js_cap"] :]
            base = load.run(
                baseline.port,
                submissions.baseline_requests(batch),
                level,
                max_seconds=s["js_seconds"],
                label="baseline",
            )
            # The same bytes: the defended baseline spends each proof of work in a set of its own.
            guarded = load.run(
                defended.port,
                submissions.baseline_requests(batch, "/defended"),
                level,
                max_seconds=s["js_seconds"],
                expect=(201,),
                label="defended",
            )
            ours = load.run(server.port, batch, level, max_seconds=s["js_seconds"], expect=(201,), label="js")
            _pair(rows, backend, "js", level, ours, base, guarded)
        # Small reports beside one large upload (the no-JS form, at this server's cheap cost).
        results.setdefault("stall", {})[backend] = attachments.stall(
            server.port, requests[: s["stall_small"]], s["stall_mib"] * attachments.MiB
        )
        requests = requests[s["stall_small"] :]
        print(f"  stall {backend}: {results['stall'][backend]}", flush=True)
        server.stop()
        servers.remove(server)

        # No-JS path: the form, sealed on the server at the configured (default) cost.
        server = common.Gunicorn(
            "bench.app:create()",
            whistle_env(db.url, folder, secret, DEFAULT_OPS, DEFAULT_MEM),
            2,
            folder / "whistle-nojs.log",
        )
        servers.append(server)
        load.run(server.port, submissions.nojs_requests(16), 4, max_seconds=60, expect=(200,))
        bound = (os.cpu_count() or 1) / results["argon2_default_seconds"]
        for level in s["levels"]:
            batch = submissions.nojs_requests(s["nojs_cap"])
            base = load.run(
                baseline.port,
                submissions.baseline_requests(batch),
                level,
                max_seconds=s["nojs_seconds"],
                label="baseline",
            )
            ours = load.run(
                server.port, batch, level, max_seconds=s["nojs_seconds"], expect=(200,), label="nojs", keep_bodies=5
            )
            submissions.check_receipts(ours)
            _pair(
                rows,
                backend,
                "nojs",
                level,
                ours,
                base,
                argon2_bound=round(bound, 2),
                of_bound=round(ours.rate / bound, 3),
            )

        # Follow-up with a receipt code, at the default cost, through the same server.
        results.setdefault("followup", {})[backend] = followup.through_server(server.port, s["followups"])
        print(f"  follow-up {backend}: {results['followup'][backend]}", flush=True)
    finally:
        for server in servers:
            server.stop()
        for each in dbs:
            each.drop()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts, shorter runs")
    parser.add_argument("--tiny", action="store_true", help="a few requests of each kind: checks the harness only")
    parser.add_argument("--output", type=Path, help="write results.json and benchmarks.md in this folder instead")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["submissions", "costs", "caselist", "attachments"],
        help="run only these parts (the report keeps the others' last results)",
    )
    parser.add_argument("--backends", nargs="*", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    s = _settings(mode)
    parts = set(args.only or ["submissions", "costs", "caselist", "attachments"])
    backends = args.backends or (["sqlite", "postgresql"] if common.pg_available() else ["sqlite"])
    results_file = (args.output or PROJECT_DIR / "bench") / "results.json"
    results = json.loads(results_file.read_text()) if args.only and results_file.exists() else {}
    results.update(
        machine=common.machine(),
        quick=args.quick,
        mode=mode,
        settings=s,
        backends=backends,
        parts=sorted(parts),
        load_at_start=[round(x, 1) for x in os.getloadavg()],
    )
    work = Path(tempfile.mkdtemp(prefix="whistle-bench-", dir=os.environ.get("WHISTLE_BENCH_DIR")))
    started = time.monotonic()
    print(f"machine: {results['machine']}\nbackends: {backends}; scratch: {work}", flush=True)
    try:
        common.redis_clean()
        secret = work / "instance-secret"  # one secret: locators issued once serve every backend
        common.instance_secret(secret)
        results["argon2_default_seconds"] = submissions.argon2_seconds(DEFAULT_OPS, DEFAULT_MEM, s["argon2_repeat"])
        results["argon2_parallel_per_s"] = submissions.argon2_parallel_rate(
            DEFAULT_OPS, DEFAULT_MEM, os.cpu_count() or 1, s["parallel_seconds"]
        )
        print(
            f"argon2id at the default cost: {results['argon2_default_seconds'] * 1000:.1f} ms; "
            f"{results['argon2_parallel_per_s']:.1f}/s with every core deriving",
            flush=True,
        )
        if "submissions" in parts:
            results["submissions"], results["followup"], results["stall"] = [], {}, {}
            # Receipt codes under server-issued locators, derived once for every backend.
            folder = work / "issue"
            folder.mkdir()
            issuer_db = common.Database("sqlite", folder, "issuer")
            common.prepare_whistle(issuer_db.url, folder / "committee.key", secret, member_names=())
            issuer = common.Gunicorn(
                "bench.app:create()",
                whistle_env(issuer_db.url, folder, secret, CHEAP_OPS, CHEAP_MEM),
                2,
                folder / "issuer.log",
            )
            try:
                prepared = submissions.receipts(
                    issuer.port, s["warm"] + len(s["levels"]) * s["js_cap"] + s["stall_small"], CHEAP_OPS, CHEAP_MEM
                )
            finally:
                issuer.stop()
            print(f"prepared {len(prepared)} receipts ({time.monotonic() - started:.0f} s)", flush=True)
            for backend in backends:
                throughput(backend, work, secret, prepared, s, results)
                common.redis_clean()
        if "costs" in parts:
            results["costs"] = followup.cost_table(work / "costs", os.cpu_count() or 1)
            for row in results["costs"]:
                print(f"  cost {row}", flush=True)
        if "caselist" in parts:
            results["caselist"] = {}
            for backend in backends:
                db = common.Database(backend, work / "caselist", "caselist")
                try:
                    results["caselist"][backend] = caselist.run(
                        db.url, work / "caselist" / backend, secret, count=s["cases"]
                    )
                finally:
                    db.drop()
                print(
                    f"  case list {backend}: { {k: v for k, v in results['caselist'][backend].items() if k != 'plan'} }",
                    flush=True,
                )
        if "attachments" in parts:
            size = s["attachment_mib"] * attachments.MiB
            (work / "discard").mkdir()
            results["attachments"] = {
                "raw": dict(
                    attachments.raw_encryption_rate(size),
                    **attachments.disk_floor(work / "disk", size),
                    **attachments.request_floor(
                        lambda spec: common.Gunicorn(spec, {}, 1, work / "discard" / "g.log"), size
                    ),
                )
            }
            for backend in backends:
                folder = work / "attachments" / backend
                folder.mkdir(parents=True)
                db = common.Database(backend, folder, "attachments")
                try:
                    common.prepare_whistle(db.url, folder / "committee.key", secret)
                    floor = attachments.store_floor(db.url, size)
                    env = whistle_env(db.url, folder, secret, DEFAULT_OPS, DEFAULT_MEM)
                    measured = attachments.run(
                        lambda: common.Gunicorn("bench.app:create()", env, 1, folder / "g.log"),
                        db.url,
                        folder / "committee.key",
                        folder / "out",
                        size,
                    )
                    results["attachments"][backend] = dict(measured, **floor)
                finally:
                    db.drop()
                print(f"  attachment {backend}: {results['attachments'][backend]}", flush=True)
    except Exception:
        traceback.print_exc()
        raise
    finally:
        common.redis_clean()
        common.remove_tree(work)
        results["seconds"] = round(time.monotonic() - started)
        results["load_at_end"] = [round(x, 1) for x in os.getloadavg()]
        results_file.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n")
    if not args.no_report:
        target = args.output / "benchmarks.md" if args.output else PROJECT_DIR / "docs" / "benchmarks.md"
        report.write(results, target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
