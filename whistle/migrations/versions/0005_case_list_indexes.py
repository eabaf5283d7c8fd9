"""indexes for the member's case list

The list (whistle.committee.workspace) reads one tier and grade at a time in
(received_on, id) order and stops after a page: closed and not-yet-due cases walk
ix_cases_grade_received, overdue ones the smaller partial ix_cases_open_grade_received (open
cases only); the few due soon come from the existing ack_due and feedback_due indexes. A
member's grants are listed from ix_case_grants_member_case (the primary key starts with the
case).

Revision ID: 0005
Revises: 0004s
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004s"  # one line of history: after surveys
branch_labels = None
depends_on = None

OPEN_CASE = "status != 'closed'"  # the models' and the list queries' test, character for character


def upgrade() -> None:
    op.create_index("ix_case_grants_member_case", "case_grants", ["member_id", "case_id"], unique=False)
    op.create_index("ix_cases_grade_received", "cases", ["risk_grade", "received_on", "id"], unique=False)
    op.create_index(
        "ix_cases_open_grade_received",
        "cases",
        ["risk_grade", "received_on", "id"],
        unique=False,
        sqlite_where=sa.text(OPEN_CASE),
        postgresql_where=sa.text(OPEN_CASE),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_open_grade_received", table_name="cases")
    op.drop_index("ix_cases_grade_received", table_name="cases")
    op.drop_index("ix_case_grants_member_case", table_name="case_grants")
