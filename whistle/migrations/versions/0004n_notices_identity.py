"""pre-appointment notices; the notice a comment is about

Real-name identities need no schema change: they are case items of kind "identity"
(cases.real_name existed already), disclosure requests are pending actions ("disclose")
and disclosed keys are item_keys rows.

Revision ID: 0004n
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = "0004n"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("candidate_name", sa.String(length=100), nullable=False),
        sa.Column("current_post", sa.String(length=200), nullable=False),
        sa.Column("proposed_post", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_with_rowid=False,  # no hidden insertion-order numbers
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_closes_on"), ["closes_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_opens_on"), ["opens_on"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notice_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_notice_id"), ["notice_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_notice_id"))
        batch_op.drop_column("notice_id")

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_opens_on"))
        batch_op.drop_index(batch_op.f("ix_notices_closes_on"))

    op.drop_table("notices")
