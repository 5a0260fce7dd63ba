"""deal rules: program approval rules, terms approved under, second approval, protection overrides

Revision ID: c41d7a9e5b36
Revises: c41d9e7a2b58
Create Date: 2026-12-03 08:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c41d7a9e5b36"
down_revision: str | None = "c41d9e7a2b58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)
GUID = advanced_alchemy.types.guid.GUID(length=16)


def upgrade() -> None:
    with op.batch_alter_table("deal_programs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approval_rules", JSON, nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("deal_registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_terms", JSON, nullable=True))
        batch_op.add_column(sa.Column("decided_by_rule", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("first_approved_by_id", GUID, nullable=True))
        batch_op.add_column(sa.Column("first_approved_at", UTC, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deal_registrations_first_approved_by_id_users"), "users", ["first_approved_by_id"], ["id"]
        )
    op.create_table(
        "deal_protection_overrides",
        sa.Column("registration_id", GUID, nullable=False),
        sa.Column("holder_registration_id", GUID, nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "co_sell",
                "different_scope",
                "customer_request",
                "holder_inactive",
                name="overridereason",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by_id", GUID, nullable=False),
        sa.Column("decided_at", UTC, nullable=False),
        sa.Column("id", GUID, nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["deal_registrations.id"],
            name=op.f("fk_deal_protection_overrides_registration_id_deal_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["holder_registration_id"],
            ["deal_registrations.id"],
            name=op.f("fk_deal_protection_overrides_holder_registration_id_deal_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_deal_protection_overrides_decided_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_protection_overrides")),
    )
    with op.batch_alter_table("deal_protection_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deal_protection_overrides_registration_id"), ["registration_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deal_protection_overrides_holder_registration_id"), ["holder_registration_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("deal_protection_overrides")
    with op.batch_alter_table("deal_registrations", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deal_registrations_first_approved_by_id_users", type_="foreignkey")
        batch_op.drop_column("first_approved_at")
        batch_op.drop_column("first_approved_by_id")
        batch_op.drop_column("decided_by_rule")
        batch_op.drop_column("approved_terms")
    with op.batch_alter_table("deal_programs", schema=None) as batch_op:
        batch_op.drop_column("approval_rules")
