"""connect lifecycle: a connection's unreachable-since time and last delivery error (suspension),
the index the keyset-paged shares list walks, and a share's copy of the vendor's registration
(a deal registered from a partner's instance)

Revision ID: b94e5fc0a5c4
Revises: 9b316310fb3d
Create Date: 2026-12-03 08:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b94e5fc0a5c4"
down_revision: str | None = "9b316310fb3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connect_connections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unreachable_since", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    with op.batch_alter_table("connect_shares", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "registration",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    op.create_index(
        "ix_connect_shares_connection_started", "connect_shares", ["connection_id", "started_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_connect_shares_connection_started", table_name="connect_shares")
    with op.batch_alter_table("connect_shares", schema=None) as batch_op:
        batch_op.drop_column("registration")
    with op.batch_alter_table("connect_connections", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("unreachable_since")
