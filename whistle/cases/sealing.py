"""The no-JavaScript path: the server builds, in memory, the same envelope the browser would.

Plaintext exists only in this request's memory. Attachments were already encrypted while
they streamed in (whistle.cases.uploads.SealingSpool) under the same content key.
"""
from dataclasses import dataclass

from crypto import envelope as env
from crypto.keys import KeyPair, random_bytes
from crypto.receipt import ReceiptCode, ReporterKeys, log_commitment
from whistle.cases import store as cases, derivations
from whistle.errors import InvalidSubmission, LocatorTaken
from whistle.cases.uploads import SealingSpool

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


def _fresh_receipt(db, cfg) -> tuple[ReceiptCode, bytes, ReporterKeys]:
    """A receipt code under a locator no case has yet, its salt, and the keys it stretches
    to (in one of the process's derivation slots)."""
    code = ReceiptCode.generate(cases.unused_locator(db))
    salt = random_bytes(16)
    return code, salt, derivations.derive(code, salt, cfg.receipt_opslimit, cfg.receipt_memlimit)


def seal_identity(db, rules, header: dict, report: dict, identity: dict) -> dict:
    """A real-name reporter's name and contact, sealed apart from the report (FORMAT.md §3):
    to the committee key and the custodians only, bound to the report by its nonce."""
    required, optional = cases.identity_recipients(db, rules, header)
    return env.seal("identity", {"report": report["nonce"]}, identity,
                    [r.public_key for r in required + optional]).envelope


def seal_report(db, cfg, *, header: dict, body: dict, spools, content_key: bytes,
                rules, on, identity: dict | None = None, now=None) -> SealedReport:
    """Seal and store a report for a reporter without JavaScript.

    The spools are finished once (a finished stream cannot be finished again) under the
    request's content key. The receipt is drawn and stretched first, since that may wait for
    a derivation slot; routing (the committee keys and the eligible members) is read after it,
    right before the envelope is sealed to them and the case inserted, and create_case checks
    the envelope against that same reading. If the locator is taken between our check and our
    insert (a concurrent report), all of it is done again: the reporter never sees a 409. A
    taken locator inserts nothing, so the retry stays in the same transaction.
    ``identity`` ({"name", "contact"}) makes it a real-name report, sealed separately.
    """
    meta, uploads = finish_spools(spools)
    for _ in range(MAX_LOCATOR_TRIES):
        code, salt, keys = _fresh_receipt(db, cfg)
        sealing = cases.sealing_for(db, rules, header)
        sealed = env.seal("report", header, dict(body, attachments=meta),
                          [r.public_key for r in sealing.recipients], content_key=content_key)
        sealed_identity = seal_identity(db, rules, header, sealed.envelope, identity) if identity else None
        try:
            case = cases.create_case(
                db, locator=code.locator, salt=salt, opslimit=cfg.receipt_opslimit,
                memlimit=cfg.receipt_memlimit, verifier=keys.verifier, reporter_pk=keys.keypair.public,
                envelope=sealed.envelope, uploads=uploads, rules=rules, on=on, identity=sealed_identity,
                now=now, tz=cfg.timezone, sealing=sealing, commitment=log_commitment(keys.lookup))
        except LocatorTaken:
            continue
        return SealedReport(code, case)
    raise InvalidSubmission(detail="no free locator")  # pragma: no cover - 10^7 locators


def seal_message(db, rules, case, *, text: str, spools, content_key: bytes, on):
    """Seal and store a reporter's follow-up message (and files) to the case's recipients."""
    meta, uploads = finish_spools(spools)
    recipients = [r.public_key for r in cases.case_recipients(db, rules, case)] + [case.reporter_pk]
    sealed = env.seal("message", {"case": case.id}, {"text": text, "attachments": meta},
                      recipients, content_key=content_key)
    return cases.add_message(db, rules, case, "message", sealed.envelope, uploads, on)


def open_for_reporter(item, keypair: KeyPair):
    """Open an item sealed to the reporter; None if it is not (the original report)."""
    envelope = cases.item_envelope(item)
    if keypair.kid not in env.recipient_kids(envelope):
        return None
    body, content_key = env.open_envelope(envelope, keypair)
    return body, content_key
