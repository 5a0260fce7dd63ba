"""unreminded index: the reminder timer reads approved, not yet reminded rows by expiry

It replaces the approved-by-remind_at index, in which every reminder batch first stepped over
the approved rows already reminded or already past expiry (~130k of them per batch of 5,000
on a 1M book with 100k expiries pending).

Revision ID: 3c1d9e0b7a42
Revises: ed61fcb93f95
Create Date: 2026-12-01 23:50:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c1d9e0b7a42"
down_revision: str | None = "ed61fcb93f95"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "deal_registrations"


def upgrade() -> None:
    op.drop_index("ix_deal_registrations_reminder", table_name=TABLE)
    where = sa.text("state = 'approved' AND reminder_sent_at IS NULL")
    op.create_index(
        "ix_deal_registrations_unreminded", TABLE, ["expires_at"], postgresql_where=where, sqlite_where=where
    )


def downgrade() -> None:
    op.drop_index("ix_deal_registrations_unreminded", table_name=TABLE)
    where = sa.text("state = 'approved'")
    op.create_index("ix_deal_registrations_reminder", TABLE, ["remind_at"], postgresql_where=where, sqlite_where=where)
