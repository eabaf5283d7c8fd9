"""frozen monthly publications of the statistics

A closed month's statistics are suppressed once and stored as published; later publications
reuse them, so no two publications differ in a way that gives back a small count.

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "published_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("min_cell", sa.Integer(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("month"),
        sqlite_with_rowid=False,  # no hidden insertion-order numbers
    )


def downgrade() -> None:
    op.drop_table("published_months")
