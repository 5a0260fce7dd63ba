"""throttle counters: sign-in failures per account and per client address, shared by instances

Revision ID: 8b3f0d6e2a17
Revises: 5e7a1c2d9b01
Create Date: 2026-12-02 18:10:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b3f0d6e2a17"
down_revision: str | None = "5e7a1c2d9b01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=True),
        sa.Column("last_attempt_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttle_counters")),
    )


def downgrade() -> None:
    op.drop_table("throttle_counters")
