"""signed audit statements

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Integer, sequential ids on purpose: statements are published in order anyway.
    op.create_table(
        "audit_statements",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("committee_kid", sa.String(length=32), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("verify_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("committee_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verify_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("committee_keys", schema=None) as batch_op:
        batch_op.drop_column("verify_key")

    op.drop_table("audit_statements")
