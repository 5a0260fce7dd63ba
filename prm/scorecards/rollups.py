"""The maintained aggregates (see `prm.scorecards.models`): when the reports may read them, how
a timer folds their delta rows (`compact`) and how `prm scorecards rebuild` recomputes them from
the records. A report sums a cell's rows grouped by its key, never reads one row as the cell.

The cells count by UTC month. When a month boundary a report asks for is not a UTC month
boundary (a zone such as Europe/Berlin), the report still reads the cells and moves only the
records between the two boundaries to their month in the zone (`prm.scorecards.edges`). A
report filtered by program reads the program cells (the opportunities and leads of each deal
or lead program). On SQLite the reports read the records; the figures are the same either way:
the tests check both.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.clock import SystemClock
from prm.core.db import Database
from prm.scorecards.filters import Month, ReportQuery
from prm.settings import Settings

UTC_ZONE = ZoneInfo("UTC")

# Recomputing the cells: the records are locked against writes (reads go on) for the few
# seconds it takes, so no write lands between the count and the swap.
REBUILD = [
    "LOCK TABLE opportunities, deal_registrations, leads, lead_offers IN SHARE MODE",
    "LOCK TABLE scorecard_opportunity_cells, scorecard_registration_cells, scorecard_lead_cells,"
    " scorecard_program_opportunity_cells, scorecard_program_lead_cells IN EXCLUSIVE MODE",
    "DELETE FROM scorecard_opportunity_cells",
    """INSERT INTO scorecard_opportunity_cells (stage, partner_id, currency, month, opportunities, amount_minor)
       SELECT stage, partner_id, currency, scorecard_opportunity_month(stage, closed_at, close_date),
              count(*), sum(amount_minor)
       FROM opportunities GROUP BY 1, 2, 3, 4""",
    "DELETE FROM scorecard_registration_cells",
    """INSERT INTO scorecard_registration_cells (state, partner_id, program_id, currency, registrations)
       SELECT state, partner_id, program_id, currency, count(*)
       FROM deal_registrations GROUP BY 1, 2, 3, 4""",
    "DELETE FROM scorecard_lead_cells",
    """INSERT INTO scorecard_lead_cells (month, source, campaign_id, partner_id, band, qualified, converted, touched,
                                        leads)
       SELECT date_trunc('month', l.created_at AT TIME ZONE 'UTC')::date, l.source, l.campaign_id, l.partner_id,
              CASE WHEN l.score <= 30 THEN 0 WHEN l.score <= 75 THEN 1 ELSE 2 END,
              l.status NOT IN ('new', 'disqualified'), l.status = 'converted', t.lead_id IS NOT NULL, count(*)
       FROM leads l LEFT JOIN (SELECT DISTINCT lead_id FROM lead_offers
                               WHERE scorecard_offer_touches(status, response_seconds)) t ON t.lead_id = l.id
       WHERE l.merged_into_id IS NULL
       GROUP BY 1, 2, 3, 4, 5, 6, 7, 8""",
    "DELETE FROM scorecard_program_opportunity_cells",
    """INSERT INTO scorecard_program_opportunity_cells
         (program_id, stage, partner_id, currency, month, opportunities, amount_minor)
       SELECT r.program_id, o.stage, o.partner_id, o.currency,
              scorecard_opportunity_month(o.stage, o.closed_at, o.close_date), count(*), sum(o.amount_minor)
       FROM opportunities o
       JOIN (SELECT DISTINCT opportunity_id, program_id FROM deal_registrations WHERE opportunity_id IS NOT NULL) r
         ON r.opportunity_id = o.id
       GROUP BY 1, 2, 3, 4, 5""",
    "DELETE FROM scorecard_program_lead_cells",
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
LEAD_KEY = ("month", "source", "campaign_id", "partner_id", "band", "qualified", "converted", "touched")
# Each cell table: the columns of its key and its measures (a cell is the sum of its key's rows).
CELL_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "scorecard_opportunity_cells": (("stage", "partner_id", "currency", "month"), ("opportunities", "amount_minor")),
    "scorecard_registration_cells": (("state", "partner_id", "program_id", "currency"), ("registrations",)),
    "scorecard_lead_cells": (LEAD_KEY, ("leads",)),
    "scorecard_program_opportunity_cells": (
        ("program_id", "stage", "partner_id", "currency", "month"),
        ("opportunities", "amount_minor"),
    ),
    "scorecard_program_lead_cells": (("program_id", *LEAD_KEY), ("leads",)),
}
CELL_TABLES = tuple(CELL_KEYS)
COMPACT_EVERY_SECONDS = 60


def _compaction(table: str) -> str:
    """Fold a table's delta rows into one row per key, keys summing to nothing left out; how many
    rows fewer there are. Only keys with more than one row (or summing to nothing) are rewritten:
    a key already folded is read, not written, so a quiet minute writes nothing. The DELETE sees
    the rows committed when it starts: rows of writers still in flight (or committed since) are
    not deleted and stay, so every sum stays exact."""
    keys, measures = CELL_KEYS[table]
    key, measure = ", ".join(keys), ", ".join(measures)
    sums = ", ".join(f"sum({m})" for m in measures)
    nonzero = " OR ".join(f"sum({m}) <> 0" for m in measures)
    # PARTITION BY puts NULL keys together, as GROUP BY does; the rows are named by ctid.
    window = f"OVER (PARTITION BY {key})"
    empty = " AND ".join(f"sum({m}) {window} = 0" for m in measures)
    return (
        f"WITH ranked AS (SELECT ctid AS row_id, count(*) {window} AS n, {empty} AS empty FROM {table}),"  # noqa: S608 - names from CELL_KEYS
        f" gone AS (DELETE FROM {table} WHERE ctid IN (SELECT row_id FROM ranked WHERE n > 1 OR empty)"
        f" RETURNING {key}, {measure}),"
        f" kept AS (INSERT INTO {table} ({key}, {measure}) SELECT {key}, {sums} FROM gone GROUP BY {key}"
        f" HAVING {nonzero} RETURNING 1)"
        " SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)"
    )


COMPACT = [_compaction(table) for table in CELL_TABLES]


def maintained(session: AsyncSession) -> bool:
    """Whether this database keeps the cells (PostgreSQL: triggers; SQLite: no)."""
    return session.get_bind().dialect.name == "postgresql"


def months_align_with_utc(query: ReportQuery, months: list[Month]) -> bool:
    """Whether each month of `months` (and the one after) starts at a UTC month start in the zone."""
    bounds = [*months, months[-1].shift(1)]
    return all(m.start(query.zone) == m.start(UTC_ZONE) for m in bounds)


def opportunity_cells_usable(session: AsyncSession, query: ReportQuery) -> bool:
    """Whether the opportunity cells (or, filtered by program, the program's cells) may be read."""
    return maintained(session)


async def compact(session: AsyncSession) -> int:
    """Fold each cell table's delta rows, one statement per table, within the caller's
    transaction; how many rows fewer there are. Nothing on SQLite (no cells)."""
    if not maintained(session):
        return 0
    folded = 0
    for statement in COMPACT:
        folded += int((await session.execute(text(statement))).scalar_one())
    return folded


async def rebuild(session: AsyncSession) -> dict[str, int]:
    """Recompute every cell from the records (within the caller's transaction); the counts of cells."""
    if not maintained(session):
        return {}
    for statement in REBUILD:
        await session.execute(text(statement))
    await compact(session)
    counts = {}
    for table in CELL_TABLES:
        counts[table] = int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608
    return counts


async def rebuild_database(settings: Settings) -> dict[str, int]:
    """`prm scorecards rebuild`: one transaction, committed at the end."""
    db = Database(settings.database_url, clock=SystemClock())
    try:
        async with db.unit_of_work() as session:
            return await rebuild(session)
    finally:
        await db.dispose()
