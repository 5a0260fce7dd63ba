"""scorecard program cells: opportunities (through their registrations' deal programs) and leads
(through their offers' lead programs) counted per program, kept by PostgreSQL triggers like the
other cells, so a report filtered by program reads cells, not records; the registrations a
partner scorecard reads in one covering index

Revision ID: 7e4a2c9b1d58
Revises: c41d7a9e5b36
Create Date: 2026-12-03 13:30:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e4a2c9b1d58"
down_revision: str | None = "c41d7a9e5b36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKED = "opportunity_id IS NOT NULL"
# What a partner scorecard reads of a partner's registrations, so it reads the index alone.
SCORECARD_FIGURES = ["state", "program_id", "currency", "submitted_at", "approved_at", "decided_at",
                     "expired_at", "closed_at", "review_due_at", "won_amount_minor"]  # fmt: skip

# An opportunity is in a deal program's cells when a registration of that program is linked to
# it (once, however many such registrations it has). A registration that links or unlinks
# locks the opportunity first, so two links of one opportunity are counted one after the other,
# and an opportunity's own change waits for (or is waited on by) them.
OPPORTUNITY_FUNCTIONS = [
    """CREATE FUNCTION scorecard_program_opportunity_add(
         p_program uuid, p_stage varchar, p_partner uuid, p_currency varchar, p_month date, p_count bigint,
         p_amount bigint)
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_program_opportunity_cells AS c
           (program_id, stage, partner_id, currency, month, opportunities, amount_minor)
         VALUES (p_program, p_stage, p_partner, p_currency, p_month, p_count, p_amount)
         ON CONFLICT (program_id, stage, partner_id, currency, month) DO UPDATE
         SET opportunities = c.opportunities + excluded.opportunities,
             amount_minor = c.amount_minor + excluded.amount_minor $$""",
    """CREATE FUNCTION scorecard_program_opportunity_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE program uuid;
       BEGIN
         IF TG_OP = 'UPDATE' AND (OLD.stage, OLD.partner_id, OLD.currency, OLD.amount_minor,
             scorecard_opportunity_month(OLD.stage, OLD.closed_at, OLD.close_date))
             IS NOT DISTINCT FROM (NEW.stage, NEW.partner_id, NEW.currency, NEW.amount_minor,
             scorecard_opportunity_month(NEW.stage, NEW.closed_at, NEW.close_date)) THEN
           RETURN NULL;
         END IF;
         FOR program IN SELECT DISTINCT r.program_id FROM deal_registrations r WHERE r.opportunity_id = OLD.id LOOP
           PERFORM scorecard_program_opportunity_add(program, OLD.stage, OLD.partner_id, OLD.currency,
             scorecard_opportunity_month(OLD.stage, OLD.closed_at, OLD.close_date), -1, -OLD.amount_minor);
           IF TG_OP = 'UPDATE' THEN
             PERFORM scorecard_program_opportunity_add(program, NEW.stage, NEW.partner_id, NEW.currency,
               scorecard_opportunity_month(NEW.stage, NEW.closed_at, NEW.close_date), 1, NEW.amount_minor);
           END IF;
         END LOOP;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER scorecard_program_opportunity_cells
       AFTER DELETE OR UPDATE OF stage, partner_id, currency, amount_minor, closed_at, close_date
       ON opportunities FOR EACH ROW EXECUTE FUNCTION scorecard_program_opportunity_cells_apply()""",
    """CREATE FUNCTION scorecard_program_link(p_opportunity uuid, p_program uuid, p_registration uuid,
                                              p_sign bigint)
       RETURNS void LANGUAGE plpgsql AS $$
       DECLARE o opportunities;
       BEGIN
         SELECT * INTO o FROM opportunities WHERE id = p_opportunity FOR UPDATE;
         IF NOT FOUND OR EXISTS (SELECT 1 FROM deal_registrations r WHERE r.opportunity_id = p_opportunity
                                 AND r.program_id = p_program AND r.id <> p_registration) THEN
           RETURN;
         END IF;
         PERFORM scorecard_program_opportunity_add(p_program, o.stage, o.partner_id, o.currency,
           scorecard_opportunity_month(o.stage, o.closed_at, o.close_date), p_sign, p_sign * o.amount_minor);
       END $$""",
    """CREATE FUNCTION scorecard_program_registration_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'UPDATE' AND (OLD.opportunity_id, OLD.program_id)
             IS NOT DISTINCT FROM (NEW.opportunity_id, NEW.program_id) THEN
           RETURN NEW;
         END IF;
         IF TG_OP <> 'INSERT' AND OLD.opportunity_id IS NOT NULL THEN
           PERFORM scorecard_program_link(OLD.opportunity_id, OLD.program_id, OLD.id, -1);
         END IF;
         IF TG_OP <> 'DELETE' AND NEW.opportunity_id IS NOT NULL THEN
           PERFORM scorecard_program_link(NEW.opportunity_id, NEW.program_id, NEW.id, 1);
         END IF;
         IF TG_OP = 'DELETE' THEN
           RETURN OLD;
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER scorecard_program_registration
       BEFORE INSERT OR DELETE OR UPDATE OF opportunity_id, program_id
       ON deal_registrations FOR EACH ROW EXECUTE FUNCTION scorecard_program_registration_apply()""",
]

# A lead is in a lead program's cells when one of its offers is of that program. The lead
# trigger counts it in each of its programs as in the plain cells; an offer's change moves the
# lead (its row locked, as before) out of the programs and touched state it had and into the
# ones it has now.
#
# The registration and offer triggers run BEFORE each row is written: a statement writing
# several rows then counts them one after the other (each sees the rows written before it,
# never the ones after), where AFTER triggers of one statement all see every row of it, so two
# links of one opportunity (or two touching offers of one lead) inserted together each took the
# other for an earlier one and neither was counted. Neither table is written with ON CONFLICT
# (a BEFORE trigger would count a row the conflict then drops).
LEAD_FUNCTIONS = [
    """CREATE FUNCTION scorecard_lead_programs(p_lead uuid, p_except uuid) RETURNS uuid[]
       LANGUAGE sql STABLE AS $$
         SELECT ARRAY(SELECT DISTINCT o.program_id FROM lead_offers o WHERE o.lead_id = p_lead
                      AND o.id IS DISTINCT FROM p_except AND o.program_id IS NOT NULL ORDER BY 1) $$""",
    """CREATE FUNCTION scorecard_programs_with(p_programs uuid[], p_program uuid) RETURNS uuid[]
       LANGUAGE sql IMMUTABLE AS $$
         SELECT ARRAY(SELECT DISTINCT x FROM unnest(p_programs || p_program) x WHERE x IS NOT NULL ORDER BY 1) $$""",
    """CREATE FUNCTION scorecard_program_lead_add(lead leads, p_touched boolean, p_count bigint, p_programs uuid[])
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_program_lead_cells AS c
           (program_id, month, source, campaign_id, partner_id, band, qualified, converted, touched, leads)
         SELECT p.program_id, date_trunc('month', lead.created_at AT TIME ZONE 'UTC')::date, lead.source,
                lead.campaign_id, lead.partner_id, CASE WHEN lead.score <= 30 THEN 0 WHEN lead.score <= 75 THEN 1 ELSE 2 END,
                lead.status NOT IN ('new', 'disqualified'), lead.status = 'converted', p_touched, p_count
         FROM unnest(p_programs) AS p(program_id)
         WHERE lead.merged_into_id IS NULL
         ON CONFLICT (program_id, month, source, campaign_id, partner_id, band, qualified, converted, touched)
         DO UPDATE SET leads = c.leads + excluded.leads $$""",
    """CREATE OR REPLACE FUNCTION scorecard_lead_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
         touched boolean;
         programs uuid[];
       BEGIN
         IF TG_OP = 'UPDATE' AND (OLD.created_at, OLD.source, OLD.campaign_id, OLD.partner_id, OLD.score,
             OLD.status, OLD.merged_into_id) IS NOT DISTINCT FROM (NEW.created_at, NEW.source, NEW.campaign_id,
             NEW.partner_id, NEW.score, NEW.status, NEW.merged_into_id) THEN
           RETURN NULL;
         END IF;
         touched := scorecard_lead_touched(COALESCE(NEW.id, OLD.id), NULL);
         programs := scorecard_lead_programs(COALESCE(NEW.id, OLD.id), NULL);
         IF TG_OP <> 'INSERT' THEN
           PERFORM scorecard_lead_add(OLD, touched, -1);
           PERFORM scorecard_program_lead_add(OLD, touched, -1, programs);
         END IF;
         IF TG_OP <> 'DELETE' THEN
           PERFORM scorecard_lead_add(NEW, touched, 1);
           PERFORM scorecard_program_lead_add(NEW, touched, 1, programs);
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE FUNCTION scorecard_offer_moves(p_lead uuid, p_offer uuid, was boolean, was_program uuid,
                                             now_ boolean, now_program uuid)
       RETURNS void LANGUAGE plpgsql AS $$
       DECLARE
         lead leads;
         others boolean;
         others_programs uuid[];
         before_ uuid[];
         after_ uuid[];
       BEGIN
         IF was = now_ AND was_program IS NOT DISTINCT FROM now_program THEN
           RETURN;
         END IF;
         SELECT * INTO lead FROM leads WHERE id = p_lead FOR UPDATE;
         IF NOT FOUND THEN
           RETURN;
         END IF;
         others := scorecard_lead_touched(p_lead, p_offer);
         others_programs := scorecard_lead_programs(p_lead, p_offer);
         before_ := scorecard_programs_with(others_programs, was_program);
         after_ := scorecard_programs_with(others_programs, now_program);
         IF (others OR was) = (others OR now_) AND before_ = after_ THEN
           RETURN;
         END IF;
         IF (others OR was) <> (others OR now_) THEN
           PERFORM scorecard_lead_add(lead, others OR was, -1);
           PERFORM scorecard_lead_add(lead, others OR now_, 1);
         END IF;
         PERFORM scorecard_program_lead_add(lead, others OR was, -1, before_);
         PERFORM scorecard_program_lead_add(lead, others OR now_, 1, after_);
       END $$""",
    """CREATE OR REPLACE FUNCTION scorecard_offer_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
         was boolean := TG_OP <> 'INSERT' AND scorecard_offer_touches(OLD.status, OLD.response_seconds);
         now_ boolean := TG_OP <> 'DELETE' AND scorecard_offer_touches(NEW.status, NEW.response_seconds);
       BEGIN
         IF TG_OP = 'INSERT' THEN
           PERFORM scorecard_offer_moves(NEW.lead_id, NEW.id, false, NULL, now_, NEW.program_id);
         ELSIF TG_OP = 'DELETE' THEN
           PERFORM scorecard_offer_moves(OLD.lead_id, OLD.id, was, OLD.program_id, false, NULL);
         ELSIF OLD.lead_id IS DISTINCT FROM NEW.lead_id THEN
           PERFORM scorecard_offer_moves(OLD.lead_id, OLD.id, was, OLD.program_id, false, NULL);
           PERFORM scorecard_offer_moves(NEW.lead_id, NEW.id, false, NULL, now_, NEW.program_id);
         ELSE
           PERFORM scorecard_offer_moves(NEW.lead_id, NEW.id, was, OLD.program_id, now_, NEW.program_id);
         END IF;
         IF TG_OP = 'DELETE' THEN
           RETURN OLD;
         END IF;
         RETURN NEW;
       END $$""",
    "DROP TRIGGER scorecard_offer_cells ON lead_offers",
    """CREATE TRIGGER scorecard_offer_cells
       BEFORE INSERT OR DELETE OR UPDATE OF status, response_seconds, program_id, lead_id
       ON lead_offers FOR EACH ROW EXECUTE FUNCTION scorecard_offer_cells_apply()""",
]
FILL = [
    """INSERT INTO scorecard_program_opportunity_cells
         (program_id, stage, partner_id, currency, month, opportunities, amount_minor)
       SELECT r.program_id, o.stage, o.partner_id, o.currency,
              scorecard_opportunity_month(o.stage, o.closed_at, o.close_date), count(*), sum(o.amount_minor)
       FROM opportunities o
       JOIN (SELECT DISTINCT opportunity_id, program_id FROM deal_registrations WHERE opportunity_id IS NOT NULL) r
         ON r.opportunity_id = o.id
       GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO scorecard_program_lead_cells
         (program_id, month, source, campaign_id, partner_id, band, qualified, converted, touched, leads)
       SELECT p.program_id, date_trunc('month', l.created_at AT TIME ZONE 'UTC')::date, l.source, l.campaign_id,
              l.partner_id, CASE WHEN l.score <= 30 THEN 0 WHEN l.score <= 75 THEN 1 ELSE 2 END,
              l.status NOT IN ('new', 'disqualified'), l.status = 'converted', t.lead_id IS NOT NULL, count(*)
       FROM leads l
       JOIN (SELECT DISTINCT lead_id, program_id FROM lead_offers WHERE program_id IS NOT NULL) p ON p.lead_id = l.id
       LEFT JOIN (SELECT DISTINCT lead_id FROM lead_offers
                  WHERE scorecard_offer_touches(status, response_seconds)) t ON t.lead_id = l.id
       WHERE l.merged_into_id IS NULL
       GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9""",
]
# Back to the previous revision's offer and lead triggers.
RESTORE = [
    "DROP TRIGGER scorecard_offer_cells ON lead_offers",
    """CREATE OR REPLACE FUNCTION scorecard_offer_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
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
    """CREATE OR REPLACE FUNCTION scorecard_lead_cells_apply() RETURNS trigger LANGUAGE plpgsql AS $$
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
    "DROP FUNCTION scorecard_offer_moves(uuid, uuid, boolean, uuid, boolean, uuid)",
    "DROP FUNCTION scorecard_program_lead_add(leads, boolean, bigint, uuid[])",
    "DROP FUNCTION scorecard_programs_with(uuid[], uuid)",
    "DROP FUNCTION scorecard_lead_programs(uuid, uuid)",
    "DROP TRIGGER scorecard_program_registration ON deal_registrations",
    "DROP FUNCTION scorecard_program_registration_apply()",
    "DROP FUNCTION scorecard_program_link(uuid, uuid, uuid, bigint)",
    "DROP TRIGGER scorecard_program_opportunity_cells ON opportunities",
    "DROP FUNCTION scorecard_program_opportunity_cells_apply()",
    "DROP FUNCTION scorecard_program_opportunity_add(uuid, varchar, uuid, varchar, date, bigint, bigint)",
]


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "scorecard_program_opportunity_cells",
        _id(),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("opportunities", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    )
    op.create_index("uq_scorecard_program_opportunity_cells_key", "scorecard_program_opportunity_cells",
                    ["program_id", "stage", "partner_id", "currency", "month"], unique=True,
                    postgresql_nulls_not_distinct=True)  # fmt: skip
    op.create_table(
        "scorecard_program_lead_cells",
        _id(),
        sa.Column("program_id", sa.Uuid(), nullable=False),
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
    op.create_index("uq_scorecard_program_lead_cells_key", "scorecard_program_lead_cells",
                    ["program_id", "month", "source", "campaign_id", "partner_id", "band", "qualified", "converted",
                     "touched"], unique=True, postgresql_nulls_not_distinct=True)  # fmt: skip
    # The triggers find an opportunity's registrations (and their programs) here.
    op.create_index("ix_deal_registrations_opportunity", "deal_registrations", ["opportunity_id", "program_id"],
                    postgresql_where=sa.text(LINKED), sqlite_where=sa.text(LINKED))  # fmt: skip
    op.create_index("ix_deal_registrations_partner_scorecard", "deal_registrations", ["partner_id"],
                    postgresql_include=SCORECARD_FIGURES)  # fmt: skip
    if op.get_bind().dialect.name == "postgresql":
        for statement in [*OPPORTUNITY_FUNCTIONS, *LEAD_FUNCTIONS, *FILL]:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in RESTORE:
            op.execute(statement)
    op.drop_index("ix_deal_registrations_partner_scorecard", table_name="deal_registrations")
    op.drop_index("ix_deal_registrations_opportunity", table_name="deal_registrations")
    op.drop_table("scorecard_program_lead_cells")
    op.drop_table("scorecard_program_opportunity_cells")
