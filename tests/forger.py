"""What an operator with write access to the database can do to the audit log: edit rows,
recompute every hash and the head, rebuild the public log's stored tree. Tests use it to
show which of these a check still catches."""

import datetime as dt

from sqlalchemy import text

from crypto import tlog
from whistle.custody import audit, public_log


def sql(engine, statement, **params):
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def rows(engine):
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                text(
                    "SELECT seq, day, actor, action, case_id, detail, prev_hash, entry_hash FROM audit_log ORDER BY seq"
                )
            )
        ]


def _day(row) -> dt.date:
    return row["day"] if isinstance(row["day"], dt.date) else dt.date.fromisoformat(row["day"])


def recompute(engine, from_seq=1, tree=True):
    """Recompute every hash from ``from_seq`` on, the head row and (``tree``) the stored tree."""
    prev = audit.GENESIS
    for row in rows(engine):
        if row["seq"] >= from_seq:
            digest = audit.entry_digest(
                prev, row["seq"], _day(row), row["actor"], row["action"], row["case_id"], row["detail"]
            )
            sql(
                engine,
                "UPDATE audit_log SET prev_hash = :p, entry_hash = :h WHERE seq = :s",
                p=prev,
                h=digest,
                s=row["seq"],
            )
            prev = digest
        else:
            prev = row["entry_hash"]
    last = rows(engine)
    sql(
        engine,
        "UPDATE audit_head SET length = :n, head_hash = :h WHERE id = 1",
        n=len(last),
        h=last[-1]["entry_hash"] if last else audit.GENESIS,
    )
    if tree:
        rebuild_log(engine)


def rebuild_log(engine):
    """Rebuild the public log's stored tree from the rows as they are."""
    store = tlog.MemoryStore()
    for size, row in enumerate(rows(engine)):
        leaf = public_log.leaf_bytes(
            row["seq"],
            _day(row),
            row["actor"],
            row["action"],
            row["case_id"],
            row["detail"],
            row["prev_hash"],
            row["entry_hash"],
        )
        tlog.append_leaf(store, size, tlog.leaf_hash(leaf))
    sql(engine, "DELETE FROM log_nodes")
    with engine.begin() as conn:
        batch = [
            {"l": level, "i": idx, "h": digest}
            for level, hashes in enumerate(store.levels)
            for idx, digest in enumerate(hashes)
        ]
        if batch:
            conn.execute(text("INSERT INTO log_nodes (level, idx, hash) VALUES (:l, :i, :h)"), batch)
