"""Sealed submissions per second, through gunicorn (2 workers), beside the baseline.

JavaScript path: what report.js posts to /api/v1/reports (a report without files: the
submission as a JSON body), sealed before the clock starts with the Python crypto library under server-issued
locators (POST /api/v1/locators). No-JS path: the report form posted to /report/contractor,
which the server seals (argon2id of a fresh receipt code at the configured cost, the
envelope, the inserts). Baseline: the same request bytes posted to bench/baseline_app.py.
"""

import json
import secrets
import statistics
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys

from bench import load
from bench.load import Prepared

HEADER = {
    "channel": "contractor",
    "department": "transport",
    "category": "gifts",
    "accused_rank": "head",
    "money_band": "10k_100k",
    "frequency": "regular",
    "evidence": "attached",
}
NARRATIVE = (
    "2026年9月起，某局工程科负责人以验收为名多次要求我公司安排宴请，并暗示逢年过节需“表示”。"
    "10月中旬我公司项目款拨付被无故压了五周，期间该负责人提出由指定单位承接部分分包。"
) * 6
FORM = {
    "department": "housing",
    "accused_rank": "staff",
    "category": "meals",
    "money_band": "1k_10k",
    "frequency": "several",
    "evidence": "attached",
    "accused_name": "王某",
    "accused_post": "科长",
    "period": "2026年10月",
    "place": "城东项目",
    "narrative": NARRATIVE,
}


def multipart(fields: dict, files=()) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it (an empty file input included)."""
    boundary = "----whistlebench" + secrets.token_hex(8)
    out = []
    for name, value in fields.items():
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    for name, filename, content in files:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def post_json(port: int, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _derive(args):
    digits, salt, ops, mem = args
    keys = derive_reporter_keys(ReceiptCode.parse(digits), salt, ops, mem)
    return keys.lookup, keys.keypair.public


def receipts(port: int, count: int, ops: int, mem: int) -> list[dict]:
    """``count`` receipt codes under locators the server issued, with their derived lookup
    tokens and reporter keys (argon2id at ops/mem, in a process per core)."""
    # The server issues a locator no *case* has; nothing was stored yet, so it may issue one
    # twice (thousands of random 7-digit locators: a few repeats). report.js would ask for
    # another on the 409; here repeats are dropped before the clock starts.
    issued, seen = [], set()
    for _ in range(2 * count):
        answer = post_json(port, "/api/v1/locators", {})
        if answer["locator"] not in seen:
            seen.add(answer["locator"])
            issued.append(answer)
        if len(issued) == count:
            break
    codes = [ReceiptCode.generate(locator=i["locator"]) for i in issued]
    salts = [random_bytes(16) for _ in codes]
    with ProcessPoolExecutor() as pool:
        derived = list(pool.map(_derive, [(c.digits, s, ops, mem) for c, s in zip(codes, salts)], chunksize=16))
    return [
        {"locator": i["locator"], "token": i["token"], "salt": s, "lookup": lookup, "pk": pk}
        for i, s, (lookup, pk) in zip(issued, salts, derived)
    ]


def proof_of_work(port: int) -> dict | None:
    """A solved proof of work from this server (static/js/pow.js's job), or None if this
    version of whistle has none."""
    try:
        challenge = post_json(port, "/api/v1/pow", {})["challenge"]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    from whistle.security.proof_of_work import solve

    return {"challenge": challenge, "nonce": solve(challenge)}


def js_requests(port: int, prepared: list[dict], ops: int, mem: int) -> list[Prepared]:
    """Sealed report submissions to this server's recipients (committee key + members
    routing grants), as report.js posts them, each with its solved proof of work."""
    recipients = [unb64u(r["public_key"]) for r in post_json(port, "/api/v1/recipients", HEADER)["recipients"]]
    out = []
    for p in prepared:
        pow_ = proof_of_work(port)
        sealed = env.seal(
            "report",
            env.bind_reporter_key(HEADER, p["pk"]),
            {"narrative": NARRATIVE, "accused_name": "王某", "attachments": []},
            recipients,
        )
        submission = {
            "locator": p["locator"],
            "locator_token": p["token"],
            "salt": b64u(p["salt"]),
            "kdf": {"opslimit": ops, "memlimit": mem},
            "lookup": b64u(p["lookup"]),
            "reporter_public_key": b64u(p["pk"]),
            "envelope": sealed.envelope,
        }
        if pow_ is not None:
            submission["pow"] = pow_
        # report.js posts a report without files as a JSON body (api.js postSubmission).
        out.append(
            Prepared("POST", "/api/v1/reports", json.dumps(submission).encode(), {"Content-Type": "application/json"})
        )
    return out


def nojs_requests(count: int) -> list[Prepared]:
    """The no-JS report form, as a browser posts it with no file chosen."""
    out = []
    for _ in range(count):
        body, ctype = multipart(FORM, files=[("files", "", b"")])
        out.append(Prepared("POST", "/report/contractor", body, {"Content-Type": ctype}))
    return out


def baseline_requests(like: list[Prepared], path: str = "/baseline") -> list[Prepared]:
    """The same bytes, to a baseline's endpoint (the bare one, or /defended)."""
    return [Prepared("POST", path, p.body, dict(p.headers)) for p in like]


def argon2_seconds(ops: int, mem: int, repeat: int = 7) -> float:
    """Median time of one receipt derivation at ops/mem, in this process."""
    code = ReceiptCode.generate(locator="1234567")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        derive_reporter_keys(code, random_bytes(16), ops, mem)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def argon2_parallel_rate(ops: int, mem: int, threads: int, seconds: float = 6.0) -> float:
    """Derivations per second with ``threads`` threads deriving at once (argon2id releases
    the GIL), in this process, for about ``seconds``: what the cores really give when every
    one of them stretches a receipt, memory bandwidth shared."""
    code = ReceiptCode.generate(locator="1234567")
    done, stop = [0] * threads, time.perf_counter() + seconds

    def work(n):
        while time.perf_counter() < stop:
            derive_reporter_keys(code, random_bytes(16), ops, mem)
            done[n] += 1

    began = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - began)


def check_receipts(result: load.Result) -> None:
    """The no-JS runs returned receipt pages (not an error page with status 200)."""
    for body in result.bodies:
        assert b'id="receipt-code"' in body, body[:500]
