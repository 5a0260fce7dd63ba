"""Connect timers: forget peer token ids once the tokens have expired anyway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.repository import ConnectRepository
from prm.core.scheduler import JobRunner


async def purge_seen_tokens(session: AsyncSession, now: datetime) -> int:
    return await ConnectRepository(session).purge_tokens(now)


def register_jobs(runner: JobRunner) -> None:
    runner.register("connect.purge_seen_tokens", purge_seen_tokens, every_seconds=600)
