"""Database plumbing: the declarative base, engine, and the unit of work.

One session per request (or timer run) commits once at the end or rolls everything back.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import msgspec
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import JSON, Integer, MetaData, Text, bindparam, event, insert, update
from sqlalchemy import Enum as SAEnum
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from uuid_utils.compat import uuid7

from prm.core.clock import Clock
from prm.core.seeds import SeedSource, SystemSeeds

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


JSON_TYPE = JSON().with_variant(JSONB(astext_type=Text()), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        uuid.UUID: GUID,
        datetime: DateTimeUTC(timezone=True),
        dict[str, Any]: JSON_TYPE,
        list[Any]: JSON_TYPE,
        list[str]: JSON_TYPE,
    }


def new_id() -> uuid.UUID:
    """Time-ordered UUIDs: unguessable ids that still index like a sequence."""
    return uuid7()


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    """created_at/updated_at come from the injected clock (see `_stamp_times`), not the DB."""

    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class VersionMixin:
    """Optimistic locking: every UPDATE is conditional on the version the row was read at."""

    version: Mapped[int] = mapped_column(Integer, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - a declared_attr takes the class
        return {"version_id_col": cls.version}


@event.listens_for(Session, "before_flush")
def _stamp_times(session: Session, _context: Any, _instances: Any) -> None:
    clock: Clock | None = session.info.get("clock")
    if clock is None:
        return
    now = clock.now()
    for obj in session.new:
        if isinstance(obj, TimestampMixin):
            if getattr(obj, "created_at", None) is None:
                obj.created_at = now
            obj.updated_at = now
    for obj in session.dirty:
        if isinstance(obj, TimestampMixin) and session.is_modified(obj, include_collections=False):
            obj.updated_at = now


_DEFERRED = "deferred_rows"


def defer_insert(session: AsyncSession | Session, model: type[Base], row: dict[str, Any]) -> None:
    """Queue a row that nothing reads back in this unit of work (history, outbox) for one
    multi-row INSERT per table just before commit, instead of one INSERT per flush that
    happens to find it pending. The row carries its own id and timestamps."""
    session.info.setdefault(_DEFERRED, {}).setdefault(model, []).append(row)


async def write_deferred(session: AsyncSession) -> None:
    """The queued rows, in the order their tables were first queued."""
    for model, rows in session.info.pop(_DEFERRED, {}).items():
        await insert_rows(session, model, rows)


async def abandon(session: AsyncSession) -> None:
    """Undo what this unit of work did so far, queued rows included, when a handler answers an
    error with a page of its own instead of raising (so the commit after it has nothing to write)."""
    session.info.pop(_DEFERRED, None)
    await session.rollback()


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """A part of the unit of work that may fail alone: on an error its writes are undone, the
    rows it queued with `defer_insert` included, and the error goes on to the caller."""
    marks = {model: len(rows) for model, rows in session.info.get(_DEFERRED, {}).items()}
    try:
        async with session.begin_nested():
            yield
    except BaseException:
        for model, rows in session.info.get(_DEFERRED, {}).items():
            del rows[marks.get(model, 0) :]
        raise


async def insert_rows(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Complete rows (ids and timestamps included) in multi-row INSERTs on the session's
    connection: the ORM's bulk path would only add cost to rows nothing reads back here."""
    if rows:
        connection = await session.connection()
        await connection.execute(insert(model), rows)


async def save_modified(session: AsyncSession, records: list[Any]) -> None:
    """Write the changed columns of these persistent objects with one executemany UPDATE per
    model and set of changed columns, then mark them written (the ORM's flush sends one UPDATE
    per versioned row where the driver cannot count an executemany's rows, as asyncpg).

    A versioned row's version goes up by one and is part of the WHERE; the caller holds the rows
    locked (PostgreSQL) or is the one writer (SQLite), so the version it read is the one there."""
    groups: dict[tuple[type[Any], tuple[str, ...]], list[Any]] = {}
    for record in records:
        state = sa_inspect(record)
        columns = state.mapper.column_attrs.keys()
        keys = tuple(sorted(k for k in state.committed_state if k in columns))
        if keys:
            groups.setdefault((type(record), keys), []).append(record)
    now = session.info["clock"].now() if "clock" in session.info else None
    connection = await session.connection()
    for (model, keys), group in groups.items():
        result = await connection.execute(*_update_many(model, keys, group, now))
        if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(group):
            raise StaleDataError(f"{model.__name__}: {len(group)} rows to update, {result.rowcount} matched.")
        for record in group:
            _mark_written(record, keys, now)


