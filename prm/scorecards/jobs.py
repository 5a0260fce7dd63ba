"""Scorecard timers: fold the cells' delta rows into one row per key, so the reports sum few rows
(PostgreSQL only: SQLite keeps no cells)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.db import Database
from prm.core.scheduler import JobRunner
from prm.scorecards import rollups


async def compact_cells(session: AsyncSession, now: datetime) -> int:
    return await rollups.compact(session)


def register_jobs(runner: JobRunner, db: Database) -> None:
    if db.engine.dialect.name == "postgresql":
        runner.register("scorecards.compact_cells", compact_cells, every_seconds=rollups.COMPACT_EVERY_SECONDS)
