"""forget the TOTP step of each member's last login

The step a login's code belonged to was kept in members.totp_last_step to refuse the code a
second time; a step is the time of that login to the half-minute. Used steps now live beside
the sessions (memory or Redis) until their codes expire; the column stays, always 0.

Revision ID: 0007
Revises: 0006
"""

from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE members SET totp_last_step = 0")


def downgrade() -> None:
    """Nothing to restore: 0 is what the column held before a member's first login."""
