"""web-to-lead: a form's program (whose auto-qualification applies) and thank-you page; programs
qualify leads of chosen score bands automatically

Revision ID: c4a9e2f71b35
Revises: 8b3f0d6e2a17
Create Date: 2026-12-03 08:10:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c4a9e2f71b35"
down_revision: str | None = "8b3f0d6e2a17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lead_programs") as batch:
        batch.add_column(sa.Column(
                "auto_qualify_bands",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            ))
    with op.batch_alter_table("web_forms") as batch:
        batch.add_column(sa.Column("program_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("thank_you_url", sa.String(length=500), nullable=True))
        batch.create_foreign_key(op.f("fk_web_forms_program_id_lead_programs"), "lead_programs", ["program_id"], ["id"])
        batch.create_index(op.f("ix_web_forms_program_id"), ["program_id"])


def downgrade() -> None:
    with op.batch_alter_table("web_forms") as batch:
        batch.drop_index(op.f("ix_web_forms_program_id"))
        batch.drop_constraint(op.f("fk_web_forms_program_id_lead_programs"), type_="foreignkey")
        batch.drop_column("thank_you_url")
        batch.drop_column("program_id")
    with op.batch_alter_table("lead_programs") as batch:
        batch.drop_column("auto_qualify_bands")
