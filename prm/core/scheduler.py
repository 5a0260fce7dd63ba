"""Timers: APScheduler 3 only wakes code; the code acts on rows whose due-date has passed.

Each transactional job runs in its own unit of work. On PostgreSQL it first takes a
transaction-scoped advisory lock named after the job, so only one instance runs a given job
at a time; the job's own conditional updates make a repeat or late run harmless anyway.
Every job runs once at start-up, which catches up on whatever fell due while we were down.
A timer may declare its `Backlog` (the rows it has yet to act on) for `/metrics`. On shutdown
no new run starts and a running one finishes its unit of work (within the bound given).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from prm.core.db import Database
from prm.core.locks import try_lock
from prm.core.request_id import bind_request_id

log = logging.getLogger("prm.scheduler")

TransactionalJob = Callable[[AsyncSession, datetime], Awaitable[int]]


@dataclass(frozen=True)
class Backlog:
    """What a timer has yet to act on: rows meeting `waiting(now)` whose `deadline` has passed.
    It states the timer's own condition again, for counting (a test holds the two equal)."""

    deadline: InstrumentedAttribute[Any]
    waiting: Callable[[datetime], ColumnElement[bool]]

    async def count(self, session: AsyncSession, now: datetime, late_before: datetime) -> tuple[int, int]:
        """(due now, of which overdue: their deadline passed before `late_before`)."""
        stmt = select(func.count(), func.coalesce(func.sum(case((self.deadline < late_before, 1), else_=0)), 0)).where(
            self.waiting(now), self.deadline <= now
        )
        due, overdue = (await session.execute(stmt)).one()
        return int(due), int(overdue)


@dataclass(frozen=True)
class Job:
    name: str
    fn: TransactionalJob
    interval_seconds: float
    backlog: Backlog | None = None

    @property
    def overdue_after(self) -> timedelta:
        """A due row still waiting two intervals after its deadline is late: the timer is stuck."""
        return timedelta(seconds=2 * self.interval_seconds)


@dataclass
class JobStats:
    """This process's runs of one job (`/metrics` shows them; take the max over instances)."""

    last_run_at: float | None = None  # the clock's epoch seconds at the last run that held the lock
    last_success_at: float | None = None
    runs: dict[str, int] = field(default_factory=lambda: {"acted": 0, "idle": 0, "skipped": 0, "failed": 0})
    rows: int = 0


class JobRunner:
    def __init__(self, db: Database, *, every_seconds: float | None = None) -> None:
        """`every_seconds`: run every job at this interval instead of its own (PRM_JOB_INTERVAL_SECONDS)."""
        self._db = db
        self._every_seconds = every_seconds
        self.jobs: dict[str, Job] = {}
        self.stats: dict[str, JobStats] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[Any]] = set()

    def register(
        self, name: str, fn: TransactionalJob, *, every_seconds: float, backlog: Backlog | None = None
    ) -> None:
        self.jobs[name] = Job(name, fn, every_seconds, backlog)
        self.stats[name] = JobStats()

    async def run(self, name: str) -> int | None:
        """Run one job now; None when another instance holds its lock."""
        stats = self.stats[name]
        # A timer run has an id of its own, like a request: its log lines and the outbox
        # messages it writes (and so their deliveries) carry it.
        with bind_request_id(f"job-{uuid.uuid4().hex[:16]}"):
            try:
                done = await self._run_in_unit_of_work(self.jobs[name])
            except BaseException:
                stats.runs["failed"] += 1
                stats.last_run_at = self._db.clock.now().timestamp()
                raise
        self._count_run(stats, done)
        return done

    async def _run_in_unit_of_work(self, job: Job) -> int | None:
        async with self._db.unit_of_work() as session:
            if not await self._try_lock(session, job.name):
                return None
            return await job.fn(session, self._db.clock.now())

    async def run_all(self) -> dict[str, int | None]:
        """Run every job once, in registration order (start-up catch-up; tests)."""
        return {name: await self.run(name) for name in self.jobs}

    async def _try_lock(self, session: AsyncSession, name: str) -> bool:
        return await try_lock(session, name)

    async def _run_logged(self, name: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            done = await self.run(name)
            if done:
                log.info("job %s acted on %s rows", name, done)
        except Exception:
            log.exception("job %s failed; it will run again at its next interval", name)
        finally:
            self._running.discard(task)

    def _count_run(self, stats: JobStats, done: int | None) -> None:
        if done is None:
            stats.runs["skipped"] += 1  # another instance held the lock
            return
        stats.last_run_at = stats.last_success_at = self._db.clock.now().timestamp()
        stats.runs["acted" if done else "idle"] += 1
        stats.rows += done

    def start(self, extra: dict[str, tuple[Callable[[], Awaitable[Any]], float]] | None = None) -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        now = datetime.now(scheduler.timezone)
        for job in self.jobs.values():
            scheduler.add_job(
                self._run_logged,
                "interval",
                args=[job.name],
                seconds=self._every_seconds or job.interval_seconds,
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
        """Start no new run (the running ones go on: see `wait_for_running`)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def wait_for_running(self, seconds: float) -> None:
        """Let running jobs finish their unit of work; past `seconds`, cancel them (each rolls
        back whole, and its rows fall due again for the next run anywhere)."""
        running = list(self._running)
        if not running:
            return
        _, late = await asyncio.wait(running, timeout=seconds)
        for task in late:
            log.warning("job run cancelled at shutdown after %.1f s; it rolls back and runs again later", seconds)
            task.cancel()
        if late:
            await asyncio.wait(late)
