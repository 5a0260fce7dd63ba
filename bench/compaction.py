"""The scorecard compaction timer on a large cell table: what a quiet minute costs, and a busy one.

    python -m bench.compaction                # 200,000 folded opportunity cells
    python -m bench.compaction --cells 50000

A fresh PostgreSQL database (migrated with alembic); `--cells` distinct keys are written straight
into scorecard_opportunity_cells, one row each (as a compaction leaves them). Then, each run
timed and the WAL it wrote measured (pg_current_wal_lsn before and after):
- quiet: the compaction with nothing new (the timer's usual minute);
- busy: after 1% of the keys got a delta row each (writers since the last run);
- floor: the previous compaction statement, which deleted and re-inserted every row, on the
  same table in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from bench._harness import Report, fresh_database, workdir
from prm.cli import upgrade_database
from prm.scorecards import rollups

TABLE = "scorecard_opportunity_cells"
# Before: every row deleted and the sums re-inserted, changed or not (the floor to compare with).
REWRITE_ALL = f"""WITH gone AS (DELETE FROM {TABLE} RETURNING stage, partner_id, currency, month, opportunities,
  amount_minor), kept AS (INSERT INTO {TABLE} (stage, partner_id, currency, month, opportunities, amount_minor)
  SELECT stage, partner_id, currency, month, sum(opportunities), sum(amount_minor) FROM gone
  GROUP BY stage, partner_id, currency, month HAVING sum(opportunities) <> 0 OR sum(amount_minor) <> 0 RETURNING 1)
  SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)"""  # noqa: S608 - a constant
SEED = f"""INSERT INTO {TABLE} (stage, partner_id, currency, month, opportunities, amount_minor)
  SELECT 'Stage ' || (n % 7), md5(n::text)::uuid, 'USD', DATE '2020-01-01' + (n / 7 % 60) * INTERVAL '1 month', 1, n
  FROM generate_series(1, :cells) AS n"""  # noqa: S608 - a constant
DELTAS = f"""INSERT INTO {TABLE} (stage, partner_id, currency, month, opportunities, amount_minor)
  SELECT stage, partner_id, currency, month, 1, 100 FROM {TABLE} TABLESAMPLE BERNOULLI (1)"""  # noqa: S608


async def _timed(connection: AsyncConnection, statement: str) -> tuple[float, int, int]:
    """(milliseconds, WAL bytes written, rows fewer) of one statement, committed."""
    before = (await connection.execute(text("SELECT pg_current_wal_insert_lsn()"))).scalar_one()
    started = time.perf_counter()
    fewer = int((await connection.execute(text(statement))).scalar_one())
    await connection.commit()
    elapsed = (time.perf_counter() - started) * 1000
    wal = await connection.scalar(text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :lsn)"), {"lsn": before})
    await connection.commit()
    return elapsed, int(wal), fewer


async def _run(url: str, cells: int, report: Report) -> None:
    engine = create_async_engine(url)
    compaction = rollups.COMPACT[rollups.CELL_TABLES.index(TABLE)]
    async with engine.connect() as connection:
        await connection.execute(text(SEED), {"cells": cells})
        await connection.commit()
        await connection.execute(text(f"ANALYZE {TABLE}"))
        await connection.commit()
        for name, statement in (("quiet", compaction), ("floor.quiet", REWRITE_ALL)):
            ms, wal, fewer = await _timed(connection, statement)
            report.figure(f"{name}.ms", ms, "ms")
            report.figure(f"{name}.wal", wal // 1024, "KiB")
            report.figure(f"{name}.rows_fewer", fewer)
        for name, statement in (("busy", compaction), ("floor.busy", REWRITE_ALL)):
            await connection.execute(text(DELTAS))
            await connection.commit()
            ms, wal, fewer = await _timed(connection, statement)
            report.figure(f"{name}.ms", ms, "ms")
            report.figure(f"{name}.wal", wal // 1024, "KiB")
            report.figure(f"{name}.rows_folded", fewer)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=200_000)
    args = parser.parse_args()
    report = Report("compaction", {"cells": args.cells, "table": TABLE})
    with workdir() as folder, fresh_database("postgresql", folder) as url:
        upgrade_database(url)
        asyncio.run(_run(url, args.cells, report))
    report.finish()


if __name__ == "__main__":
    main()
