"""rate windows: requests per key in a fixed window (the web-to-lead form's limit per address),
shared by every instance

Revision ID: c41d9e7a2b58
Revises: b94e5fc0a5c4
Create Date: 2026-12-03 08:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41d9e7a2b58"
down_revision: str | None = "b94e5fc0a5c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_windows")),
    )
    op.create_index(op.f("ix_rate_windows_started_at"), "rate_windows", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_windows_started_at"), table_name="rate_windows")
    op.drop_table("rate_windows")
