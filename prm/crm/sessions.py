"""Is a token's user live right now: it exists, is active, and its session epoch is the token's.

Every authenticated request (API and pages) runs this one primary-key read, so a user that is
deactivated, changed (role, partner, password) or signed out loses every token at once
instead of when the tokens expire. Deliberately no cache: two instances, or an admin acting on
another instance, must never leave a window in which a revoked token still works.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from prm.core.auth import Principal
from prm.core.db import Database
from prm.crm.models import User

# Built once; only the id is bound per request.
_LIVE = select(User.session_epoch, User.active).where(User.id == bindparam("user_id"))
# The same statement as asyncpg's SQL ($1 for the id), compiled once.
_LIVE_ASYNCPG = str(_LIVE.compile(dialect=asyncpg.dialect()))  # type: ignore[no-untyped-call]


class _LiveRow(NamedTuple):
    session_epoch: int
    active: bool


class LiveSessions:
    def __init__(self, db: Database) -> None:
        self._engine = db.engine
        self._is_sqlite = db.is_sqlite

    async def is_live(self, principal: Principal) -> bool:
        async with self._engine.connect() as connection:
            if self._is_sqlite:
                found = (await connection.execute(_LIVE, {"user_id": principal.user_id})).first()
                row = None if found is None else _LiveRow(session_epoch=found.session_epoch, active=found.active)
            else:
                row = await _read_on_asyncpg(connection, principal)
        return row is not None and row.active and row.session_epoch == principal.epoch


async def _read_on_asyncpg(connection: AsyncConnection, principal: Principal) -> _LiveRow | None:
    """PostgreSQL: the SELECT alone, on the pooled connection's asyncpg driver (one round trip,
    no BEGIN/ROLLBACK, none of the ORM's per-execute work): half the CPU of `execute`."""
    driver: Any = (await connection.get_raw_connection()).driver_connection
    found = await driver.fetchrow(_LIVE_ASYNCPG, principal.user_id)
    return None if found is None else _LiveRow(session_epoch=found["session_epoch"], active=found["active"])
