"""The audit log published as a Merkle-tree transparency log (docs/transparency-log.md).

Every audit entry is one leaf. Its bytes are the canonical JSON (sorted keys, no white
space, ASCII) of the entry as published::

    {"action": ..., "actor": ..., "case_id": ..., "day": "YYYY-MM-DD",
     "detail": {...}, "hash": <entry_hash>, "prev_hash": ..., "seq": n, "v": 1}

``detail`` keeps the values that are codes, usernames, ids, dates and counts; any other
value (a written reason may repeat what a report said) is replaced by ``"withheld"``. The
entry's own ``hash`` still covers the whole detail, so the chain stays checkable by whoever
holds the database, and the public leaf never carries free text.

Leaf number ``seq - 1`` is appended in the same transaction as the entry, under the audit
head's row lock (``crypto.tlog.append_leaf``: O(log n) node writes). Checkpoints are signed
with the committee's audit-signing key under the log's origin (`whistle audit sign`);
witnesses add cosignatures (``add_cosignature``).
"""

import base64
import datetime as dt
import json
import re

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crypto import note, tlog
from crypto.errors import FormatError, VerifyError
from whistle.models import AuditEntry, AuditHead, CommitteeKey, LogCheckpoint, LogCosignature, LogNode

LEAF_VERSION = 1
WITHHELD = "withheld"
MAX_ENTRIES = 1000  # per /log/entries answer
# Values published as they are: codes, usernames, key ids, hashes, dates, base64 commitments.
_TOKEN = re.compile(r"[A-Za-z0-9_.:@/+=-]{0,128}\Z")
# Withheld whatever they hold: who a report was sealed to tells which department it is about.
_ALWAYS_WITHHELD = frozenset({"recipients"})


class DbStore:
    """crypto.tlog.NodeStore on the ``log_nodes`` table of ``db`` (the caller's transaction)."""

    def __init__(self, db: Session) -> None:
        self.db = db

    def get_node(self, level: int, index: int) -> bytes:
        digest = self.db.scalar(select(LogNode.hash).where(LogNode.level == level, LogNode.idx == index))
        if digest is None:
            raise KeyError((level, index))
        return bytes(digest)

    def put_node(self, level: int, index: int, digest: bytes) -> None:
        self.db.execute(insert(LogNode).values(level=level, idx=index, hash=digest))


def _public_value(value):
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str) and _TOKEN.match(value):
        return value
    if isinstance(value, list) and all(isinstance(v, str) and _TOKEN.match(v) for v in value):
        return value
    return WITHHELD


def public_detail(detail_text: str) -> dict:
    """The detail of an entry as the public log carries it (free text withheld)."""
    try:
        data = json.loads(detail_text or "{}")
    except ValueError:
        return {"detail": WITHHELD}
    if not isinstance(data, dict):
        return {"detail": WITHHELD}
    return {key: WITHHELD if key in _ALWAYS_WITHHELD else _public_value(value) for key, value in data.items()}


def leaf_bytes(
    seq: int, on: dt.date, actor, action: str, case_id, detail: str, prev_hash: str, entry_hash: str
) -> bytes:
    """The log entry of one audit entry: the exact bytes that are hashed and published."""
    obj = {
        "v": LEAF_VERSION,
        "seq": seq,
        "day": on.isoformat(),
        "actor": actor,
        "action": action,
        "case_id": case_id,
        "detail": public_detail(detail),
        "prev_hash": prev_hash,
        "hash": entry_hash,
    }
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def leaf_of(row) -> bytes:
    """``leaf_bytes`` of an AuditEntry (or a row with its columns)."""
    return leaf_bytes(row.seq, row.on, row.actor, row.action, row.case_id, row.detail, row.prev_hash, row.entry_hash)


def append(db: Session, entry: AuditEntry) -> None:
    """Add ``entry`` as leaf ``seq - 1``; the caller holds the audit head's lock."""
    tlog.append_leaf(DbStore(db), entry.seq - 1, tlog.leaf_hash(leaf_of(entry)))


def size(db: Session) -> int:
    """The log's current size: the audit chain's length."""
    return db.scalar(select(AuditHead.length).where(AuditHead.id == 1)) or 0


def entries(db: Session, start: int, end: int) -> list[bytes]:
    """Leaf bytes of entries [start, end) (at most MAX_ENTRIES)."""
    end = min(end, start + MAX_ENTRIES)
    rows = db.execute(
        select(
            AuditEntry.seq,
            AuditEntry.on,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.case_id,
            AuditEntry.detail,
            AuditEntry.prev_hash,
            AuditEntry.entry_hash,
        )
        .where(AuditEntry.seq > start, AuditEntry.seq <= end)
        .order_by(AuditEntry.seq)
    )
    return [leaf_of(row) for row in rows]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- checkpoints -----------------------------------------------------------------------------


def log_verifier(origin: str, verify_key: bytes) -> note.Verifier:
    """The log's note verifier: the audit-signing key under the origin's name."""
    return note.Verifier(origin, note.ED25519, verify_key)


def sign_checkpoint(db: Session, origin: str, signing_key, on: dt.date) -> LogCheckpoint:
    """Sign the log at its current size (the caller holds the audit head's lock) and store
    the checkpoint; one already signed for this size is returned as it is (Ed25519 signs
    the same text the same way), a different one refuses (a rewrite `verify` names)."""
    current = size(db)
    checkpoint = note.Checkpoint(origin, current, tlog.root_hash(DbStore(db), current))
    existing = db.get(LogCheckpoint, current)
    if existing is not None:
        if note.parse_note(existing.note).text != checkpoint.body():
            raise ValueError(f"a different checkpoint of size {current} was signed before")
        return existing
    row = LogCheckpoint(size=current, day=on, note=note.sign_checkpoint(checkpoint, signing_key))
    db.add(row)
    db.flush()
    return row


