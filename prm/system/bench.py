"""The benchmark floor: the cheapest authenticated write the service can do.

`POST /api/v1/bench/floor` goes through everything a real create goes through except the
record's own rules - bearer token, role guard, a decoded JSON body, the per-request unit of
work, one INSERT, the commit, a JSON reply - so `bench/` can tell what a create costs on top
of the plumbing. It writes one `activity` row, so it needs no table of its own.

Registered only when PRM_BENCH_ENDPOINTS=true, which is never the default.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Router, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import EVERYONE, Principal, allow
from prm.settings import Settings


class FloorWrite(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class FloorWritten(msgspec.Struct):
    id: uuid.UUID


class BenchController(Controller):
    path = "/bench"
    tags = ["operations"]
    guards = [allow(*EVERYONE)]
    include_in_schema = False

    @post("/floor", summary="Insert one tiny row (benchmark floor)")
    async def floor(self, db_session: AsyncSession, principal: Principal, data: FloorWrite) -> FloorWritten:
        entry_id = record_activity(
            db_session,
            entity_type="bench",
            entity_id=principal.user_id,
            action="floor",
            actor=principal,
            note=data.note or None,
        )
        # A create flushes its record before replying; so does the floor (its history row, like
        # every history row, is written by the unit of work's one INSERT per table at commit).
        await db_session.flush()
        return FloorWritten(id=entry_id)


def register_bench_routes(api: Router, settings: Settings) -> None:
    """Add the floor to the API router, only when the operator asked for it."""
    if settings.bench_endpoints:
        api.register(BenchController)
