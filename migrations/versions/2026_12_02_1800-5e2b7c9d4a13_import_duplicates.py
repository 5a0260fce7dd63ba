"""import duplicates: an import's report names each duplicate and the line or lead it duplicates

Revision ID: 5e2b7c9d4a13
Revises: 5b7e2c9d4f10
Create Date: 2026-12-02 18:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5e2b7c9d4a13"
down_revision: str | None = "5b7e2c9d4f10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("lead_imports") as batch:
        batch.add_column(sa.Column("duplicates", JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("lead_imports") as batch:
        batch.drop_column("duplicates")
