"""outbox request id: the request (or timer run) that wrote a message, so its delivery logs under it

Revision ID: 9b316310fb3d
Revises: 5c3d31f69d59
Create Date: 2026-12-03 08:20:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b316310fb3d"
down_revision: str | None = "5c3d31f69d59"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("request_id")
