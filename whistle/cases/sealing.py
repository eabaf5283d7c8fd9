"""The no-JavaScript path: the server builds, in memory, the same envelope the browser would.

Plaintext exists only in this request's memory. Attachments were already encrypted while
they streamed in (whistle.cases.uploads.SealingSpool) under the same content key.
"""

from dataclasses import dataclass

from crypto import envelope as env
from crypto.keys import KeyPair, random_bytes
from crypto.receipt import ReceiptCode, ReporterKeys, log_commitment
from whistle import db
from whistle.cases import store as cases
from whistle.cases.uploads import SealingSpool, Uploads
from whistle.errors import InvalidSubmission, LocatorTaken
from whistle.services import services

MAX_LOCATOR_TRIES = 20


@dataclass
class SealedReport:
    """What the reporter must see once: the receipt code, and the stored case."""

    code: ReceiptCode
    case: cases.StoredCase


def finish_spools(spools: list[SealingSpool]) -> tuple[list[dict], list[cases.Upload]]:
    """Close each attachment stream; return its sealed metadata and its upload."""
    meta, uploads = [], []
    for spool in spools:
        size = spool.finish()
        spool.seek(0)
        meta.append({"id": spool.id, "name": spool.filename, "type": spool.content_type, "size": size})
        uploads.append(cases.Upload(spool.id, spool))
    return meta, uploads


def fresh_receipt(cfg) -> tuple[ReceiptCode, bytes, ReporterKeys]:
    """A receipt code under a locator no case has yet, its salt, and the keys it stretches
    to (in one of the process's derivation slots). No transaction stays open meanwhile:
    argon2id may wait for a slot and then runs a while, and must not hold a pooled
    connection all that time."""
    code = ReceiptCode.generate(cases.unused_locator(db.session()))
    db.end_reads()
    salt = random_bytes(16)
    return code, salt, services().derivations.derive(code, salt, cfg.receipt_opslimit, cfg.receipt_memlimit)


def seal_identity(db, rules, header: dict, report: dict, identity: dict) -> dict:
    """A real-name reporter's name and contact, sealed apart from the report (FORMAT.md §3):
    to the committee key and the custodians only, bound to the report by its nonce."""
    required, optional = cases.identity_recipients(db, rules, header)
    return env.seal(
        "identity", {"report": report["nonce"]}, identity, [r.public_key for r in required + optional]
    ).envelope


def seal_report(
    cfg, *, header: dict, body: dict, files: Uploads, rules, on, identity: dict | None = None, now=None
) -> SealedReport:
    """Seal and store a report for a reporter without JavaScript, in a transaction of its own.

    The spools are finished once (a finished stream cannot be finished again) under the
    request's content key. The receipt is drawn and stretched first, with no transaction
    open, since that may wait for a derivation slot; routing (the committee keys and the
    eligible members) is read after it in the transaction, right before the envelope is
    sealed to them and the case inserted, and create_case checks the envelope against that
    same reading. If the locator is taken between our check and our insert (a concurrent
    report), all of it is done again: the reporter never sees a 409. A taken locator
    inserts nothing; its transaction is rolled back and the retry opens another.
    ``identity`` ({"name", "contact"}) makes it a real-name report, sealed separately.
    """
    meta, uploads = finish_spools(files.spools)
    for _ in range(MAX_LOCATOR_TRIES):
        code, salt, keys = fresh_receipt(cfg)
        try:
            with db.transaction() as session:
                sealing = cases.sealing_for(session, rules, header)
                # The receipt's key is bound into the report (FORMAT.md §3, version 2).
                sealed = env.seal(
                    "report",
                    env.bind_reporter_key(header, keys.keypair.public),
                    dict(body, attachments=meta),
                    [r.public_key for r in sealing.recipients],
                    content_key=files.content_key,
                )
                sealed_identity = seal_identity(session, rules, header, sealed.envelope, identity) if identity else None
                case = cases.create_case(
                    session,
                    locator=code.locator,
                    salt=salt,
                    opslimit=cfg.receipt_opslimit,
                    memlimit=cfg.receipt_memlimit,
                    verifier=keys.verifier,
                    reporter_pk=keys.keypair.public,
                    envelope=sealed.envelope,
                    uploads=uploads,
                    rules=rules,
                    on=on,
                    identity=sealed_identity,
                    now=now,
                    tz=cfg.timezone,
                    sealing=sealing,
                    commitment=log_commitment(keys.lookup),
                )
        except LocatorTaken:
            continue
        return SealedReport(code, case)
    raise InvalidSubmission(detail="no free locator")  # pragma: no cover - 10^7 locators


def seal_message(db, rules, case, *, text: str, files: Uploads, on, reporter_key: bytes):
    """Seal and store a reporter's follow-up message (and files) to the case's recipients.

    ``reporter_key`` is the key the reporter's own receipt stretched to, never the stored one:
    a stored key swapped in the database gets nothing, and add_message refuses the envelope
    (RecipientsChanged) because it lacks the key the case names."""
    meta, uploads = finish_spools(files.spools)
    recipients = [r.public_key for r in cases.case_recipients(db, rules, case)] + [reporter_key]
    sealed = env.seal(
        "message", {"case": case.id}, {"text": text, "attachments": meta}, recipients, content_key=files.content_key
    )
    return cases.add_message(db, rules, case, "message", sealed.envelope, uploads, on)


def open_for_reporter(item, keypair: KeyPair):
    """Open an item sealed to the reporter; None if it is not (the original report)."""
    envelope = cases.item_envelope(item)
    if keypair.kid not in env.recipient_kids(envelope):
        return None
    body, content_key = env.open_envelope(envelope, keypair)
    return body, content_key
