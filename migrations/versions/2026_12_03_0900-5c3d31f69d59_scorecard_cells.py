"""scorecard cells: opportunities, deal registrations and leads counted per key, kept by PostgreSQL
triggers in the writer's transaction; indexes for top deals and lead quality

Revision ID: 5c3d31f69d59
Revises: d7e1f0a93c52
Create Date: 2026-12-03 08:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c3d31f69d59"
down_revision: str | None = "d7e1f0a93c52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONVERTED = "converted_opportunity_id IS NOT NULL"

# PostgreSQL only: the month a cell counts an opportunity in, and the triggers. Each change adds
# a delta to a cell with an upsert (atomic under concurrent writers: no read-modify-write).
FUNCTIONS = [
    """CREATE FUNCTION scorecard_opportunity_month(stage varchar, closed_at timestamptz, close_date date)
       RETURNS date LANGUAGE sql IMMUTABLE AS $$
         SELECT CASE WHEN stage IN ('Closed Won', 'Closed Lost')
                     THEN date_trunc('month', closed_at AT TIME ZONE 'UTC')::date
                     ELSE date_trunc('month', close_date::timestamp)::date END $$""",
    """CREATE FUNCTION scorecard_opportunity_add(
         p_stage varchar, p_partner uuid, p_currency varchar, p_month date, p_count bigint, p_amount bigint)
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_opportunity_cells AS c (stage, partner_id, currency, month, opportunities, amount_minor)
         VALUES (p_stage, p_partner, p_currency, p_month, p_count, p_amount)
         ON CONFLICT (stage, partner_id, currency, month) DO UPDATE
         SET opportunities = c.opportunities + excluded.opportunities,
             amount_minor = c.amount_minor + excluded.amount_minor $$""",
    """CREATE FUNCTION scorecard_opportunity_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'UPDATE' AND (OLD.stage, OLD.partner_id, OLD.currency, OLD.amount_minor,
             scorecard_opportunity_month(OLD.stage, OLD.closed_at, OLD.close_date))
             IS NOT DISTINCT FROM (NEW.stage, NEW.partner_id, NEW.currency, NEW.amount_minor,
             scorecard_opportunity_month(NEW.stage, NEW.closed_at, NEW.close_date)) THEN
           RETURN NULL;
         END IF;
         IF TG_OP <> 'INSERT' THEN
           PERFORM scorecard_opportunity_add(OLD.stage, OLD.partner_id, OLD.currency,
             scorecard_opportunity_month(OLD.stage, OLD.closed_at, OLD.close_date), -1, -OLD.amount_minor);
         END IF;
         IF TG_OP <> 'DELETE' THEN
           PERFORM scorecard_opportunity_add(NEW.stage, NEW.partner_id, NEW.currency,
             scorecard_opportunity_month(NEW.stage, NEW.closed_at, NEW.close_date), 1, NEW.amount_minor);
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER scorecard_opportunity_cells
       AFTER INSERT OR DELETE OR UPDATE OF stage, partner_id, currency, amount_minor, closed_at, close_date
       ON opportunities FOR EACH ROW EXECUTE FUNCTION scorecard_opportunity_cells_apply()""",
    """CREATE FUNCTION scorecard_registration_add(
         p_state varchar, p_partner uuid, p_program uuid, p_currency varchar, p_count bigint)
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_registration_cells AS c (state, partner_id, program_id, currency, registrations)
         VALUES (p_state, p_partner, p_program, p_currency, p_count)
         ON CONFLICT (state, partner_id, program_id, currency) DO UPDATE
         SET registrations = c.registrations + excluded.registrations $$""",
    """CREATE FUNCTION scorecard_registration_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'UPDATE' AND (OLD.state, OLD.partner_id, OLD.program_id, OLD.currency)
             IS NOT DISTINCT FROM (NEW.state, NEW.partner_id, NEW.program_id, NEW.currency) THEN
           RETURN NULL;
         END IF;
         IF TG_OP <> 'INSERT' THEN
           PERFORM scorecard_registration_add(OLD.state, OLD.partner_id, OLD.program_id, OLD.currency, -1);
         END IF;
         IF TG_OP <> 'DELETE' THEN
           PERFORM scorecard_registration_add(NEW.state, NEW.partner_id, NEW.program_id, NEW.currency, 1);
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER scorecard_registration_cells
       AFTER INSERT OR DELETE OR UPDATE OF state, partner_id, program_id, currency
       ON deal_registrations FOR EACH ROW EXECUTE FUNCTION scorecard_registration_cells_apply()""",
]
# A lead is counted in the cell of its row and of whether an offer of it was accepted within an
# hour ("touched"). A change to an offer that flips that moves the lead between cells, with the
# lead's row locked so two offers of one lead changing at once are counted one after the other.
LEAD_FUNCTIONS = [
    """CREATE FUNCTION scorecard_offer_touches(status varchar, response_seconds integer) RETURNS boolean
       LANGUAGE sql IMMUTABLE AS $$
         SELECT status IN ('accepted', 'converted') AND response_seconds IS NOT NULL AND response_seconds <= 3600 $$""",
    """CREATE FUNCTION scorecard_lead_touched(p_lead uuid, p_except uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
         SELECT EXISTS (SELECT 1 FROM lead_offers o WHERE o.lead_id = p_lead AND o.id IS DISTINCT FROM p_except
                        AND scorecard_offer_touches(o.status, o.response_seconds)) $$""",
    """CREATE FUNCTION scorecard_lead_add(lead leads, p_touched boolean, p_count bigint)
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_lead_cells AS c
           (month, source, campaign_id, partner_id, band, qualified, converted, touched, leads)
         SELECT date_trunc('month', lead.created_at AT TIME ZONE 'UTC')::date, lead.source, lead.campaign_id,
                lead.partner_id, CASE WHEN lead.score <= 30 THEN 0 WHEN lead.score <= 75 THEN 1 ELSE 2 END,
                lead.status NOT IN ('new', 'disqualified'), lead.status = 'converted', p_touched, p_count
         WHERE lead.merged_into_id IS NULL
         ON CONFLICT (month, source, campaign_id, partner_id, band, qualified, converted, touched) DO UPDATE
         SET leads = c.leads + excluded.leads $$""",
    """CREATE FUNCTION scorecard_lead_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE touched boolean;
       BEGIN
         IF TG_OP = 'UPDATE' AND (OLD.created_at, OLD.source, OLD.campaign_id, OLD.partner_id, OLD.score,
             OLD.status, OLD.merged_into_id) IS NOT DISTINCT FROM (NEW.created_at, NEW.source, NEW.campaign_id,
             NEW.partner_id, NEW.score, NEW.status, NEW.merged_into_id) THEN
           RETURN NULL;
         END IF;
         touched := scorecard_lead_touched(COALESCE(NEW.id, OLD.id), NULL);
         IF TG_OP <> 'INSERT' THEN PERFORM scorecard_lead_add(OLD, touched, -1); END IF;
         IF TG_OP <> 'DELETE' THEN PERFORM scorecard_lead_add(NEW, touched, 1); END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER scorecard_lead_cells
       AFTER INSERT OR DELETE OR UPDATE OF created_at, source, campaign_id, partner_id, score, status, merged_into_id
       ON leads FOR EACH ROW EXECUTE FUNCTION scorecard_lead_cells_apply()""",
    """CREATE FUNCTION scorecard_offer_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
         was boolean := TG_OP <> 'INSERT' AND scorecard_offer_touches(OLD.status, OLD.response_seconds);
         now_ boolean := TG_OP <> 'DELETE' AND scorecard_offer_touches(NEW.status, NEW.response_seconds);
         lead leads;
         others boolean;
       BEGIN
         IF was = now_ THEN
           RETURN NULL;
         END IF;
         SELECT * INTO lead FROM leads WHERE id = COALESCE(NEW.lead_id, OLD.lead_id) FOR UPDATE;
         IF NOT FOUND THEN
           RETURN NULL;
         END IF;
         others := scorecard_lead_touched(lead.id, COALESCE(NEW.id, OLD.id));
         IF (others OR was) <> (others OR now_) THEN
           PERFORM scorecard_lead_add(lead, others OR was, -1);
           PERFORM scorecard_lead_add(lead, others OR now_, 1);
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER scorecard_offer_cells
       AFTER INSERT OR DELETE OR UPDATE OF status, response_seconds
       ON lead_offers FOR EACH ROW EXECUTE FUNCTION scorecard_offer_cells_apply()""",
]
FILL = [
    """INSERT INTO scorecard_opportunity_cells (stage, partner_id, currency, month, opportunities, amount_minor)
       SELECT stage, partner_id, currency, scorecard_opportunity_month(stage, closed_at, close_date),
              count(*), sum(amount_minor)
       FROM opportunities GROUP BY 1, 2, 3, 4""",
    """INSERT INTO scorecard_registration_cells (state, partner_id, program_id, currency, registrations)
       SELECT state, partner_id, program_id, currency, count(*)
       FROM deal_registrations GROUP BY 1, 2, 3, 4""",
    """INSERT INTO scorecard_lead_cells (month, source, campaign_id, partner_id, band, qualified, converted, touched,
                                        leads)
       SELECT date_trunc('month', l.created_at AT TIME ZONE 'UTC')::date, l.source, l.campaign_id, l.partner_id,
              CASE WHEN l.score <= 30 THEN 0 WHEN l.score <= 75 THEN 1 ELSE 2 END,
              l.status NOT IN ('new', 'disqualified'), l.status = 'converted', t.lead_id IS NOT NULL, count(*)
       FROM leads l LEFT JOIN (SELECT DISTINCT lead_id FROM lead_offers
                               WHERE scorecard_offer_touches(status, response_seconds)) t ON t.lead_id = l.id
       WHERE l.merged_into_id IS NULL
       GROUP BY 1, 2, 3, 4, 5, 6, 7, 8""",
]
DROP_FUNCTIONS = [
    "DROP TRIGGER scorecard_offer_cells ON lead_offers",
    "DROP TRIGGER scorecard_lead_cells ON leads",
    "DROP FUNCTION scorecard_offer_cells_apply()",
    "DROP FUNCTION scorecard_lead_cells_apply()",
    "DROP FUNCTION scorecard_lead_add(leads, boolean, bigint)",
    "DROP FUNCTION scorecard_lead_touched(uuid, uuid)",
    "DROP FUNCTION scorecard_offer_touches(varchar, integer)",
    "DROP TRIGGER scorecard_registration_cells ON deal_registrations",
    "DROP TRIGGER scorecard_opportunity_cells ON opportunities",
    "DROP FUNCTION scorecard_registration_cells_apply()",
    "DROP FUNCTION scorecard_registration_add(varchar, uuid, uuid, varchar, bigint)",
    "DROP FUNCTION scorecard_opportunity_cells_apply()",
    "DROP FUNCTION scorecard_opportunity_add(varchar, uuid, varchar, date, bigint, bigint)",
    "DROP FUNCTION scorecard_opportunity_month(varchar, timestamptz, date)",
]


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "scorecard_opportunity_cells",
        _id(),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("opportunities", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    )
    op.create_index("uq_scorecard_opportunity_cells_key", "scorecard_opportunity_cells",
                    ["stage", "partner_id", "currency", "month"], unique=True,
                    postgresql_nulls_not_distinct=True)  # fmt: skip
    op.create_table(
        "scorecard_registration_cells",
        _id(),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("registrations", sa.BigInteger(), nullable=False),
    )
    op.create_index("uq_scorecard_registration_cells_key", "scorecard_registration_cells",
                    ["state", "partner_id", "program_id", "currency"], unique=True)  # fmt: skip
    op.create_table(
        "scorecard_lead_cells",
        _id(),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        sa.Column("converted", sa.Boolean(), nullable=False),
        sa.Column("touched", sa.Boolean(), nullable=False),
        sa.Column("leads", sa.BigInteger(), nullable=False),
    )
    op.create_index("uq_scorecard_lead_cells_key", "scorecard_lead_cells",
                    ["month", "source", "campaign_id", "partner_id", "band", "qualified", "converted", "touched"],
                    unique=True, postgresql_nulls_not_distinct=True)  # fmt: skip
    op.create_index("ix_opportunities_won_amount", "opportunities", ["stage", "currency", "amount_minor"],
                    postgresql_include=["closed_at", "partner_id"])  # fmt: skip
    op.create_index("ix_leads_created_quality", "leads", ["created_at"],
                    postgresql_include=["source", "campaign_id", "score", "status", "partner_id", "merged_into_id"])  # fmt: skip
    op.create_index("ix_leads_converted_opportunity", "leads", ["converted_opportunity_id"],
                    postgresql_where=sa.text(CONVERTED), sqlite_where=sa.text(CONVERTED),
                    postgresql_include=["created_at", "source", "campaign_id", "partner_id", "merged_into_id"])  # fmt: skip
    if op.get_bind().dialect.name == "postgresql":
        for statement in [*FUNCTIONS, *LEAD_FUNCTIONS, *FILL]:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP_FUNCTIONS:
            op.execute(statement)
    op.drop_index("ix_leads_converted_opportunity", table_name="leads")
    op.drop_index("ix_leads_created_quality", table_name="leads")
    op.drop_index("ix_opportunities_won_amount", table_name="opportunities")
    op.drop_table("scorecard_lead_cells")
    op.drop_table("scorecard_registration_cells")
    op.drop_table("scorecard_opportunity_cells")
