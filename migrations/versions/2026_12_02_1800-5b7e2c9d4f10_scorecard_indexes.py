"""scorecard indexes: won and lost business by close time, pipeline by close date, registrations
by state, offers by partner and program within a period

Revision ID: 5b7e2c9d4f10
Revises: afa30e74705a
Create Date: 2026-12-02 18:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5b7e2c9d4f10"
down_revision: str | None = "afa30e74705a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SALES_FIGURES = ["partner_id", "currency", "amount_minor"]
# name, table, columns, columns carried in the index on PostgreSQL (so the reports read it alone)
INDEXES: list[tuple[str, str, list[str], list[str]]] = [
    ("ix_opportunities_stage_closed", "opportunities", ["stage", "closed_at"], SALES_FIGURES),
    ("ix_opportunities_partner_stage_closed", "opportunities", ["partner_id", "stage", "closed_at"],
     ["currency", "amount_minor"]),
    ("ix_opportunities_stage_close_date", "opportunities", ["stage", "close_date"], SALES_FIGURES),
    ("ix_deal_registrations_state_partner", "deal_registrations", ["state", "partner_id"], []),
    ("ix_lead_offers_partner_offered", "lead_offers", ["partner_id", "offered_at"], []),
    ("ix_lead_offers_program_offered", "lead_offers", ["program_id", "offered_at"], []),
]  # fmt: skip


def upgrade() -> None:
    for name, table, columns, carried in INDEXES:
        op.create_index(name, table, columns, postgresql_include=carried)


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
