"""lead partner loads: the open leads each partner holds, kept as a number instead of counted

Revision ID: 884ac82f1be4
Revises: 99a5456346dd
Create Date: 2026-12-01 19:29:54.055269+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '884ac82f1be4'
down_revision: str | None = '99a5456346dd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('lead_partner_loads',
    sa.Column('partner_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('holding', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_lead_partner_loads_partner_id_partners')),
    sa.PrimaryKeyConstraint('partner_id', name=op.f('pk_lead_partner_loads'))
    )
    # What every partner holds already: its open and accepted offers (models.HOLDING).
    op.execute(
        "INSERT INTO lead_partner_loads (partner_id, holding) "
        "SELECT partner_id, count(*) FROM lead_offers "
        "WHERE partner_id IS NOT NULL AND status IN ('open', 'accepted') GROUP BY partner_id"
    )


def downgrade() -> None:
    op.drop_table('lead_partner_loads')
