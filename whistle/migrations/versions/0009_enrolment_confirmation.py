"""a second person confirms every enrolment

members.confirmed_on: the day a second person compared the new key's fingerprint and
confirmed the account; until then it receives no case, no grant and no identity, and cannot
log in. members.invited_by: who invited (never the confirmer). member_requests: a
deactivation that waits for a second admin (the only holder of a case, or the overseer).
Accounts enrolled before this revision were enrolled under the old rule and count as
confirmed on their enrolment day.

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("confirmed_on", sa.Date(), nullable=True))
    op.add_column("members", sa.Column("invited_by", sa.String(length=64), nullable=True))
    op.execute("UPDATE members SET confirmed_on = enrolled_on WHERE enrolled_on IS NOT NULL")
    op.create_table(
        "member_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("action", "username"),
        sqlite_with_rowid=False,  # no hidden insertion-order numbers
    )


def downgrade() -> None:
    op.drop_table("member_requests")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("invited_by")
        batch.drop_column("confirmed_on")
