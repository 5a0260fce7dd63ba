"""Before a command uses the database: can it? If not, one line that names PRM_DATABASE_URL.

Without this, a database that does not exist or a server that is down shows up as a driver
traceback from deep inside the first query, and an unmigrated one as "no such table".
"""

from __future__ import annotations

import functools
import os
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

CONNECT_TIMEOUT_SECONDS = 10
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
UPGRADE_HINT = "run `prm db upgrade`"


class DatabaseUnavailable(Exception):
    """Raised with a one-line message that starts with PRM_DATABASE_URL."""


@dataclass(frozen=True)
class SchemaNeeded:
    """The migrations this code knows: the database must be at the heads. A revision this code
    does not know is newer (applied by the next release during a rolling deploy) and is let be."""

    heads: frozenset[str]
    known: frozenset[str]


@functools.cache
def schema_needed() -> SchemaNeeded:
    """The heads of this code's migrations (read from the files once per process)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS))
    return SchemaNeeded(
        heads=frozenset(scripts.get_heads()), known=frozenset(r.revision for r in scripts.walk_revisions())
    )


async def check_schema(engine: AsyncEngine) -> None:
    """For readiness: the running database answers and is at this code's schema (or newer)."""
    async with engine.connect() as connection:
        try:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        except Exception:  # no such table: never migrated
            raise DatabaseUnavailable(f"the database has no prm schema ({UPGRADE_HINT})") from None
        versions = {str(row[0]) for row in rows}
    _require_schema(versions, schema_needed(), where="in use")


async def check_database(url: str, *, schema: SchemaNeeded | None) -> None:
    """Connect once; with `schema`, also require the database to be migrated."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite(parsed, schema)
    else:
        await _check_postgres(parsed, schema)


def _check_sqlite(url: URL, schema: SchemaNeeded | None) -> None:
    if schema is None:
        return  # `db upgrade` creates the file (and its folder)
    path = Path(url.database or "")
    if not path.is_file():
        raise DatabaseUnavailable(f"PRM_DATABASE_URL: there is no database file at {path} ({UPGRADE_HINT})")
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as connection:
            versions = {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
    except sqlite3.Error:
        versions = set()
    _require_schema(versions, schema, where=str(path))


async def _check_postgres(url: URL, schema: SchemaNeeded | None) -> None:
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
    except asyncpg.InvalidCatalogNameError:
        raise DatabaseUnavailable(
            f"PRM_DATABASE_URL: database {url.database!r} does not exist on {where} "
            f"(create it: createdb -h {url.host or 'localhost'} -p {url.port or 5432} "
            f"-U {url.username or 'postgres'} {url.database})"
        ) from None
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError) as exc:
        refused = f"{where} refused user {url.username!r}"
        raise DatabaseUnavailable(f"PRM_DATABASE_URL: {refused}: {_first_line(exc)}") from None
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnavailable(f"PRM_DATABASE_URL: cannot reach PostgreSQL at {where} ({_reason(exc)})") from None
    except asyncpg.PostgresError as exc:
        raise DatabaseUnavailable(f"PRM_DATABASE_URL: {where}: {_first_line(exc)}") from None
    try:
        if schema is not None:
            versions = await _postgres_versions(connection)
            _require_schema(versions, schema, where=f"{url.database!r} on {where}")
    finally:
        await connection.close()


async def _postgres_versions(connection: asyncpg.Connection) -> set[str]:
    if not await connection.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
        return set()
    return {row["version_num"] for row in await connection.fetch("SELECT version_num FROM alembic_version")}


def _require_schema(versions: set[str], schema: SchemaNeeded, *, where: str) -> None:
    if not versions:
        raise DatabaseUnavailable(f"PRM_DATABASE_URL: the database {where} has no prm schema ({UPGRADE_HINT})")
    behind = (versions & schema.known) - schema.heads
    if behind:
        raise DatabaseUnavailable(
            f"PRM_DATABASE_URL: the database {where} is at schema {', '.join(sorted(behind))}, "
            f"this prm needs {', '.join(sorted(schema.heads))} ({UPGRADE_HINT})"
        )


def _reason(exc: OSError | TimeoutError) -> str:
    if isinstance(exc, socket.gaierror):
        return f"host not found: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return f"no answer in {CONNECT_TIMEOUT_SECONDS} s"
    return os.strerror(exc.errno).lower() if exc.errno else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
