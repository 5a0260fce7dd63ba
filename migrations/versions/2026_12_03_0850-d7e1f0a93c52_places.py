"""places: partners and leads carry a city and coordinates (geographic routing)

Revision ID: d7e1f0a93c52
Revises: c4a9e2f71b35
Create Date: 2026-12-03 08:50:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7e1f0a93c52"
down_revision: str | None = "c4a9e2f71b35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("partners", "leads"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("city", sa.String(length=100), nullable=True))
            batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
            batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))


def downgrade() -> None:
    for table in ("leads", "partners"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("longitude")
            batch.drop_column("latitude")
            batch.drop_column("city")
