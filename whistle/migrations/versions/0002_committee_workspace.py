"""committee workspace

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing cases get neutral triage values (server defaults) until re-triaged.
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=4000), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_case_id"), ["case_id"], unique=False)

    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head, [{"id": 1, "length": 0, "head_hash": "0" * 64}])
    op.create_table(
        "members",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("wrapped_key", sa.String(length=2000), nullable=True),
        sa.Column("invite_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=True),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
        sqlite_with_rowid=False,  # no hidden insertion-order numbers
    )
    op.create_table(
        "case_grants",
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("granted_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "member_id"),
        sqlite_with_rowid=False,  # no hidden insertion-order numbers
    )
    op.create_table(
        "pending_actions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.String(length=4000), nullable=False),
        sa.Column("proposed_by", sa.String(length=32), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_with_rowid=False,  # no hidden insertion-order numbers
    )
    with op.batch_alter_table("pending_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_actions_case_id"), ["case_id"], unique=False)

    op.create_table(
        "item_keys",
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("kid", sa.String(length=32), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["case_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "kid"),
        sqlite_with_rowid=False,  # no hidden insertion-order numbers
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handling_unit", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("route_reason", sa.String(length=40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("held_for_superior", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("risk_grade", sa.String(length=8), nullable=False, server_default="low"))
        batch_op.add_column(sa.Column("risk_score", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("risk_override_reason", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("disposition", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("real_name", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("ack_due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("feedback_due", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_ack_due"), ["ack_due"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_feedback_due"), ["feedback_due"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_handling_unit"), ["handling_unit"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_risk_grade"), ["risk_grade"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_risk_grade"))
        batch_op.drop_index(batch_op.f("ix_cases_handling_unit"))
        batch_op.drop_index(batch_op.f("ix_cases_feedback_due"))
        batch_op.drop_index(batch_op.f("ix_cases_ack_due"))
        batch_op.drop_column("feedback_due")
        batch_op.drop_column("ack_due")
        batch_op.drop_column("real_name")
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("disposition")
        batch_op.drop_column("risk_override_reason")
        batch_op.drop_column("risk_score")
        batch_op.drop_column("risk_grade")
        batch_op.drop_column("held_for_superior")
        batch_op.drop_column("route_reason")
        batch_op.drop_column("handling_unit")

    op.drop_table("item_keys")
    with op.batch_alter_table("pending_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_actions_case_id"))

    op.drop_table("pending_actions")
    op.drop_table("case_grants")
    op.drop_table("members")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_case_id"))

    op.drop_table("audit_log")
    op.drop_table("audit_head")
