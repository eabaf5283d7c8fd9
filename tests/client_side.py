"""A Python stand-in for the browser's JavaScript path, built on the same crypto library.

Used by API tests; the real browser is exercised in tests/browser/.
"""

import io
import json

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys
from crypto.stream import attachment_key, encrypt_bytes
from whistle.models import new_id

HEADER = {
    "channel": "contractor",
    "department": "transport",
    "category": "gifts",
    "accused_rank": "head",
    "money_band": "10k_100k",
    "frequency": "regular",
    "evidence": "attached",
}
OPS, MEM = 1, 8 * 1024 * 1024


def proof_of_work(client) -> dict:
    """A solved proof of work, as static/js/pow.js makes one (tests run with few bits)."""
    from whistle.security.proof_of_work import solve

    answer = client.post("/api/v1/pow", json={})
    assert answer.status_code == 200, answer.get_json()
    challenge = answer.get_json()["challenge"]
    return {"challenge": challenge, "nonce": solve(challenge)}


def new_locator(client) -> tuple[str, str]:
    """A server-issued (locator, token), as report.js asks for one."""
    answer = client.post("/api/v1/locators", json={})
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    return data["locator"], data["token"]


def seal_report(client, narrative: str, files=(), header=None, code=None, token=None):
    """Build and post a report the way report.js does. Returns (response, code, keys).

    The locator comes from the server unless ``code`` (and its locator's ``token``) is given.
    """
    header = dict(header or HEADER)
    recipients = client.post("/api/v1/recipients", json=header).get_json()["recipients"]
    if code is None:
        locator, token = new_locator(client)
        code = ReceiptCode.generate(locator=locator)
    salt = random_bytes(16)
    keys = derive_reporter_keys(code, salt, OPS, MEM)
    content_key = random_bytes(32)
    parts, meta = _sealed_files(content_key, files)
    sealed = env.seal(
        "report",
        env.bind_reporter_key(header, keys.keypair.public),
        {"narrative": narrative, "attachments": meta},
        [unb64u(r["public_key"]) for r in recipients],
        content_key=content_key,
    )
    submission = {
        "locator": code.locator,
        "locator_token": token,
        "salt": b64u(salt),
        "kdf": {"opslimit": OPS, "memlimit": MEM},
        "lookup": b64u(keys.lookup),
        "reporter_public_key": b64u(keys.keypair.public),
        "envelope": sealed.envelope,
        "pow": proof_of_work(client),
    }
    data = dict(parts, submission=json.dumps(submission))
    resp = client.post("/api/v1/reports", data=data, content_type="multipart/form-data")
    return resp, code, keys


def credentials(client, code: ReceiptCode) -> dict:
    """Derive the lookup token as followup.js does (salt from the server)."""
    salt = client.get(f"/api/v1/receipts/{code.locator}/salt").get_json()
    keys = derive_reporter_keys(code, unb64u(salt["salt"]), salt["opslimit"], salt["memlimit"])
    return {"locator": code.locator, "lookup": b64u(keys.lookup)}, keys


def _sealed_files(content_key: bytes, files) -> tuple[dict, list]:
    """(multipart parts named by attachment id, the body's attachment list) for (name,
    bytes) files, each encrypted under ``content_key`` as attachments.js does."""
    parts, meta = {}, []
    for name, data in files:
        attachment_id = new_id()
        parts[attachment_id] = (
            io.BytesIO(encrypt_bytes(attachment_key(content_key, attachment_id), data)),
            attachment_id,
        )
        meta.append({"id": attachment_id, "name": name, "type": "text/plain", "size": len(data)})
    return parts, meta


def followup_message(client, code: ReceiptCode, text: str, files=()):
    """What followup.js does to send a message: seal it (and its files) to the recipients
    the case view names and to the reporter's own key, then post it with a proof of work."""
    creds, keys = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()
    recipients = [unb64u(r["public_key"]) for r in view["recipients"]] + [keys.keypair.public]
    content_key = random_bytes(32)
    parts, meta = _sealed_files(content_key, files)
    sealed = env.seal(
        "message", {"case": view["case"]}, {"text": text, "attachments": meta}, recipients, content_key=content_key
    )
    submission = dict(creds, envelope=sealed.envelope, pow=proof_of_work(client))
    if not parts:
        return client.post("/api/v1/followup/messages", json=submission)
    return client.post(
        "/api/v1/followup/messages",
        data=dict(parts, submission=json.dumps(submission)),
        content_type="multipart/form-data",
    )
