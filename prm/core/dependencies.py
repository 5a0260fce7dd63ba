"""Litestar dependencies shared by every domain: the unit of work, the caller, paging, time."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import provide_principal
from prm.core.clock import Clock
from prm.core.pagination import provide_page_request


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One unit of work per request: commit once after the handler, or roll it all back."""
    async with state.db.unit_of_work() as session:
        yield session


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


DEPENDENCIES: dict[str, Any] = {
    "db_session": Provide(provide_db_session),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "page": Provide(provide_page_request, sync_to_thread=False),
    "clock": Provide(provide_clock, sync_to_thread=False),
}
