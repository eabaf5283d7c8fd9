"""Committee work done offline with the committee's private key (wrapped by the CLI).

Plain functions taking a database session, so tests call them directly.
"""

import json
import os
import re
import tempfile
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto import keyfile
from crypto.errors import CryptoError
from crypto.keys import KeyPair, random_bytes
from crypto.stream import StreamEncryptor, attachment_key, decrypt_stream
from whistle.cases import store as cases
from whistle.channels import surveys
from whistle.errors import CasePurged
from whistle.catalog import routing_header
from whistle.models import Attachment, Case, CommitteeKey, Survey, new_id
from whistle.cases.uploads import clean_filename

DEMO_PASSPHRASE = "demo"


class OfflineError(Exception):
    """Raised for a CLI mistake (unknown case, wrong passphrase); the message says which."""


PURGED = "the case was purged: its records are deleted and it takes no reply or status change"
KEY_MISMATCH = (
    "the stored reporter key is not the one this case's report binds (it may have been "
    "swapped in the database): no reply was sealed"
)
KEY_UNCHECKED = (
    "this case's report was filed before reports bound the reporter's key: the stored reporter key cannot be checked"
)


class ReporterKeyMismatch(OfflineError):
    """The stored reporter key is not the one the case's report binds (FORMAT.md §3 v2)."""


def register_key(db: Session, public_key: bytes, label: str, *, demo: bool, on) -> CommitteeKey:
    """Make ``public_key`` an active committee key; a real key retires every demo key."""
    if not demo:
        db.execute(update(CommitteeKey).where(CommitteeKey.demo.is_(True)).values(active=False))
    row = CommitteeKey(
        kid=KeyPair(public_key, b"").kid, public_key=public_key, label=label, demo=demo, active=True, created_on=on
    )
    db.merge(row)
    return row


def retire_key(db: Session, kid_prefix: str) -> CommitteeKey:
    """Stop sealing new reports to a committee key (the cases already sealed to it stay
    readable with it). Refuses an unknown or retired key and the last active one: with no
    active key no report could be accepted."""
    rows = db.scalars(select(CommitteeKey).where(CommitteeKey.kid.startswith(str(kid_prefix), autoescape=True))).all()
    if len(rows) != 1 or not kid_prefix:
        raise OfflineError(f"no single committee key starts with {kid_prefix!r} (see `whistle keys list`)")
    row = rows[0]
    if not row.active:
        raise OfflineError(f"committee key {row.kid} is already retired")
    others = db.scalar(
        select(func.count()).select_from(CommitteeKey).where(CommitteeKey.active.is_(True), CommitteeKey.kid != row.kid)
    )
    if not others:
        raise OfflineError(
            f"committee key {row.kid} is the only active one: register its successor first (`whistle keys init`)"
        )
    row.active = False
    return row


def other_active_keys(db: Session, kid: str) -> list[CommitteeKey]:
    """Active, real committee keys other than ``kid``: new reports are sealed to each of them
    too, so whoever holds one alone still reads every new report."""
    return list(
        db.scalars(
            select(CommitteeKey)
            .where(CommitteeKey.active.is_(True), CommitteeKey.demo.is_(False), CommitteeKey.kid != kid)
            .order_by(CommitteeKey.kid)
        )
    )


def init_keys(
    db: Session,
    out: Path,
    passphrase: str,
    label: str,
    on,
    *,
    demo=False,
    opslimit=keyfile.DEFAULT_OPSLIMIT,
    memlimit=keyfile.DEFAULT_MEMLIMIT,
) -> KeyPair:
    """Create the committee key pair, write the wrapped private half to ``out``, register it."""
    if out.exists():
        raise OfflineError(f"{out} exists; refusing to overwrite a key file")
    keypair = KeyPair.generate()
    text = keyfile.wrap(keypair, passphrase, opslimit=opslimit, memlimit=memlimit)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_new_file(out, text)
    register_key(db, keypair.public, label, demo=demo, on=on)
    return keypair