def _update_many(model: type[Any], keys: tuple[str, ...], group: list[Any], now: datetime | None) -> tuple[Any, Any]:
    table = model.__table__
    versioned = issubclass(model, VersionMixin)
    stamped = issubclass(model, TimestampMixin) and now is not None and "updated_at" not in keys
    values: dict[str, Any] = {k: bindparam(f"b_{k}", type_=table.c[k].type) for k in keys}
    where = [table.c.id == bindparam("b_id", type_=table.c.id.type)]
    if versioned:
        values["version"] = table.c.version + 1
        where.append(table.c.version == bindparam("b_version"))
    if stamped:
        values["updated_at"] = bindparam("b_updated_at", type_=table.c.updated_at.type)
    rows = []
    for record in group:
        row = {f"b_{k}": getattr(record, k) for k in keys} | {"b_id": record.id}
        if versioned:
            row["b_version"] = record.version
        if stamped:
            row["b_updated_at"] = now
        rows.append(row)
    return update(table).where(*where).values(values), rows


def _mark_written(record: Any, keys: tuple[str, ...], now: datetime | None) -> None:
    for key in keys:
        set_committed_value(record, key, getattr(record, key))
    if isinstance(record, VersionMixin):
        set_committed_value(record, "version", record.version + 1)
    if isinstance(record, TimestampMixin) and now is not None and "updated_at" not in keys:
        set_committed_value(record, "updated_at", now)


class Database:
    """Owns the engine and hands out sessions that know the clock and the source of random seeds."""

    def __init__(
        self, url: str, *, clock: Clock, seeds: SeedSource | None = None, pool_size: int = 10, echo: bool = False
    ) -> None:
        self.url = url
        self.clock = clock
        self.seeds = seeds or SystemSeeds()
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = _make_engine(url, pool_size=pool_size, echo=echo)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.after_commit_hooks: list[Callable[[AsyncSession], None]] = []

    def session(self) -> AsyncSession:
        session = self._sessions()
        session.info["clock"] = self.clock
        session.info["seeds"] = self.seeds
        return session

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """Commit once on success, roll everything back on any error."""
        async with self.session() as session:
            try:
                yield session
                await write_deferred(session)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        for hook in self.after_commit_hooks:
            hook(session)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# JSON columns (history changes, outbox payloads, conflicts) through msgspec: several times
# faster than the standard library both ways, which timers writing 100k rows feel.
_JSON = {"json_serializer": _json_text, "json_deserializer": msgspec.json.decode}


def _make_engine(url: str, *, pool_size: int, echo: bool) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Every transaction takes SQLite's one write lock at BEGIN, so a second pooled
        # connection only ever waits in SQLite's busy handler, which polls with growing sleeps
        # and lets newcomers overtake: seconds-long tails under load. One connection makes
        # the wait an asyncio queue instead: first come, first served, no sleeping.
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=30, **_JSON
        )
        _configure_sqlite(engine.sync_engine)
        return engine
    # Each connection names its process in pg_stat_activity, so an operator running several
    # instances sees which one holds a lock or a long transaction (and which to stop).
    server_settings = {"application_name": f"prm {socket.gethostname()[:30]} {os.getpid()}"}
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"server_settings": server_settings},
        **_JSON,
    )
    _skip_closed_connections(engine.sync_engine)
    return engine


def _skip_closed_connections(engine: Engine) -> None:
    """A pre-ping that costs no round trip.

    asyncpg's `pool_pre_ping` is BEGIN, a query, ROLLBACK: three round trips on every checkout,
    as many as a whole read request needs. A connection the server closed (restart, idle
    timeout, pg_terminate_backend) is already known to asyncpg as closed, so checking that is
    free; raising DisconnectionError makes the pool retry with a fresh connection. One that
    died silently fails its request once, and SQLAlchemy then invalidates the pooled rest.
    """

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the database server closed this pooled connection")


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE.

    SQLite's default deferred transactions fail with "database is locked" when two readers
    both try to upgrade to writers; taking the write lock at BEGIN makes writers queue instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def enum_column(enum: type[Any], **kwargs: Any) -> Any:
    """A portable enum column stored as its string value (no native PostgreSQL ENUM type)."""
    return mapped_column(
        SAEnum(
            enum, native_enum=False, length=40, values_callable=lambda e: [m.value for m in e], validate_strings=True
        ),
        **kwargs,
    )
