"""Is a token's user live right now: it exists, is active, and its session epoch is the token's.

Every authenticated request (API and pages) runs this one primary-key read, so a user that is
deactivated, changed (role, partner, password) or signed out loses every token at once
instead of when the tokens expire. Deliberately no cache: two instances, or an admin acting on
another instance, must never leave a window in which a revoked token still works.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from prm.core.auth import Principal
from prm.core.db import Database
from prm.crm.models import User

# Built once; only the id is bound per request.
_LIVE = select(User.session_epoch, User.active).where(User.id == bindparam("user_id"))


class _LiveRow(NamedTuple):
    session_epoch: int
    active: bool


class LiveSessions:
    def __init__(self, db: Database) -> None:
        # PostgreSQL: an autocommit connection sends the SELECT alone, one round trip, where a
        # transaction would add BEGIN and ROLLBACK. SQLite's is in-process, so its own
        # BEGIN/ROLLBACK (prm.core.db) cost next to nothing.
        engine: AsyncEngine = db.engine
        self._engine = engine if db.is_sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")

    async def is_live(self, principal: Principal) -> bool:
        async with self._engine.connect() as connection:
            found = (await connection.execute(_LIVE, {"user_id": principal.user_id})).first()
        if found is None:
            return False
        row = _LiveRow(session_epoch=found.session_epoch, active=found.active)
        return row.active and row.session_epoch == principal.epoch
