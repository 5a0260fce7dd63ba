"""drop deal_registration_conflicts: conflicts are computed whenever a registration is read or
decided (prm/deal_registration/conflicts.py); nothing has written or read this table since

Revision ID: 3f8b6d2a9c17
Revises: 870733cf5316
Create Date: 2026-12-03 15:10:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3f8b6d2a9c17"
down_revision: str | None = "870733cf5316"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "deal_registration_conflicts"
INDEX = "ix_deal_registration_conflicts_registration_id"


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(INDEX)
    op.drop_table(TABLE)


def downgrade() -> None:
    """The table as the first deal registration migration made it (empty)."""
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    guid = advanced_alchemy.types.guid.GUID(length=16)
    kind = sa.Enum(
        "registration", "opportunity", "direct_opportunity", name="conflictkind", native_enum=False, length=40
    )
    op.create_table(
        TABLE,
        sa.Column("registration_id", guid, nullable=False),
        sa.Column("kind", kind, nullable=False),
        sa.Column("other_registration_id", guid, nullable=True),
        sa.Column("other_opportunity_id", guid, nullable=True),
        sa.Column("matched_on", json, nullable=False),
        sa.Column("overlapping_product_ids", json, nullable=False),
        sa.Column("detected_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("id", guid, nullable=False),
        sa.ForeignKeyConstraint(
            ["other_opportunity_id"],
            ["opportunities.id"],
            name=op.f("fk_deal_registration_conflicts_other_opportunity_id_opportunities"),
        ),
        sa.ForeignKeyConstraint(
            ["other_registration_id"],
            ["deal_registrations.id"],
            name=op.f("fk_deal_registration_conflicts_other_registration_id_deal_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["deal_registrations.id"],
            name=op.f("fk_deal_registration_conflicts_registration_id_deal_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_registration_conflicts")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(INDEX, ["registration_id"], unique=False)
