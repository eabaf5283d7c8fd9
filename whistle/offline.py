"""Committee work done offline with the committee's private key (wrapped by the CLI).

Plain functions taking a database session, so tests call them directly.
"""
import json
import re
import tempfile
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto import keyfile
from crypto.keys import KeyPair, random_bytes
from crypto.stream import StreamEncryptor, attachment_key, decrypt_stream
from whistle import cases
from whistle.catalog import CASE_EVENTS
from whistle.models import Case, CommitteeKey
from whistle.models import new_id

DEMO_PASSPHRASE = "demo"


class OfflineError(Exception):
    """Raised for a CLI mistake (unknown case, wrong passphrase); the message says which."""


def register_key(db: Session, public_key: bytes, label: str, *, demo: bool, on) -> CommitteeKey:
    """Make ``public_key`` an active committee key; a real key retires every demo key."""
    if not demo:
        db.execute(update(CommitteeKey).where(CommitteeKey.demo.is_(True)).values(active=False))
    row = CommitteeKey(kid=KeyPair(public_key, b"").kid, public_key=public_key, label=label,
                       demo=demo, active=True, created_on=on)
    db.merge(row)
    return row


def init_keys(db: Session, out: Path, passphrase: str, label: str, on, *, demo=False,
              opslimit=keyfile.DEFAULT_OPSLIMIT, memlimit=keyfile.DEFAULT_MEMLIMIT) -> KeyPair:
    """Create the committee key pair, write the wrapped private half to ``out``, register it."""
    if out.exists():
        raise OfflineError(f"{out} exists; refusing to overwrite a key file")
    keypair = KeyPair.generate()
    text = keyfile.wrap(keypair, passphrase, opslimit=opslimit, memlimit=memlimit)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.write_text(text, encoding="utf-8")
    register_key(db, keypair.public, label, demo=demo, on=on)
    return keypair


def load_key(path: Path, passphrase: str) -> KeyPair:
    """Open a committee key file; OfflineError on a wrong passphrase."""
    try:
        return keyfile.unwrap(Path(path).read_text(encoding="utf-8"), passphrase)
    except OSError as exc:
        raise OfflineError(f"cannot read {path}: {exc.strerror}") from exc
    except Exception as exc:  # noqa: BLE001 - CryptoError or a malformed file
        raise OfflineError("wrong passphrase or damaged key file") from exc


def get_case(db: Session, case_id: str) -> Case:
    """The case with ``case_id`` (a unique prefix of at least 6 characters is enough)."""
    if len(case_id) < 6 or not re.fullmatch(r"[0-9a-f]+", case_id):
        raise OfflineError("give a case id (at least 6 hex characters)")
    found = db.scalars(select(Case).where(Case.id.startswith(case_id))).all()
    if len(found) != 1:
        raise OfflineError(f"no single case matches {case_id!r}")
    return found[0]


def _safe_name(name: str, fallback: str) -> str:
    name = Path(str(name)).name.strip().replace("\x00", "")
    return name if name not in ("", ".", "..") else fallback


def decrypt_case(db: Session, case: Case, keypair: KeyPair, out: Path) -> dict:
    """Write a case's report, messages and attachments, decrypted, under ``out/<case id>``."""
    folder = out / case.id
    (folder / "attachments").mkdir(parents=True, exist_ok=True)
    summary = {"case": case.id, "received_on": case.received_on.isoformat(), "status": case.status,
               "routing": cases.routing_header(case),
               "timeline": [{"event": e.event, "on": e.happened_on.isoformat()} for e in case.events],
               "items": []}
    for item in case.items:
        body, content_key = env.open_envelope(cases.item_envelope(item), keypair)
        for n, meta in enumerate(body.get("attachments") or [], start=1):
            target = folder / "attachments" / f"{item.seq:03d}-{n:02d}-{_safe_name(meta.get('name'), 'file')}"
            with open(target, "wb") as fh:
                for piece in decrypt_stream(attachment_key(content_key, meta["id"]),
                                            cases.attachment_stream(db, meta["id"]), int(meta["size"])):
                    fh.write(piece)
            meta["saved_as"] = str(target.relative_to(folder))
        summary["items"].append({"seq": item.seq, "kind": item.kind, "on": item.created_on.isoformat(),
                                 "body": body})
    (folder / "case.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary


def reply_to_case(db: Session, rules, case: Case, text: str, files: list[Path], on):
    """Seal a committee reply (and files) to the reporter and the committee; store it."""
    content_key = random_bytes(32)
    meta, uploads = [], []
    with ExitStack() as stack:
        for path in files:
            spool = stack.enter_context(tempfile.TemporaryFile())  # ciphertext only
            attachment_id = new_id()
            enc = StreamEncryptor(attachment_key(content_key, attachment_id), spool.write)
            with open(path, "rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    enc.write(chunk)
            size = enc.finish()
            spool.seek(0)
            meta.append({"id": attachment_id, "name": Path(path).name,
                         "type": "application/octet-stream", "size": size})
            uploads.append(cases.Upload(attachment_id, spool))
        recipients = [r.public_key for r in cases.case_recipients(db, rules, case)] + [case.reporter_pk]
        sealed = env.seal("reply", {"case": case.id}, {"text": text, "attachments": meta}, recipients,
                          content_key=content_key)
        return cases.add_message(db, rules, case, "reply", sealed.envelope, uploads, on)


def set_status(db: Session, case: Case, event: str, on) -> None:
    """Record a status change on the reporter's timeline."""
    if event not in CASE_EVENTS or event in ("received", "feedback_sent"):
        raise OfflineError("status must be one of: acknowledged, in_review, closed")
    cases.add_event(db, case, event, on)


def export_sealed(db: Session, case: Case, out: Path) -> Path:
    """Write a case's sealed items and attachment streams, as stored, for hand-over (a case
    held for the superior body is forwarded this way: it cannot be opened here)."""
    folder = out / case.id
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"case": case.id, "received_on": case.received_on.isoformat(),
                "routing": cases.routing_header(case), "held_for_superior": case.held_for_superior,
                "items": []}
    for item in case.items:
        name = f"{item.seq:03d}-{item.kind}.json"
        (folder / name).write_bytes(item.envelope)
        files = []
        for attachment in item.attachments:
            with open(folder / f"{attachment.id}.stream", "wb") as fh:
                for piece in cases.attachment_stream(db, attachment.id):
                    fh.write(piece)
            files.append(f"{attachment.id}.stream")
        manifest["items"].append({"seq": item.seq, "kind": item.kind, "envelope": name, "streams": files})
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return folder
