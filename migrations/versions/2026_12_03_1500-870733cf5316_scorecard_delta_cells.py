"""scorecard delta cells: the triggers insert a delta row per change instead of upserting one row
per cell, so writers of leads (or deals) in one cell no longer wait on that row's lock; a cell is
the sum of its rows (the key indexes are no longer unique) and a timer folds the rows
(`prm.scorecards.rollups.compact`); a 0 delta writes nothing, so the lock-order migration's
0-delta "lock" call is dropped

Revision ID: 870733cf5316
Revises: a3f9c1e7d2b4
Create Date: 2026-12-03 15:00:00.000000+00:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "870733cf5316"
down_revision: str | None = "a3f9c1e7d2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEAD_KEY = ["month", "source", "campaign_id", "partner_id", "band", "qualified", "converted", "touched"]
# Each cell table: its key columns and its measures.
TABLES = {
    "scorecard_opportunity_cells": (["stage", "partner_id", "currency", "month"], ["opportunities", "amount_minor"]),
    "scorecard_registration_cells": (["state", "partner_id", "program_id", "currency"], ["registrations"]),
    "scorecard_lead_cells": (LEAD_KEY, ["leads"]),
    "scorecard_program_opportunity_cells": (
        ["program_id", "stage", "partner_id", "currency", "month"],
        ["opportunities", "amount_minor"],
    ),
    "scorecard_program_lead_cells": (["program_id", *LEAD_KEY], ["leads"]),
}
# The registration cells' key has no NULLs: its unique index was made without NULLS NOT DISTINCT.
NULLS_DISTINCT = {"scorecard_registration_cells"}

ADD_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION scorecard_opportunity_add(
         p_stage varchar, p_partner uuid, p_currency varchar, p_month date, p_count bigint, p_amount bigint)
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_opportunity_cells (stage, partner_id, currency, month, opportunities, amount_minor)
         SELECT p_stage, p_partner, p_currency, p_month, p_count, p_amount
         WHERE p_count <> 0 OR p_amount <> 0 $$""",
    """CREATE OR REPLACE FUNCTION scorecard_registration_add(
         p_state varchar, p_partner uuid, p_program uuid, p_currency varchar, p_count bigint)
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_registration_cells (state, partner_id, program_id, currency, registrations)
         SELECT p_state, p_partner, p_program, p_currency, p_count
         WHERE p_count <> 0 $$""",
    """CREATE OR REPLACE FUNCTION scorecard_lead_add(lead leads, p_touched boolean, p_count bigint)
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_lead_cells
           (month, source, campaign_id, partner_id, band, qualified, converted, touched, leads)
         SELECT date_trunc('month', lead.created_at AT TIME ZONE 'UTC')::date, lead.source, lead.campaign_id,
                lead.partner_id, CASE WHEN lead.score <= 30 THEN 0 WHEN lead.score <= 75 THEN 1 ELSE 2 END,
                lead.status NOT IN ('new', 'disqualified'), lead.status = 'converted', p_touched, p_count
         WHERE lead.merged_into_id IS NULL AND p_count <> 0 $$""",
    """CREATE OR REPLACE FUNCTION scorecard_program_opportunity_add(
         p_program uuid, p_stage varchar, p_partner uuid, p_currency varchar, p_month date, p_count bigint,
         p_amount bigint)
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_program_opportunity_cells
           (program_id, stage, partner_id, currency, month, opportunities, amount_minor)
         SELECT p_program, p_stage, p_partner, p_currency, p_month, p_count, p_amount
         WHERE p_count <> 0 OR p_amount <> 0 $$""",
    """CREATE OR REPLACE FUNCTION scorecard_program_lead_add(
         lead leads, p_touched boolean, p_count bigint, p_programs uuid[])
       RETURNS void LANGUAGE sql AS $$
         INSERT INTO scorecard_program_lead_cells
           (program_id, month, source, campaign_id, partner_id, band, qualified, converted, touched, leads)
         SELECT p.program_id, date_trunc('month', lead.created_at AT TIME ZONE 'UTC')::date, lead.source,
                lead.campaign_id, lead.partner_id, CASE WHEN lead.score <= 30 THEN 0 WHEN lead.score <= 75 THEN 1 ELSE 2 END,
                lead.status NOT IN ('new', 'disqualified'), lead.status = 'converted', p_touched, p_count
         FROM unnest(p_programs) AS p(program_id)
         WHERE lead.merged_into_id IS NULL AND p_count <> 0 $$""",
]
ADDED = [statement.split("(", 1)[0].removeprefix("CREATE OR REPLACE FUNCTION ") for statement in ADD_FUNCTIONS]


def _migration(name: str) -> ModuleType:
    """An earlier migration of this folder, loaded for its statements."""
    [path] = Path(__file__).parent.glob(f"*-{name}.py")
    spec = importlib.util.spec_from_file_location(f"scorecard_migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _upsert_functions() -> list[str]:
    """The `_add` functions as the cells' and program cells' migrations made them (ON CONFLICT)."""
    cells, program = _migration("5c3d31f69d59_scorecard_cells"), _migration("7e4a2c9b1d58_scorecard_program_cells")
    statements = [*cells.FUNCTIONS, *cells.LEAD_FUNCTIONS, *program.OPPORTUNITY_FUNCTIONS, *program.LEAD_FUNCTIONS]
    found = []
    for name in ADDED:
        [statement] = [s for s in statements if s.startswith(f"CREATE FUNCTION {name}(")]
        found.append(str(statement).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    return found


def compaction(table: str) -> str:
    """Fold a table's rows into one per key (keys summing to nothing left out)."""
    keys, measures = TABLES[table]
    key, measure = ", ".join(keys), ", ".join(measures)
    sums = ", ".join(f"sum({m})" for m in measures)
    having = " OR ".join(f"sum({m}) <> 0" for m in measures)
    return (
        f"WITH gone AS (DELETE FROM {table} RETURNING {key}, {measure})"  # noqa: S608 - names from TABLES
        f" INSERT INTO {table} ({key}, {measure}) SELECT {key}, {sums} FROM gone GROUP BY {key} HAVING {having}"
    )


def upgrade() -> None:
    for table, (keys, _) in TABLES.items():
        op.drop_index(f"uq_{table}_key", table_name=table)
        op.create_index(f"ix_{table}_key", table, keys)
    if op.get_bind().dialect.name == "postgresql":
        for statement in ADD_FUNCTIONS:
            op.execute(statement)
        # scorecard_offer_moves without the 0-delta call that took the plain cell's lock.
        op.execute(_migration("a3f9c1e7d2b4_scorecard_lock_order")._offer_moves_before())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
        for table in TABLES:
            op.execute(compaction(table))
        lock_order = _migration("a3f9c1e7d2b4_scorecard_lock_order")
        op.execute(
            lock_order._offer_moves_before().replace(lock_order.MOVES_PROGRAMS_ONLY, lock_order.LOCK_PLAIN_CELL_FIRST)
        )
        for statement in _upsert_functions():
            op.execute(statement)
    for table, (keys, _) in TABLES.items():
        op.drop_index(f"ix_{table}_key", table_name=table)
        op.create_index(f"uq_{table}_key", table, keys, unique=True,
                        postgresql_nulls_not_distinct=table not in NULLS_DISTINCT)  # fmt: skip
