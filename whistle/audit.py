"""The committee's audit log: append-only and hash-chained (each entry commits to the last).

Entries carry the member, the action, the case and the day: never a time of day, never a
reporter detail. `verify` recomputes the chain and names the first entry that does not fit.
"""
import datetime as dt
import hashlib
import json

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from whistle.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def entry_digest(prev_hash: str, seq: int, on: dt.date, actor, action: str, case_id, detail: str) -> str:
    """The hash of one entry, over its fields and the previous entry's hash."""
    body = json.dumps([prev_hash, seq, on.isoformat(), actor, action, case_id, detail],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(db: Session, action: str, *, actor: str | None, on: dt.date, case_id: str | None = None,
           **detail) -> AuditEntry:
    """Append an entry inside the caller's transaction: it lands with the action or not at all."""
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    seq, prev = db.execute(update(AuditHead).where(AuditHead.id == 1)
                           .values(length=AuditHead.length + 1)
                           .returning(AuditHead.length, AuditHead.head_hash)).one()
    digest = entry_digest(prev, seq, on, actor, action, case_id, text)
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(head_hash=digest))
    entry = AuditEntry(seq=seq, on=on, actor=actor, action=action, case_id=case_id, detail=text,
                       prev_hash=prev, entry_hash=digest)
    db.add(entry)
    db.flush()
    return entry


def verify(db: Session) -> tuple[int, int | None]:
    """(number of entries, seq of the first bad entry or None if the chain is intact).

    An edited, inserted, reordered or deleted entry breaks the chain at that entry; entries
    cut off the end no longer match the stored head, reported as the first missing seq.
    """
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in db.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        count += 1
        digest = entry_digest(prev, entry.seq, entry.on, entry.actor, entry.action, entry.case_id, entry.detail)
        if entry.seq != expected_seq or entry.prev_hash != prev or entry.entry_hash != digest:
            return count, entry.seq
        prev, expected_seq = entry.entry_hash, entry.seq + 1
    stored = db.get(AuditHead, 1)
    if stored is not None and (stored.length != count or stored.head_hash != prev):
        return count, count + 1
    return count, None


def head(db: Session) -> tuple[int, str]:
    """(length, hash of the last entry): what the transparency page publishes."""
    last = db.execute(select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (last[0], last[1]) if last else (0, GENESIS)


def count(db: Session) -> int:
    """How many entries there are."""
    return db.scalar(select(func.count()).select_from(AuditEntry)) or 0
