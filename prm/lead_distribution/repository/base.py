"""What the lead distribution stores share."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

BATCH = 500


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"
