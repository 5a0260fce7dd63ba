"""Alembic environment: async engine; the URL comes from -x url=..., or PRM_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from prm.models import metadata

config = context.config
DEFAULT_URL = "sqlite+aiosqlite:///./var/prm.db"


def _url() -> str:
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.attributes.get("url")
        or os.environ.get("PRM_DATABASE_URL")
        or DEFAULT_URL
    )


def _compare_type(
    _ctx: object, _inspected: object, _column: object, _db_type: object, model_type: object
) -> bool | None:
    # GUID and DateTimeUTC are TypeDecorators whose stored form differs by dialect; their
    # columns never change type, so only the plain types are compared.
    if isinstance(model_type, (GUID, DateTimeUTC)):
        return False
    return None


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=_compare_type,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
