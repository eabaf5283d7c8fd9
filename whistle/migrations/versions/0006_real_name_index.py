"""index of the real-name cases for the member's case list

A closed real-name case still has a deadline, the notice of its result (实名举报), until the
committee replies after closing it: the case list puts it among the overdue or due-soon
cases then. This partial index of the real-name cases lets the list read those few in
(received_on, id) order per grade instead of walking every closed case.

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REAL_NAME = "real_name = true"  # the models' and the list queries' test, character for character


def upgrade() -> None:
    op.create_index(
        "ix_cases_real_name_grade_received",
        "cases",
        ["risk_grade", "received_on", "id"],
        unique=False,
        sqlite_where=sa.text(REAL_NAME),
        postgresql_where=sa.text(REAL_NAME),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_real_name_grade_received", table_name="cases")
