"""Follow-up with a receipt code: latency through gunicorn, and how the argon2id cost trades
against it (and against guessing)."""

import json
import re
import statistics
import time
import urllib.parse
from pathlib import Path

from sqlalchemy.orm import Session

from crypto.encoding import b64u, unb64u
from crypto.receipt import ReceiptCode, derive_reporter_keys
from whistle import create_app, migrate
from whistle.custody import offline
from whistle.clock import today
from whistle.config import Config
from whistle.services import services

from bench import load
from bench.common import KEY_PASSPHRASE, TZ
from bench.load import Prepared
from bench.submissions import FORM, multipart, post_json

# (opslimit, memlimit) pairs for the trade-off table; (3, 64 MiB) is whistle's default.
MiB = 1024 * 1024
COSTS = [(1, 8 * MiB), (2, 32 * MiB), (2, 64 * MiB), (3, 64 * MiB), (4, 64 * MiB), (3, 128 * MiB), (4, 256 * MiB)]
RECEIPT = re.compile(rb'<output id="receipt-code"[^>]*>([0-9 ]+)</output>')


def receipts_from(results: list) -> list[ReceiptCode]:
    """Receipt codes shown on no-JS receipt pages."""
    return [ReceiptCode.parse(RECEIPT.search(body).group(1).decode()) for body in results]


def through_server(port: int, count: int = 30) -> dict:
    """At the server's configured cost, one client at a time: the no-JS follow-up (the server
    stretches the code), and the JS follow-up (salt request, the browser's stretching, the
    follow-up request), each timed end to end."""
    made = load.run(
        port,
        [Prepared("POST", "/report/contractor", *_form()) for _ in range(count)],
        1,
        max_seconds=300,
        expect=(200,),
        keep_bodies=count,
        label="reports for follow-up",
    )
    codes = receipts_from(made.bodies)
    nojs = [
        Prepared(
            "POST",
            "/followup",
            urllib.parse.urlencode({"code": c.grouped()}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        for c in codes
    ]
    nojs_result = load.run(port, nojs, 1, max_seconds=300, expect=(200,), label="no-JS follow-up")
    salt_ms, derive_ms, followup_ms, total_ms = [], [], [], []
    for code in codes:
        began = time.perf_counter()
        salt = load.run(
            port,
            [Prepared("GET", f"/api/v1/receipts/{code.locator}/salt")],
            1,
            max_seconds=60,
            expect=(200,),
            keep_bodies=1,
        )
        got = json.loads(salt.bodies[0])
        t1 = time.perf_counter()
        keys = derive_reporter_keys(code, unb64u(got["salt"]), got["opslimit"], got["memlimit"])
        t2 = time.perf_counter()
        post_json(port, "/api/v1/followup", {"locator": code.locator, "lookup": b64u(keys.lookup)})
        t3 = time.perf_counter()
        salt_ms.append((t1 - began) * 1000)
        derive_ms.append((t2 - t1) * 1000)
        followup_ms.append((t3 - t2) * 1000)
        total_ms.append((t3 - began) * 1000)
    pct = lambda xs, p: sorted(xs)[max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))]  # noqa: E731
    return {
        "samples": len(codes),
        "nojs": nojs_result.summary(),
        "js": {
            "salt_p50_ms": round(pct(salt_ms, 50), 1),
            "derive_p50_ms": round(pct(derive_ms, 50), 1),
            "followup_p50_ms": round(pct(followup_ms, 50), 1),
            "total_p50_ms": round(pct(total_ms, 50), 1),
            "total_p99_ms": round(pct(total_ms, 99), 1),
        },
    }


def _form():
    body, ctype = multipart(FORM, files=[("files", "", b"")])
    return body, {"Content-Type": ctype}


def cost_table(work: Path, nproc: int, costs=COSTS, repeat: int = 5) -> list[dict]:
    """For each cost: one derivation (median), the no-JS follow-up's server time (Flask test
    client, median), follow-ups per second the machine can stretch, and what a thief of the
    database pays to find one receipt's 20 secret digits (half of 10^20 derivations)."""
    rows = []
    for n, (ops, mem) in enumerate(costs):
        folder = work / f"cost{n}"
        folder.mkdir(parents=True, exist_ok=True)
        cfg = Config(
            instance_dir=folder,
            database_url=f"sqlite:///{folder / 'whistle.db'}",
            receipt_opslimit=ops,
            receipt_memlimit=mem,
            extra={"ratelimit": False},
        )
        app = create_app(cfg)
        engine = services(app).engine
        migrate.upgrade(engine)
        with Session(engine) as s:
            offline.init_keys(s, folder / "k.key", KEY_PASSPHRASE, "k", today(TZ), opslimit=1, memlimit=8 * MiB)
            s.commit()
        client = app.test_client()
        body, headers = _form()
        page = client.post("/report/contractor", data=body, headers=headers)
        code = RECEIPT.search(page.get_data()).group(1).decode()
        client.post("/followup", data={"code": code})  # warm
        derive, serve = [], []
        parsed = ReceiptCode.parse(code)
        for _ in range(repeat):
            began = time.perf_counter()
            derive_reporter_keys(parsed, b"\0" * 16, ops, mem)
            derive.append(time.perf_counter() - began)
            began = time.perf_counter()
            assert client.post("/followup", data={"code": code}).status_code == 200
            serve.append(time.perf_counter() - began)
        engine.dispose()
        t = statistics.median(derive)
        core_years = 0.5 * 10**20 * t / (365.25 * 24 * 3600)
        rows.append(
            {
                "opslimit": ops,
                "memlimit_mib": mem // MiB,
                "derive_ms": round(t * 1000, 1),
                "nojs_followup_ms": round(statistics.median(serve) * 1000, 1),
                "followups_per_s": round(nproc / t, 1),
                "guess_core_years": core_years,
                "default": (ops, mem) == (3, 64 * MiB),
            }
        )
    return rows
