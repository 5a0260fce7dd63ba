"""partial clock indexes: the review, expiry and reminder indexes hold only the rows their timer reads

A registration that leaves the state (expired, decided) no longer adds an entry to each of them,
which is most of what the expiry timer's UPDATE wrote.

Revision ID: ed61fcb93f95
Revises: 884ac82f1be4
Create Date: 2026-12-01 22:05:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ed61fcb93f95"
down_revision: str | None = "884ac82f1be4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "deal_registrations"
CLOCKS = (
    ("ix_deal_registrations_review", "review_due_at", "submitted"),
    ("ix_deal_registrations_expiry", "expires_at", "approved"),
    ("ix_deal_registrations_reminder", "remind_at", "approved"),
)


def upgrade() -> None:
    for name, column, state in CLOCKS:
        op.drop_index(name, table_name=TABLE)
        where = sa.text(f"state = '{state}'")
        op.create_index(name, TABLE, [column], postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, column, _ in CLOCKS:
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, ["state", column])