def write_new_file(path: Path, text: str) -> None:
    """Create ``path`` (0600; an existing file is refused) holding ``text``, on disk before
    this returns, its name too. A key or share file must survive a power cut as surely as
    the commit that registers its key: otherwise every report sealed to that key is lost."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    folder = os.open(Path(path).parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def load_key(path: Path, passphrase: str) -> KeyPair:
    """Open a committee key file; OfflineError on a wrong passphrase."""
    try:
        return keyfile.unwrap(Path(path).read_text(encoding="utf-8"), passphrase)
    except OSError as exc:
        raise OfflineError(f"cannot read {path}: {exc.strerror}") from exc
    except Exception as exc:  # noqa: BLE001 - CryptoError or a malformed file
        raise OfflineError("wrong passphrase or damaged key file") from exc


def _by_id_prefix(db: Session, model, given: str, what: str):
    """The one row of ``model`` whose id starts with ``given`` (at least 6 hex characters,
    so a slip of the finger does not pick some other row)."""
    if len(given) < 6 or not re.fullmatch(r"[0-9a-f]+", given):
        raise OfflineError(f"give a {what} id (at least 6 hex characters)")
    found = db.scalars(select(model).where(model.id.startswith(given))).all()
    if len(found) != 1:
        raise OfflineError(f"no single {what} matches {given!r}")
    return found[0]


def get_case(db: Session, case_id: str) -> Case:
    """The case with ``case_id`` (a unique prefix of at least 6 characters is enough)."""
    return _by_id_prefix(db, Case, case_id, "case")


def _safe_name(name, fallback: str) -> str:
    name = Path(clean_filename(name, fallback)).name.strip()  # no directories, no control characters
    return name if name not in ("", ".", "..") else fallback


def _save_attachment(db: Session, item, content_key: bytes, meta, target: Path) -> str | None:
    """Decrypt one listed attachment to ``target``; why it was skipped, or None if saved.

    Whoever holds a receipt seals the reporter's messages, so an entry may be malformed,
    name an attachment stored elsewhere, or not decrypt: each is skipped, never fatal.
    """
    problem = cases.attachment_meta_problem(meta)
    if problem is not None:
        return problem
    stored = db.get(Attachment, meta["id"])
    if stored is None or stored.item_id != item.id:
        return "not stored with this item"
    try:
        with open(target, "wb") as fh:
            for piece in decrypt_stream(
                attachment_key(content_key, meta["id"]), cases.attachment_stream(db, meta["id"]), meta["size"]
            ):
                fh.write(piece)
    except CryptoError:
        target.unlink(missing_ok=True)  # no half-decrypted file left behind
        return "does not decrypt"
    return None


def _decrypt_item(db: Session, item, keypair: KeyPair, folder: Path) -> dict:
    """The summary of one item; its attachments written under ``folder/attachments``."""
    summary = {"seq": item.seq, "kind": item.kind, "on": item.created_on.isoformat()}
    try:
        body, content_key = env.open_envelope(cases.item_envelope(item), keypair)
    except CryptoError:
        return dict(summary, body=None, skipped=["the item does not open with this key"])
    listed = body.get("attachments") or []
    skipped = [] if isinstance(listed, list) else ["attachments: not a list"]
    for n, meta in enumerate(listed if isinstance(listed, list) else [], start=1):
        name = _safe_name(meta.get("name") if isinstance(meta, dict) else None, "file")
        target = folder / "attachments" / f"{item.seq:03d}-{n:02d}-{name}"
        problem = _save_attachment(db, item, content_key, meta, target)
        if problem is None:
            meta["saved_as"] = str(target.relative_to(folder))
        else:
            skipped.append(f"attachment {n} skipped: {problem}")
    summary["body"] = body
    if skipped:
        summary["skipped"] = skipped
    return summary


def decrypt_case(db: Session, case: Case, keypair: KeyPair, out: Path) -> dict:
    """Write a case's report, messages and attachments, decrypted, under ``out/<case id>``.

    An item or attachment that cannot be decrypted is skipped with a note (``skipped``) in
    its item's summary, so one bad entry never blocks the rest of the case.
    """
    folder = out / case.id
    (folder / "attachments").mkdir(parents=True, exist_ok=True)
    summary = {
        "case": case.id,
        "received_on": case.received_on.isoformat(),
        "status": case.status,
        "routing": routing_header(case),
        "timeline": [{"event": e.event, "on": e.happened_on.isoformat()} for e in case.events],
        "items": [_decrypt_item(db, item, keypair, folder) for item in case.items],
    }
    (folder / "case.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary


def get_survey(db: Session, survey_id: str) -> Survey:
    """The survey with ``survey_id`` (a unique prefix of at least 6 characters is enough)."""
    return _by_id_prefix(db, Survey, survey_id, "survey")


def _survey_answer(answer, questions: dict) -> bool:
    """One well-formed free-text answer: {"item": a free-text item's number, "text": a string}."""
    return (
        isinstance(answer, dict)
        and type(answer.get("item")) is int
        and answer["item"] in questions
        and isinstance(answer.get("text"), str)
    )


def decrypt_survey_texts(db: Session, survey: Survey, keypair: KeyPair) -> dict:
    """A survey's sealed free-text answers, opened with ``keypair``: one entry per response
    that wrote any, in the stored (random-id, not arrival) order, each answer with its
    question. The browser seals what it likes, so an envelope that does not open, or whose
    content is not the survey format (answers: [{item: a free-text item's number, text: a
    string}]), is counted under ``skipped`` rather than stopping the rest."""
    questions = {q.idx: q.text for q in survey.questions if q.kind == "free_text"}
    responses, skipped = [], 0
    for envelope in surveys.text_envelopes(db, survey):
        try:
            body, _key = env.open_envelope(envelope, keypair)
        except CryptoError:
            skipped += 1
            continue
        answers = body.get("answers") if isinstance(body, dict) else None
        if not isinstance(answers, list) or not all(_survey_answer(a, questions) for a in answers):
            skipped += 1
            continue
        responses.append([{"item": a["item"], "question": questions[a["item"]], "text": a["text"]} for a in answers])
    return {
        "survey": survey.id,
        "title": survey.title,
        "period": [survey.period_start.isoformat(), survey.period_end.isoformat()],
        "questions": {str(idx): text for idx, text in sorted(questions.items())},
        "responses": responses,
        "skipped": skipped,
    }


def reporter_key_binding(case: Case) -> str:
    """env.BOUND, env.UNBOUND (a version 1 report) or env.MISMATCH: whether the stored reporter
    key is the one the case's report binds. Without a committee key this reads the report's
    clear header; a header changed to match does not open for any member (FORMAT.md §3)."""
    report = next((item for item in case.items if item.kind == "report"), None)
    if report is None:
        return env.MISMATCH
    try:
        return env.reporter_key_binding(cases.item_envelope(report), case.reporter_pk)
    except (ValueError, KeyError, TypeError):  # a stored report that is not an envelope
        return env.MISMATCH


def reply_to_case(db: Session, rules, case: Case, text: str, files: list[Path], on):
    """Seal a committee reply (and files) to the reporter and the committee; store it.
    ReporterKeyMismatch (nothing sealed) if the stored reporter key is not the report's."""
    if case.status == "purged":  # (before encrypting any file; checked again under the lock)
        raise OfflineError(PURGED)
    if reporter_key_binding(case) == env.MISMATCH:
        # A purge that committed since the case was read took its report too: say that.
        if cases.locked(db, case).status == "purged":
            raise OfflineError(PURGED)
        raise ReporterKeyMismatch(KEY_MISMATCH)
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
            meta.append(
                {"id": attachment_id, "name": Path(path).name, "type": "application/octet-stream", "size": size}
            )
            uploads.append(cases.Upload(attachment_id, spool))
        recipients = [r.public_key for r in cases.case_recipients(db, rules, case)] + [case.reporter_pk]
        sealed = env.seal(
            "reply", {"case": case.id}, {"text": text, "attachments": meta}, recipients, content_key=content_key
        )
        try:
            return cases.add_message(db, rules, case, "reply", sealed.envelope, uploads, on)
        except CasePurged as exc:  # purged meanwhile (add_message checks under the case's lock)
            raise OfflineError(PURGED) from exc


def export_sealed(db: Session, case: Case, out: Path) -> Path:
    """Write a case's sealed items and attachment streams, as stored, for hand-over (a case
    held for the superior body is forwarded this way: it cannot be opened here)."""
    folder = out / case.id
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "case": case.id,
        "received_on": case.received_on.isoformat(),
        "routing": routing_header(case),
        "held_for_superior": case.held_for_superior,
        "items": [],
    }
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
