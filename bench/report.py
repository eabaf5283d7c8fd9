"""docs/benchmarks.md from the results of bench/run.py (bench/results.json)."""

import math
from pathlib import Path

TARGET_JS_RATIO = 0.7  # of the defended baseline (issue 19)
TARGET_STALL_MS = 250
TARGET_NOJS_OF_BOUND = 0.8
TARGET_LIST_MS = 100
TARGET_UPLOAD_MIB = 64
TARGET_UPLOAD_OF_RAW = 0.7
MiB = 1024 * 1024

JS_COST_NOTE = (
    "The JavaScript path's server work does not depend on the receipt cost: the browser stretches the "
    "code, and the server only checks that the submitted `kdf` equals its setting. So that the "
    "thousands of receipts the runs post could be prepared in seconds, the JavaScript-path server ran "
    "with `WHISTLE_RECEIPT_OPSLIMIT=1 WHISTLE_RECEIPT_MEMLIMIT=8388608` (the test suite's cost) and the "
    "receipts were stretched at that cost beforehand; the no-JS server, which does stretch, ran at the "
    "default cost (3, 64 MiB), and so did the follow-up and attachment measurements."
)


def _ok(flag: bool) -> str:
    return "met" if flag else "**not met**"


def _ms(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def _of_bound(row: dict) -> float:
    """A no-JS run's rate as a share of cores ÷ one derivation (one computation for the
    table and the targets, so the two never round apart)."""
    return row["whistle"]["rate"] / row["argon2_bound"]


def _usable_bound(row: dict, cores: int) -> float:
    """The bound for a run's clients: one client waits for each answer, so it keeps at most
    one core deriving."""
    return row["argon2_bound"] * min(row["clients"], cores) / cores


def _submissions(results: dict) -> list[str]:
    rows = results.get("submissions") or []
    if not rows:
        return ["(not run)"]
    out = [
        "| database | path | clients | whistle req/s | p50 ms | p99 ms | errors | baseline req/s | p50 ms | p99 ms | errors | ratio | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        w, b = r["whistle"], r["baseline"]
        out.append(
            f"| {r['backend']} | {'JavaScript' if r['path'] == 'js' else 'no-JS'} | {r['clients']} | "
            f"{w['rate']:.1f} | {_ms(w['p50_ms'])} | {_ms(w['p99_ms'])} | {w['errors']} | {b['rate']:.1f} | "
            f"{_ms(b['p50_ms'])} | {_ms(b['p99_ms'])} | {b['errors']} | {r['ratio']:.2f} | {r.get('load1', '')} |"
        )
    out.append("")
    bound = [r for r in rows if r["path"] == "nojs"]
    if bound:
        out.append(
            f"No-JS path against what argon2id allows: one derivation at the default cost takes "
            f"{results['argon2_default_seconds'] * 1000:.0f} ms here, so {results['machine']['nproc']} cores "
            f"can stretch at most {bound[0]['argon2_bound']:.1f} receipts per second."
        )
        out.append("")
        parallel = results.get("argon2_parallel_per_s")
        out.append(
            "One client waits for each answer before sending the next, so it can keep only one core busy: "
            "*bound for these clients* holds each run to what its clients could use (min(clients, cores) "
            "÷ one derivation)."
            + (
                f" Measured, {results['machine']['nproc']} threads deriving at once in one process (no HTTP, "
                f"no database) manage {parallel:.1f} derivations per second: the cores share memory "
                "bandwidth, so this is what the cost really allows when every core stretches; the last "
                "columns compare with it (with fewer clients than cores, derivations run alone)."
                if parallel
                else ""
            )
        )
        out.append("")
        out.append(
            "| database | clients | no-JS req/s | argon2id bound | share of bound | bound for these clients | share |"
            + (" measured parallel rate | share |" if parallel else "")
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if parallel else ""))
        cores = results["machine"]["nproc"]
        for r in bound:
            usable = _usable_bound(r, cores)
            line = (
                f"| {r['backend']} | {r['clients']} | {r['whistle']['rate']:.1f} | {r['argon2_bound']:.1f} | "
                f"{_of_bound(r) * 100:.0f} % | {usable:.1f} | {r['whistle']['rate'] / usable * 100:.0f} % |"
            )
            if parallel:
                real = parallel if r["clients"] >= cores else usable  # fewer clients: derivations alone
                line += f" {real:.1f} | {r['whistle']['rate'] / real * 100:.0f} % |"
            out.append(line)
        out.append("")
    js = [r for r in rows if r["path"] == "js"]
    errors = sum(r["whistle"]["errors"] + r["baseline"]["errors"] for r in rows)
    ratios = ", ".join("%.2f" % r["ratio"] for r in js)
    cores = results["machine"]["nproc"]
    # cores ÷ one derivation is reachable only by as many clients as cores: one client waits
    # for each answer, so it keeps one core busy. Fewer clients are judged against what they
    # could use, and listed apart, so neither reading is hidden.
    full = [r for r in bound if r["clients"] >= cores]
    few = [r for r in bound if r["clients"] < cores]
    shares = ", ".join("%.0f %%" % (_of_bound(r) * 100) for r in full)
    few_shares = "; ".join(
        "%s/%d: %.0f %% of the literal bound, %.0f %% of what %d client(s) can use"
        % (
            r["backend"],
            r["clients"],
            _of_bound(r) * 100,
            r["whistle"]["rate"] / _usable_bound(r, cores) * 100,
            r["clients"],
        )
        for r in few
    )
    out += _defended(js)
    out.append("Targets:")
    guarded = [r for r in js if r.get("defended_ratio") is not None]
    if guarded:
        out.append(
            f"- JavaScript path at least {TARGET_JS_RATIO} of the defended baseline: "
            f"{_ok(all(r['defended_ratio'] >= TARGET_JS_RATIO for r in guarded))} (ratios "
            + ", ".join("%.2f" % r["defended_ratio"] for r in guarded)
            + f"; of the bare baseline {ratios})."
        )
    else:
        out.append(
            f"- JavaScript path at least {TARGET_JS_RATIO} of the defended baseline: not measured in this "
            f"run (of the bare baseline: {ratios})."
        )
    out.append(
        f"- No-JS path at least {TARGET_NOJS_OF_BOUND * 100:.0f} % of the argon2id bound (cores ÷ one "
        f"derivation), with at least as many clients as cores: "
        f"{_ok(bool(full) and all(_of_bound(r) >= TARGET_NOJS_OF_BOUND for r in full))} ({shares}). "
        f"With fewer clients ({few_shares}): "
        f"{_ok(all(r['whistle']['rate'] / _usable_bound(r, cores) >= TARGET_NOJS_OF_BOUND for r in few))} "
        "against what they can use; the literal bound is out of their reach."
    )
    out.append(f"- Zero errors at every concurrency: {_ok(errors == 0)} ({errors} in all).")
    return out


def _defended(js: list) -> list[str]:
    """The JavaScript path beside both baselines: what the required defences cost (defended
    ÷ bare), and what whistle's own code costs (whistle ÷ defended)."""
    rows = [r for r in js if r.get("defended")]
    if not rows:
        return []
    out = [
        "JavaScript path beside both baselines: the *bare* one inserts the bytes; the *defended* one "
        "(`bench/defended_app.py`) also does what the design requires of every report and whistle's code "
        "does not choose: the same Flask-Limiter limit counted in the same Redis, a strict JSON parse, the "
        "locator token, and the proof of work checked and spent. *Defended ÷ bare* is what those defences "
        "cost; *whistle ÷ defended* is what whistle's own code costs.",
        "",
        "| database | clients | bare req/s | defended req/s | p99 ms | whistle req/s | p99 ms | defended ÷ bare | "
        "whistle ÷ bare | whistle ÷ defended |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, w = r["defended"], r["whistle"]
        out.append(
            f"| {r['backend']} | {r['clients']} | {r['baseline']['rate']:.1f} | {d['rate']:.1f} | "
            f"{_ms(d['p99_ms'])} | {w['rate']:.1f} | {_ms(w['p99_ms'])} | {r['defended_of_bare']:.2f} | "
            f"{r['ratio']:.2f} | **{r['defended_ratio']:.2f}** |"
        )
    out.append("")
    return out


def _stall(results: dict) -> list[str]:
    stall = results.get("stall") or {}
    if not stall:
        return ["(not run)"]
    first = next(iter(stall.values()))
    out = [
        f"{first['clients']} clients post small JavaScript-path reports, one after the other, first alone "
        f"(*quiet*), then while one {first['size_mib']:.0f} MiB attachment is posted through the no-JS form "
        "to the same server (2 workers) and stored (*beside*); latency per small report, from sending to the "
        "answer.",
        "",
        "| database | upload s | quiet: reports | p50 ms | p99 ms | max ms | beside: reports | p50 ms | p99 ms | "
        "max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, x in stall.items():
        q, b = x["quiet"], x["beside"]
        out.append(
            f"| {backend} | {x['upload_seconds']} | {q['n']} | {q['p50_ms']} | {q['p99_ms']} | {q['max_ms']} | "
            f"{b['n']} | {b['p50_ms']} | {b['p99_ms']} | {b['max_ms']} |"
        )
    out.append("")
    out.append(
        f"Target, small reports wait no more than {TARGET_STALL_MS} ms at worst beside the upload: "
        f"{_ok(all(x['beside']['max_ms'] <= TARGET_STALL_MS for x in stall.values()))}"
        + (
            "; some runs ran out of prepared small reports before the upload ended"
            if any(x.get("ran_out") for x in stall.values())
            else ""
        )
        + "."
    )
    return out


def _followup(results: dict) -> list[str]:
    out = []
    through = results.get("followup") or {}
    if through:
        out += [
            "| database | no-JS follow-up p50 ms | p99 ms | JS: salt p50 ms | JS: stretch in the client p50 ms | "
            "JS: follow-up p50 ms | JS total p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for backend, f in through.items():
            out.append(
                f"| {backend} | {_ms(f['nojs']['p50_ms'])} | {_ms(f['nojs']['p99_ms'])} | "
                f"{_ms(f['js']['salt_p50_ms'])} | {_ms(f['js']['derive_p50_ms'])} | "
                f"{_ms(f['js']['followup_p50_ms'])} | {_ms(f['js']['total_p50_ms'])} | {_ms(f['js']['total_p99_ms'])} |"
            )
        out.append("")
        out.append(
            f"One client at a time, {next(iter(through.values()))['samples']} receipts made on the same "
            "server (default cost), through gunicorn. The JavaScript follow-up is timed as the browser "
            "lives it: salt request, stretching (here by PyNaCl in the client process; a browser "
            "runs libsodium's WebAssembly build instead), follow-up request."
        )
        out.append("")
    costs = results.get("costs") or []
    if costs:
        out += [
            "How the argon2id cost trades against the follow-up (and against guessing). *Derivation*: one "
            "receipt stretched, median; *no-JS follow-up*: the server's time for POST /followup (Flask test "
            "client, SQLite, median); *follow-ups/s*: what the machine's cores can stretch; *offline guessing*: "
            "what a thief of the database pays to find one case's 20 secret digits (half of 10^20 derivations), "
            "in core-years. Memory per concurrent derivation is the memlimit.",
            "",
            "| opslimit | memlimit MiB | derivation ms | no-JS follow-up ms | follow-ups/s (all cores) | offline guessing, core-years |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for c in costs:
            mark = " (default)" if c["default"] else ""
            out.append(
                f"| {c['opslimit']}{mark} | {c['memlimit_mib']} | {c['derive_ms']:.1f} | {c['nojs_followup_ms']:.1f} | "
                f"{c['followups_per_s']:.1f} | {c['guess_core_years']:.2e} |"
            )
        out.append("")
    return out or ["(not run)"]


def _caselist(results: dict) -> list[str]:
    lists = results.get("caselist") or {}
    if not lists:
        return ["(not run)"]
    out = [
        "| database | cases | seeding s | first page ms (median / max) | its queries alone ms | page 2 ms | page 1000 ms | member with every 10th case: first page ms | its queries ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, c in lists.items():
        out.append(
            f"| {backend} | {c['cases']:,} | {c['seed_seconds']} | {c['first_page']['median_ms']} / "
            f"{c['first_page']['max_ms']} | {c.get('query_ms', 'n/a')} | {c['page_2']['median_ms']} | "
            f"{c['page_1000']['median_ms']} | {c.get('tenth_first_page', {}).get('median_ms', 'n/a')} | "
            f"{c.get('tenth_query_ms', 'n/a')} |"
        )
    out.append("")
    worst = {b: c["first_page"]["median_ms"] for b, c in lists.items()}
    tenth = {b: c.get("tenth_first_page", {}).get("median_ms") for b, c in lists.items()}
    out.append(
        f"Target, first page under {TARGET_LIST_MS} ms: for the member holding every case "
        f"{_ok(all(v < TARGET_LIST_MS for v in worst.values()))}; for the member holding every tenth "
        f"{_ok(all(v is not None and v < TARGET_LIST_MS for v in tenth.values()))}."
    )
    out.append("")
    for backend, c in lists.items():
        out += [
            f"Plans of the statements a first page runs on {backend} (for each member):",
            "",
            "```",
            c["plan"],
            "```",
            "",
        ]
    return out


def _attachments(results: dict) -> list[str]:
    att = results.get("attachments") or {}
    raw = att.get("raw")
    if not raw:
        return ["(not run)"]
    out = [
        f"Raw secretstream encryption on this machine: {raw['secretstream_mib_s']:.0f} MiB/s "
        f"(libsodium over 64 KiB chunks); whistle's StreamEncryptor fed 1 MiB writes: "
        f"{raw['stream_encryptor_mib_s']:.0f} MiB/s. The disk alone (the same number of bytes written to a "
        f"file and fsync'd, no encryption, no database): "
        + (
            f"{raw['disk_write_fsync_mib_s']:.0f} MiB/s, {raw['disk_write_fsync_mib_s'] / raw['secretstream_mib_s'] * 100:.0f} % "
            f"of raw encryption."
            if raw.get("disk_write_fsync_mib_s")
            else "not measured."
        )
        + (
            f" Receiving alone (the same upload through gunicorn to `bench/discard_app.py`, where werkzeug "
            f"parses the form and the file's bytes are thrown away: no encryption, no spool, no database): "
            f"{raw['receive_and_parse_mib_s']:.0f} MiB/s with werkzeug's default 64 KiB reads, "
            f"{raw['receive_and_parse_mib_s'] / raw['secretstream_mib_s'] * 100:.0f} % of raw encryption"
            + (
                f"; {raw['receive_and_parse_whistle_reads_mib_s']:.0f} MiB/s "
                f"({raw['receive_and_parse_whistle_reads_mib_s'] / raw['secretstream_mib_s'] * 100:.0f} %) with "
                f"{raw['whistle_read_kib']} KiB reads, whistle's"
                if raw.get("receive_and_parse_whistle_reads_mib_s")
                else ""
            )
            + ". Storage placed behind the same parsing cannot go faster than this."
            if raw.get("receive_and_parse_mib_s")
            else ""
        ),
        "",
        "| database | file MiB | upload s (best) | MiB/s (best) | each upload MiB/s | of raw encryption | encrypt + store floor MiB/s | of floor | worker RSS before MiB | peak (VmHWM) after MiB | peak growth MiB | growth beyond a file-less report's peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    backends = [b for b in att if b != "raw"]
    for b in backends:
        a = att[b]
        each = ", ".join(str(x) for x in a.get("mib_s_each", [a["mib_s"]]))
        out.append(
            f"| {b} | {a['size_mib']:.0f} | {a['seconds']} | {a['mib_s']} | {each} | "
            f"{a['mib_s'] / raw['secretstream_mib_s'] * 100:.1f} % | {a['encrypt_and_store_mib_s']} | "
            f"{a['mib_s'] / a['encrypt_and_store_mib_s'] * 100:.0f} % | {a['rss_before_mib']} | {a['hwm_after_mib']} | "
            f"{a['peak_growth_mib']} | {round(a['hwm_after_mib'] - a['hwm_before_mib'], 1)} |"
        )
    out.append("")
    limit_mib = TARGET_UPLOAD_MIB * 10**6 / MiB  # 64 MB = 61.0 MiB
    growth_ok = all(att[b]["hwm_after_mib"] - att[b]["hwm_before_mib"] < limit_mib for b in backends)
    total_ok = all(att[b]["peak_growth_mib"] < limit_mib for b in backends)
    out.append(
        f"Targets: memory growth under 64 MB ({limit_mib:.1f} MiB) for the file: {_ok(growth_ok)} (the whole "
        f"request's peak growth, argon2id's 64 MiB working memory included: {_ok(total_ok)}); throughput at least "
        f"{TARGET_UPLOAD_OF_RAW * 100:.0f} % of raw secretstream encryption: "
        f"{_ok(all(att[b]['mib_s'] >= TARGET_UPLOAD_OF_RAW * raw['secretstream_mib_s'] for b in backends))}."
    )
    return out


def write(results: dict, path: Path) -> None:
    m = results["machine"]
    s = results["settings"]
    lines = [
        "# Benchmarks",
        "",
        "Measured by `bench/` (run by hand or with `make bench`; never part of the test suite). "
        "Everything below is generated by `bench/run.py` from the run's results (`bench/results.json`); "
        "the commentary in *Findings* is written by hand from the same run and from profiling.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']} |",
        f"| cores (nproc) | {m['nproc']} |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| kernel | {m['kernel']} |",
        f"| Python | {m['python']} |",
        f"| date (UTC) | {m['date']} |",
        f"| code | {m['commit']} |",
        f"| load average at start / end (1, 5, 15 min) | {results.get('load_at_start')} / {results.get('load_at_end')} |",
        f"| run | {results.get('mode') or ('quick' if results.get('quick') else 'full')} counts, {results.get('seconds', '?')} s, databases: "
        f"{', '.join(results.get('backends', []))}"
        + (
            f"; this run: {', '.join(results['parts'])} (the other sections kept from the run before)"
            if results.get("parts") and len(results["parts"]) < 4
            else ""
        )
        + " |",
        "",
        "The load generator runs on the same two cores as the servers, so every figure includes its cost; "
        "the baseline pays it too. The `load` column is the 1-minute load average after each pair of runs; the "
        "benchmark's own servers, database and load generator count in it, so a figure above the number of "
        "cores says the run kept them all busy, not by itself that anything else competed.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench                                   # = .venv/bin/python -m bench.run",
        ".venv/bin/python -m bench.run --quick        # smaller counts, shorter runs",
        ".venv/bin/python -m bench.run --tiny --output /tmp/b   # seconds; figures meaningless (the test suite runs it)",
        ".venv/bin/python -m bench.run --only caselist --backends postgresql",
        "WHISTLE_BENCH_PG=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\",
        "WHISTLE_BENCH_REDIS=redis://127.0.0.1:6379/9 .venv/bin/python -m bench.run",
        ".venv/bin/python -m bench.profile_submit --stages --count 1000   # one JavaScript-path report's checks, timed",
        "```",
        "",
        "PostgreSQL: throw-away databases are created and dropped on the server `WHISTLE_BENCH_PG` names "
        "(else `WHISTLE_TEST_DATABASE_URL`, else the local `postgres`); without one only SQLite is measured. "
        "Redis database 9 (`WHISTLE_BENCH_REDIS`) holds the servers' rate-limit counters; whistle's keys in it "
        "are deleted before and after. All traffic goes to 127.0.0.1; every run is bounded in requests and "
        "seconds; every server is started and stopped by its own pid.",
        "",
        "## 1. Sealed submissions per second",
        "",
        "gunicorn with `deploy/gunicorn.conf.py` and `--workers 2` (4 threads each), rate limits and the "
        "server-side sessions in Redis, as in production. `bench/load.py` drives it with 1, 16 and 64 "
        f"client threads on keep-alive connections, each run bounded ({s['js_cap']} requests or "
        f"{s['js_seconds']} s for the JavaScript path, {s['nojs_cap']} or {s['nojs_seconds']} s without "
        "JavaScript). Latency is per request, from sending to the last byte of the answer.",
        "",
        "- **JavaScript path**: what report.js posts to `/api/v1/reports` for a report without files (a JSON "
        "body; a ~1,200-character "
        "Chinese narrative, sealed to the committee key and the two members routing grants), prepared before the "
        "clock starts under locators the server issued (`POST /api/v1/locators`), each with its proof of work: "
        "the JavaScript-path server runs with `WHISTLE_POW_BITS=0` (the minimum), and every challenge is fetched "
        "(`POST /api/v1/pow`) and solved while preparing; the timed request still has its challenge checked "
        "(MAC, day, bits) and spent (remembered in Redis). In a browser the default 18 bits cost a fraction "
        "of a second to a second of the reporter's time, none of the server's.",
        "- **No-JS path**: the report form posted to `/report/contractor` (same narrative, the empty file "
        "part a browser sends); the server draws the receipt, stretches it with argon2id, seals and stores. "
        "Each worker stretches at most cores ÷ workers receipts at once (`WHISTLE_RECEIPT_DERIVATIONS`, set by "
        f"the gunicorn configuration's `post_fork`: here {max(1, (m['nproc'] or 1) // 2)} per worker); other "
        "requests wait for a slot.",
        "- **Baseline** (`bench/baseline_app.py`): the same request bytes posted to a bare Flask + SQLAlchemy "
        "endpoint on the same stack (same engine settings, same gunicorn configuration, a database of its own "
        "on the same server) that inserts them as one row. Runs alternate: baseline, then whistle, at each "
        "concurrency.",
        "- **Defended baseline** (`bench/defended_app.py`): the bare baseline plus what the design requires of "
        "every JavaScript-path report, with whistle's own functions: the same Flask-Limiter limit in the same "
        "Redis, keyed as whistle keys it; a strict JSON parse; the locator token; the proof of work checked and "
        "spent (in a Redis set of its own, so the same request bytes serve both). Runs go bare, defended, whistle.",
        "- **Rate limits** are raised by the benchmark's app factory `bench/app.py`: the production "
        "configuration from the environment (`whistle.config.from_env()`), with `limit_submit`, "
        "`limit_followup` and `limit_followup_global` set to 100,000,000 per hour through "
        "`Config.with_()`; the limiter stays on and counts in Redis.",
        f"- {JS_COST_NOTE}",
        "",
        *_submissions(results),
        "",
        "## 1b. Small reports beside a large upload",
        "",
        *_stall(results),
        "",
        "## 2. Follow-up with a receipt code",
        "",
        *_followup(results),
        "",
        "## 3. The committee's case list with 100,000 cases",
        "",
        "`bench/caselist.py` bulk-inserts realistic rows (routing codes from the catalogue and rules file, "
        "grade and deadlines computed by `whistle.triage`, statuses 10 % received, 20 % acknowledged, "
        "20 % in review, 50 % closed, received days over two years, the timeline events each status implies) "
        "and grants every case to one member (the worst case) and every tenth to another. Sealed items are "
        "left out: the list never reads them. The member logs in through the real form; `GET /committee/` is "
        "timed in-process with the Flask test client (server time only), median of 15. Pages 2 and 1000 are "
        "reached by following the list's own *Next* links (a keyset cursor, no OFFSET); *its queries alone* "
        "times every statement a first page runs (the list and the new-case count) without rendering.",
        "",
        *_caselist(results),
        "",
        "## 4. A 200 MiB attachment through the no-JS path",
        "",
        "A fresh gunicorn with one worker (the one measured) takes a small warm-up report, then three report "
        "forms, one after the other, each with a 200 MiB file streamed by the client; the throughput is the "
        "best of the three, as the floors beside it are best of three, and each one's rate is listed. Memory "
        "is the worker's VmRSS before the first upload and its VmHWM (peak resident set since it started) "
        "after it, from `/proc/<pid>/status`. The warm-up report "
        "already stretched a receipt at the default cost, so its peak includes argon2id's 64 MiB working "
        "memory; the last column is what the 200 MiB file added beyond that. The *encrypt + store floor* is "
        "the least any design that stores ciphertext durably in this database pays: secretstream over the "
        "same bytes and INSERTs of the ciphertext as 1 MiB rows of a table shaped like `attachment_chunks` (on SQLite WITHOUT ROWID, as whistle keeps every table) with one COMMIT, same engine settings, no "
        "HTTP, parsing, spooling or ORM. Afterwards every stored attachment is decrypted with the committee "
        "key and compared with what was sent.",
        "",
        *_attachments(results),
        "",
    ]
    findings = Path(__file__).with_name("findings.md")
    if findings.exists():
        lines += ["## Findings", "", findings.read_text().strip(), ""]
    path.write_text("\n".join(lines))
