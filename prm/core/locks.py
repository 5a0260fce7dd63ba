"""Named, transaction-scoped locks for the few writes that must not interleave.

On PostgreSQL a named lock is an advisory lock held until the transaction ends. On SQLite
there is nothing to take: the embedded database lets one writer in at a time.
"""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def lock_key(name: str) -> int:
    """A stable signed 32-bit key per name, the argument PostgreSQL's advisory locks take."""
    return zlib.crc32(f"prm:{name}".encode()) - 2**31


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def hold_lock(session: AsyncSession, name: str) -> None:
    """Wait for the named lock and keep it until this unit of work commits or rolls back."""
    if _is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


async def try_lock(session: AsyncSession, name: str) -> bool:
    """Take the named lock if nobody holds it; False (at once) when somebody does."""
    if not _is_postgres(session):
        return True
    return bool(
        (await session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)})).scalar()
    )