def latest_checkpoint(db: Session) -> LogCheckpoint | None:
    return db.scalar(select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(1))


def cosignatures(db: Session, checkpoint_size: int) -> list[LogCosignature]:
    return list(
        db.scalars(
            select(LogCosignature).where(LogCosignature.size == checkpoint_size).order_by(LogCosignature.witness)
        )
    )


def served_note(db: Session, row: LogCheckpoint) -> str:
    """The checkpoint as /log/checkpoint serves it: the log's signature line, then every
    cosignature collected for it."""
    return row.note + "".join(c.line + "\n" for c in cosignatures(db, row.size))


class CosignatureRefused(Exception):
    """A posted cosignature is not one the server keeps; the message says why."""


def add_cosignature(db: Session, text: str, witnesses: dict[str, note.Verifier]) -> list[str]:
    """Keep the valid cosignatures in ``text`` (a checkpoint this log signed, with the
    witness's lines added) by the witnesses named in the rules file; their names.

    CosignatureRefused unless the checkpoint is byte for byte one this log signed and at
    least one line is a valid cosignature of a configured witness; a line of a configured
    witness that does not verify refuses the whole text.
    """
    try:
        parsed = note.parse_note(text)
        checkpoint = note.parse_checkpoint(parsed.text)
    except FormatError as exc:
        raise CosignatureRefused("not a signed checkpoint") from exc
    row = db.get(LogCheckpoint, checkpoint.size)
    if row is None or note.parse_note(row.note).text != parsed.text:
        raise CosignatureRefused("not a checkpoint this log signed")
    kept = []
    known = {(w.name, w.key_id): w for w in witnesses.values()}
    for signature in parsed.signatures:
        witness = known.get((signature.name, signature.key_id))
        if witness is None:
            continue
        try:
            timestamp = note.verify_signature(witness, parsed.text, signature)
        except VerifyError as exc:
            raise CosignatureRefused(f"the cosignature of {witness.name} does not verify") from exc
        kept.append((witness.name, signature.line().rstrip("\n"), timestamp))
    if not kept:
        raise CosignatureRefused("no cosignature of a configured witness")
    for name, line, timestamp in kept:
        old = db.get(LogCosignature, (checkpoint.size, name))
        if old is None:
            db.add(LogCosignature(size=checkpoint.size, witness=name, line=line, timestamp=timestamp))
        elif timestamp > old.timestamp:
            old.line, old.timestamp = line, timestamp
    db.flush()
    return [name for name, _line, _ts in kept]


def registered_log_verifiers(db: Session, origin: str) -> list[note.Verifier]:
    """The log verifier of every committee key that records an audit verify key."""
    from crypto.encoding import unb64u

    return [
        log_verifier(origin, unb64u(key))
        for key in db.scalars(select(CommitteeKey.verify_key).where(CommitteeKey.verify_key.is_not(None)))
    ]


def vkey(origin: str, verify_key: bytes) -> str:
    """The log's vkey text, what witnesses and clients are configured with."""
    return log_verifier(origin, verify_key).vkey()


def status(db: Session, origin: str, witnessing, now: float) -> dict:
    """What /transparency shows of the log: the log's vkeys, the latest checkpoint, each
    configured witness's cosignature of it with its age in days (``now`` is the reader's
    clock, never stored), and whether enough fresh ones make it witnessed."""
    vkeys = [v.vkey() for v in registered_log_verifiers(db, origin)]
    row = latest_checkpoint(db)
    if row is None:
        return {"origin": origin, "vkeys": vkeys, "checkpoint": None}
    kept = {c.witness: c for c in cosignatures(db, row.size)}
    witnesses = []
    for name in sorted(witnessing.verifiers):
        cosig = kept.get(name)
        age = None if cosig is None else max(0, int(now - cosig.timestamp) // 86400)
        witnesses.append(
            {
                "name": name,
                "vkey": witnessing.verifiers[name].vkey(),
                "timestamp": None if cosig is None else cosig.timestamp,
                "age_days": age,
                "fresh": age is not None and age <= witnessing.max_age_days,
            }
        )
    fresh = sum(1 for w in witnesses if w["fresh"])
    return {
        "origin": origin,
        "vkeys": vkeys,
        "size": row.size,
        "day": row.day.isoformat(),
        "checkpoint": served_note(db, row),
        "witnesses": witnesses,
        "fresh": fresh,
        "quorum": witnessing.quorum,
        "max_age_days": witnessing.max_age_days,
        "witnessed": fresh >= witnessing.quorum,
    }


def intake_proof(db: Session, commitment: str) -> dict | None:
    """Where a receipt's commitment stands in the log (for its holder only: nobody else can
    compute it): ``pending`` until its day enters the log; then the intake entry, its day, and
    an inclusion proof against the latest checkpoint once one covers it. None if unknown."""
    from whistle.models import LogCommitment, PendingIntake

    if db.scalar(select(PendingIntake.case_id).where(PendingIntake.commitment == commitment).limit(1)):
        return {"status": "pending"}
    seq = db.scalar(select(LogCommitment.seq).where(LogCommitment.commitment == commitment))
    if seq is None:
        return None
    entry = entries(db, seq - 1, seq)
    answer = {
        "status": "logged",
        "index": seq - 1,
        "entry": b64(entry[0]) if entry else None,
        "day": json.loads(entry[0])["day"] if entry else None,
        "checkpoint": None,
    }
    row = latest_checkpoint(db)
    if row is not None and row.size >= seq:
        answer.update(
            checkpoint=served_note(db, row),
            size=row.size,
            proof=[b64(h) for h in tlog.inclusion_proof(DbStore(db), seq - 1, row.size)],
        )
    return answer
