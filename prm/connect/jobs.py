"""Connect timers: forget peer token ids once the tokens have expired anyway; at start-up (and
hourly) say hello to every live peer, so what it holds for us comes at once, not after its
retry backoff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.client import send
from prm.connect.repository import ConnectRepository
from prm.core.scheduler import JobRunner


async def purge_seen_tokens(session: AsyncSession, now: datetime) -> int:
    return await ConnectRepository(session).purge_tokens(now)


async def say_hello(session: AsyncSession, now: datetime) -> int:
    connections = await ConnectRepository(session).live_connections()
    for connection in connections:
        send(session, connection, "hello", {"at": now.isoformat()})
    return len(connections)


def register_jobs(runner: JobRunner) -> None:
    runner.register("connect.purge_seen_tokens", purge_seen_tokens, every_seconds=600)
    runner.register("connect.say_hello", say_hello, every_seconds=3600)
