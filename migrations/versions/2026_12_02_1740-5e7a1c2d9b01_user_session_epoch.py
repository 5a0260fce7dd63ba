"""user session epoch: every access token carries it, a bump ends all of the user's sessions

Revision ID: 5e7a1c2d9b01
Revises: 5e2b7c9d4a13
Create Date: 2026-12-02 17:40:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e7a1c2d9b01"
down_revision: str | None = "5e2b7c9d4a13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_epoch")
