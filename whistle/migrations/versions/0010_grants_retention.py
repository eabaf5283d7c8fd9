"""the accused member by identity; retention fixed at close

``cases.accused_member``: a committee member the report names as the accused (routing keeps
the case from them). ``cases.retention_ends`` and ``closure_confirmed_by``: the retention
decided when the case closed, and the second member who confirmed a 高危 closure; the purge
follows them. ``case_grants.key_failed``: the holder's browser found that the key handed to
them does not open the case. Cases closed before this revision get their date the first time the purge
looks at them (the rules file is not at hand here).

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accused_member", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("retention_ends", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("closure_confirmed_by", sa.String(length=64), nullable=True))

    with op.batch_alter_table("case_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_failed", sa.Boolean(), server_default=sa.text("false"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("case_grants", schema=None) as batch_op:
        batch_op.drop_column("key_failed")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("closure_confirmed_by")
        batch_op.drop_column("retention_ends")
        batch_op.drop_column("accused_member")
