"""Timers: APScheduler 3 only wakes code; the code acts on rows whose due-date has passed.

Each transactional job runs in its own unit of work. On PostgreSQL it first takes a
transaction-scoped advisory lock named after the job, so only one instance runs a given job
at a time; the job's own conditional updates make a repeat or late run harmless anyway.
Every job runs once at start-up, which catches up on whatever fell due while we were down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.db import Database
from prm.core.locks import try_lock

log = logging.getLogger("prm.scheduler")

TransactionalJob = Callable[[AsyncSession, datetime], Awaitable[int]]


@dataclass(frozen=True)
class Job:
    name: str
    fn: TransactionalJob
    interval_seconds: float


class JobRunner:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.jobs: dict[str, Job] = {}
        self._scheduler: AsyncIOScheduler | None = None

    def register(self, name: str, fn: TransactionalJob, *, every_seconds: float) -> None:
        self.jobs[name] = Job(name, fn, every_seconds)

    async def run(self, name: str) -> int | None:
        """Run one job now; None when another instance holds its lock."""
        job = self.jobs[name]
        async with self._db.unit_of_work() as session:
            if not await self._try_lock(session, name):
                return None
            return await job.fn(session, self._db.clock.now())

    async def run_all(self) -> dict[str, int | None]:
        """Run every job once, in registration order (start-up catch-up; tests)."""
        return {name: await self.run(name) for name in self.jobs}

    async def _try_lock(self, session: AsyncSession, name: str) -> bool:
        return await try_lock(session, name)

    async def _run_logged(self, name: str) -> None:
        try:
            done = await self.run(name)
            if done:
                log.info("job %s acted on %s rows", name, done)
        except Exception:
            log.exception("job %s failed; it will run again at its next interval", name)

    def start(self, extra: dict[str, tuple[Callable[[], Awaitable[Any]], float]] | None = None) -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        now = datetime.now(scheduler.timezone)
        for job in self.jobs.values():
            scheduler.add_job(
                self._run_logged,
                "interval",
                args=[job.name],
                seconds=job.interval_seconds,
                id=job.name,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
            )
        for name, (fn, seconds) in (extra or {}).items():
            scheduler.add_job(
                fn, "interval", seconds=seconds, id=name, next_run_time=now, max_instances=1, coalesce=True
            )
        scheduler.start()
        self._scheduler = scheduler

    def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
