"""the public log: Merkle tree nodes over the audit entries, checkpoints, cosignatures,
the day's pending intake and the receipt commitments' places in the log

The tree of the entries already written is built here, in seq order, so the log covers the
whole audit chain from its first entry.

Revision ID: 0011
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=4000), nullable=False),
        sa.PrimaryKeyConstraint("size"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=200), nullable=False),
        sa.Column("line", sa.String(length=1000), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness"),
        sqlite_with_rowid=False,  # no record of the order witnesses came in
    )
    op.create_table(
        "pending_intake",
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
        sqlite_with_rowid=False,  # no hidden arrival-order numbers
    )
    with op.batch_alter_table("pending_intake", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_intake_day"), ["day"], unique=False)
    op.create_table(
        "log_commitments",
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("commitment"),
        sqlite_with_rowid=False,
    )
    _build_tree()


def _build_tree() -> None:
    from crypto import tlog
    from whistle.custody.public_log import leaf_bytes

    conn = op.get_bind()
    store = tlog.MemoryStore()
    rows = conn.execute(
        sa.text("SELECT seq, day, actor, action, case_id, detail, prev_hash, entry_hash FROM audit_log ORDER BY seq")
    )
    size = 0
    for seq, day, actor, action, case_id, detail, prev_hash, entry_hash in rows:
        if isinstance(day, str):  # SQLite hands a Date column back as text to plain SQL
            import datetime as dt

            day = dt.date.fromisoformat(day)
        if seq != size + 1:
            break  # a broken chain: `whistle audit verify` names it; the tree stops before it
        tlog.append_leaf(
            store, size, tlog.leaf_hash(leaf_bytes(seq, day, actor, action, case_id, detail, prev_hash, entry_hash))
        )
        size += 1
    nodes = sa.table("log_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))
    batch = [
        {"level": level, "idx": idx, "hash": digest}
        for level, row in enumerate(store.levels)
        for idx, digest in enumerate(row)
    ]
    if batch:
        op.bulk_insert(nodes, batch)


def downgrade() -> None:
    op.drop_table("log_commitments")
    with op.batch_alter_table("pending_intake", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_intake_day"))
    op.drop_table("pending_intake")
    op.drop_table("log_cosignatures")
    op.drop_table("log_checkpoints")
    op.drop_table("log_nodes")
