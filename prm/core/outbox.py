"""The outbox: side effects written in the business transaction, delivered after commit.

`enqueue_email` and `publish_event` only insert rows. `OutboxDispatcher.run_once` takes due
rows (SKIP LOCKED on PostgreSQL, held until the results are written, so several instances never
send the same row at once and a crashed one's rows are taken over at once), delivers them,
and on failure backs off exponentially until `max_attempts`, when the row is
marked dead and shown to vendor admins. Delivery is at-least-once; webhook receivers dedupe
on the `X-PRM-Delivery` id.

A kind may have a batch deliverer (peer messages: one signed request per peer carrying many
messages) and its own retry policy; a success to a destination releases that destination's
messages still backing off, so a peer that comes back is caught up at once, not after the
longest backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Index,
    LargeBinary,
    Select,
    String,
    Text,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.db import Base, Database, IdMixin, defer_insert, enum_column, insert_rows, new_id
from prm.core.request_id import bind_request_id, current_request_id

log = logging.getLogger("prm.outbox")

MAX_BACKOFF = timedelta(hours=1)
# How a batch deliverer's reason starts when the far side answered but refused one message.
REFUSED = "refused: "
FIRST_BACKOFF = timedelta(seconds=10)


class OutboxKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    PEER = "peer"  # a message to a connected prm instance (prm.connect)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class OutboxMessage(IdMixin, Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    kind: Mapped[OutboxKind] = enum_column(OutboxKind)
    topic: Mapped[str] = mapped_column(String(100))
    destination: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]]
    status: Mapped[OutboxStatus] = enum_column(OutboxStatus, default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None]
    # The id of the request (or timer run) that wrote the message: its delivery logs under it.
    request_id: Mapped[str | None] = mapped_column(String(128))


def _mark_written(session: AsyncSession) -> None:
    session.info["outbox_written"] = True


def _message_row(
    message_id: uuid.UUID, kind: OutboxKind, topic: str, destination: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": message_id,
        "kind": kind,
        "topic": topic,
        "destination": destination,
        "payload": payload,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "request_id": current_request_id(),
    }


def enqueue(
    session: AsyncSession, *, kind: OutboxKind, topic: str, destination: str, payload: dict[str, Any]
) -> uuid.UUID:
    """Queue one message, written with the unit of work's other messages at commit."""
    message_id = new_id()
    row = _message_row(message_id, kind, topic, destination, payload, session.info["clock"].now())
    defer_insert(session, OutboxMessage, row)
    _mark_written(session)
    return message_id


def enqueue_email(
    session: AsyncSession, *, to: str, subject: str, text: str, topic: str = "email", html: str | None = None
) -> uuid.UUID:
    payload = {"to": to, "subject": subject, "text": text, "html": html}
    return enqueue(session, kind=OutboxKind.EMAIL, topic=topic, destination=to, payload=payload)


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    topic: str = "email"


async def enqueue_bulk(session: AsyncSession, rows: list[tuple[OutboxKind, str, str, dict[str, Any]]]) -> None:
    """Queue many messages with one INSERT (timers that act on thousands of rows at once)."""
    if not rows:
        return
    now = session.info["clock"].now()
    values = [_message_row(new_id(), kind, topic, to, payload, now) for kind, topic, to, payload in rows]
    await insert_rows(session, OutboxMessage, values)
    _mark_written(session)


async def enqueue_emails(session: AsyncSession, emails: list[Email]) -> None:
    await enqueue_bulk(
        session,
        [
            (OutboxKind.EMAIL, e.topic, e.to, {"to": e.to, "subject": e.subject, "text": e.text, "html": None})
            for e in emails
        ],
    )


# The bytes of one new_id() that every message of one `enqueue_email_to_each` shares: the time,
# version, counter and variant bits. The rest (7 bytes) is random per row.
_SHARED_ID_BYTES = 9


def _fanout_ids(postgres: bool) -> ColumnElement[Any]:
    """A UUIDv7 per row, made by the statement: `head` (a fresh new_id()'s first bytes) then random bytes."""
    head = bindparam("head", type_=LargeBinary)
    if postgres:
        tail = func.substr(func.uuid_send(func.gen_random_uuid()), _SHARED_ID_BYTES + 1)
        return cast(func.encode(head.op("||")(tail), "hex"), postgresql.UUID)
    return cast(head.op("||")(func.randomblob(16 - _SHARED_ID_BYTES)), LargeBinary)


def _fanout_payload(postgres: bool, to: ColumnElement[str]) -> ColumnElement[Any]:
    """The payload `enqueue_email` writes ({to, subject, text, html: null}), built by the database."""
    subject, text = bindparam("subject", type_=Text), bindparam("text", type_=Text)
    build = func.jsonb_build_object if postgres else func.json_object
    return build(literal("to"), to, literal("subject"), subject, literal("text"), text, literal("html"), null())


async def enqueue_email_to_each(
    session: AsyncSession, addresses: Select[tuple[str]], *, topic: str, subject: str, text: str
) -> None:
    """The same email to every address the query yields, queued with one INSERT ... SELECT: a
    thousand recipients cost the database a row each and Python nothing per recipient. The rows
    are those `enqueue_email` writes; their ids are UUIDv7 sharing one new_id()'s time and
    counter (they sort together, after the messages written before), random in their last bytes."""
    postgres = session.get_bind().dialect.name == "postgresql"
    source = addresses.subquery()
    to = next(iter(source.c))
    table = OutboxMessage.__table__
    now = bindparam("now", type_=table.c.created_at.type)
    rows = select(
        _fanout_ids(postgres),
        literal(OutboxKind.EMAIL, table.c.kind.type),
        literal(topic, table.c.topic.type),
        to,
        _fanout_payload(postgres, to),
        literal(OutboxStatus.PENDING, table.c.status.type),
        literal(0),
        now,
        now,
        literal(current_request_id(), table.c.request_id.type),
    ).select_from(source)
    columns = ["id", "kind", "topic", "destination", "payload", "status", "attempts", "next_attempt_at"]
    stmt = insert(OutboxMessage).from_select([*columns, "created_at", "request_id"], rows)
    values = {"head": new_id().bytes[:_SHARED_ID_BYTES], "subject": subject, "text": text}
    connection = await session.connection()
    await connection.execute(stmt, values | {"now": session.info["clock"].now()})
    _mark_written(session)


@dataclass(frozen=True)
class Claimed:
    """A message taken for one delivery attempt, detached from any session."""

    id: uuid.UUID
    kind: OutboxKind
    topic: str
    destination: str
    payload: dict[str, Any]
    attempts: int
    request_id: str | None = None


Deliverer = Callable[[Claimed], Awaitable[None]]
# Delivers many messages of one kind at once; per message id, None (delivered) or why not.
BatchDeliverer = Callable[[list[Claimed]], Awaitable[dict[uuid.UUID, str | None]]]
Outcome = tuple[Claimed, str | None]
LEASE = timedelta(minutes=5)
RELEASE_WITHIN = LEASE / 2


@dataclass(frozen=True)
class RetryPolicy:
    """How a kind backs off: `first`, doubled per attempt up to `longest`; dead after `max_attempts`."""

    max_attempts: int
    first: timedelta = FIRST_BACKOFF
    longest: timedelta = MAX_BACKOFF

    def delay(self, attempts: int) -> timedelta:
        delay: timedelta = self.first * (2 ** max(attempts - 1, 0))
        return min(delay, self.longest)


def backoff(attempts: int) -> timedelta:
    return RetryPolicy(max_attempts=0).delay(attempts)


class OutboxDispatcher:
    """SQLite: claim due rows (one short transaction), deliver with no transaction open, record
    results. (PostgreSQL: `_run_locked`, where a row lock, not a lease, keeps others off.)

    A claim pushes `next_attempt_at` out by a lease, so a crash between claim and result only
    delays the message until the lease ends; it is never lost. Holding no transaction during
    network calls matters most on SQLite, where an open write transaction blocks every writer.
    """

    def __init__(
        self,
        db: Database,
        deliverers: dict[OutboxKind, Deliverer],
        *,
        max_attempts: int,
        concurrency: int = 8,
        batch_deliverers: dict[OutboxKind, BatchDeliverer] | None = None,
        policies: dict[OutboxKind, RetryPolicy] | None = None,
    ) -> None:
        self._db = db
        self._deliverers = deliverers
        self._batch_deliverers = batch_deliverers or {}
        self._default_policy = RetryPolicy(max_attempts=max_attempts)
        self._policies = policies or {}
        self._limit = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._stopping = False
        db.after_commit_hooks.append(self._after_commit)

    def _after_commit(self, session: AsyncSession) -> None:
        if session.info.pop("outbox_written", False):
            self._wakeup.set()

    async def run_once(self, batch: int = 500) -> int:
        """Deliver what is due now; returns how many messages were attempted."""
        if not self._db.is_sqlite:
            return await self._run_locked(batch)
        claimed = await self._claim(batch)
        if not claimed:
            return 0
        outcomes = await self._deliver(claimed)
        await self._record(outcomes)
        return len(claimed)

    async def _run_locked(self, batch: int) -> int:
        """PostgreSQL: the due rows stay locked (SKIP LOCKED) while they are delivered and their
        results written, in one transaction. An instance that dies mid-delivery loses its locks
        with its connection, so another instance sends those messages on its next poll instead
        of after a lease; a delivery the far side took just before the crash may come again
        (at-least-once: receivers dedupe on the delivery id or message id)."""
        async with self._db.unit_of_work() as session:
            stmt = self._due(self._db.clock.now(), batch).with_for_update(skip_locked=True)
            rows = (await session.scalars(stmt)).all()
            claimed = [
                Claimed(r.id, r.kind, r.topic, r.destination, dict(r.payload), r.attempts + 1, r.request_id)
                for r in rows
            ]
            outcomes = await self._deliver(claimed)
            now, by_id = self._db.clock.now(), {row.id: row for row in rows}
            for message, error in outcomes:
                by_id[message.id].attempts = message.attempts
                self._settle(by_id[message.id], message, error, now)
            await self._release_reached(session, outcomes, now)
        return len(claimed)

    @staticmethod
    def _due(now: datetime, batch: int) -> Select[tuple[OutboxMessage]]:
        # By due time, then id: a peer's messages of one moment go in the order they were written.
        return (
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch)
        )

    def _settle(self, row: OutboxMessage, claimed: Claimed, error: str | None, now: datetime) -> None:
        policy = self._policy(claimed.kind)
        if error is None:
            row.status, row.delivered_at, row.last_error = OutboxStatus.DELIVERED, now, None
        elif claimed.attempts >= policy.max_attempts:
            row.status, row.last_error = OutboxStatus.DEAD, error
            with bind_request_id(claimed.request_id):
                log.warning("outbox message %s is dead after %s attempts", row.id, claimed.attempts)
        else:
            row.next_attempt_at, row.last_error = now + policy.delay(claimed.attempts), error

    async def _deliver(self, claimed: list[Claimed]) -> list[Outcome]:
        singles = [m for m in claimed if m.kind not in self._batch_deliverers]
        batches = {kind: [m for m in claimed if m.kind is kind] for kind in self._batch_deliverers}
        single_errors, batch_outcomes = await asyncio.gather(
            asyncio.gather(*(self._attempt(message) for message in singles)),
            asyncio.gather(*(self._attempt_batch(kind, messages) for kind, messages in batches.items() if messages)),
        )
        outcomes = list(zip(singles, single_errors, strict=True))
        return outcomes + [outcome for group in batch_outcomes for outcome in group]

    async def _attempt_batch(self, kind: OutboxKind, messages: list[Claimed]) -> list[Outcome]:
        try:
            results = await self._batch_deliverers[kind](messages)
        except Exception as exc:  # the whole batch failed; every message in it is retried
            error = f"{type(exc).__name__}: {exc}"[:2000]
            outcomes: list[Outcome] = [(message, error) for message in messages]
        else:
            outcomes = [(message, results.get(message.id, "not attempted")) for message in messages]
        for message, failure in outcomes:  # one line each, under the request id that wrote it
            with bind_request_id(message.request_id):
                if failure is None:
                    log.info("outbox %s %s delivered (%s)", message.kind, message.id, message.topic)
                else:
                    log.warning("outbox %s %s attempt %s failed: %s", kind, message.id, message.attempts, failure)
        return outcomes

    def _policy(self, kind: OutboxKind) -> RetryPolicy:
        return self._policies.get(kind, self._default_policy)

    async def _claim(self, batch: int) -> list[Claimed]:
        async with self._db.unit_of_work() as session:
            now = self._db.clock.now()
            rows = (await session.scalars(self._due(now, batch))).all()
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = now + LEASE
            return [
                Claimed(r.id, r.kind, r.topic, r.destination, dict(r.payload), r.attempts, r.request_id) for r in rows
            ]

    async def _attempt(self, message: Claimed) -> str | None:
        async with self._limit:
            with bind_request_id(message.request_id):
                try:
                    await self._deliverers[message.kind](message)
                except Exception as exc:  # any failure of the far side is retried, never lost
                    error = f"{type(exc).__name__}: {exc}"[:2000]
                    log.warning("outbox %s %s attempt %s failed: %s", message.kind, message.id, message.attempts, error)
                    return error
                log.info("outbox %s %s delivered (%s)", message.kind, message.id, message.topic)
        return None

    async def _record(self, results: list[Outcome]) -> None:
        async with self._db.unit_of_work() as session:
            now = self._db.clock.now()
            rows = await _pending_rows(session, [claimed.id for claimed, _ in results])
            for claimed, error in results:
                row = rows.get(claimed.id)
                if row is not None:
                    self._settle(row, claimed, error, now)
            await self._release_reached(session, results, now)

    async def _release_reached(self, session: AsyncSession, results: list[Outcome], now: datetime) -> None:
        """A destination that just took a batch is up again: what waits for it goes now (not
        what was just attempted: a message refused in this very batch keeps its backoff)."""
        attempted = [c.id for c, _ in results]
        for kind in self._batch_deliverers:
            reached = {c.destination for c, error in results if c.kind is kind and error is None}
            if not reached:
                continue
            longest = min(self._policy(kind).longest, RELEASE_WITHIN)
            await release_waiting(session, kind=kind, destinations=reached, now=now, within=longest, besides=attempted)

    async def run_forever(self, poll_seconds: float) -> None:
        """Deliver soon after each commit that wrote to the outbox, and poll for retries."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=poll_seconds)
            self._wakeup.clear()
            try:
                while not self._stopping and await self.run_once() > 0:
                    pass
            except Exception:  # keep the loop alive; the rows stay pending
                log.exception("outbox dispatch failed")

    def stop(self) -> None:
        """Finish the batch in hand (its results recorded), then leave `run_forever`."""
        self._stopping = True
        self._wakeup.set()


async def release_waiting(
    session: AsyncSession,
    *,
    kind: OutboxKind,
    destinations: set[str],
    now: datetime,
    within: timedelta = RELEASE_WITHIN,
    besides: list[uuid.UUID] | None = None,
) -> int:
    """Make due now the messages to these destinations that back off after failing to reach
    them (due within `within`, which is shorter than a claim's lease, so a message another
    dispatcher is sending stays with it); not the ones a destination refused."""
    waiting = [
        OutboxMessage.kind == kind,
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.destination.in_(destinations),
        OutboxMessage.next_attempt_at > now,
        OutboxMessage.next_attempt_at <= now + within,
        OutboxMessage.last_error.not_like(f"{REFUSED}%"),
    ]
    if besides:
        waiting.append(OutboxMessage.id.not_in(besides))
    if session.get_bind().dialect.name == "postgresql":
        # Rows another instance holds while it delivers them are its business: skipping them
        # (rather than waiting) keeps two dispatchers from waiting on each other's locks.
        waiting = [OutboxMessage.id.in_(select(OutboxMessage.id).where(*waiting).with_for_update(skip_locked=True))]
    stmt = (
        update(OutboxMessage).where(*waiting).values(next_attempt_at=now).execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    released = int(getattr(result, "rowcount", 0) or 0)
    if released:
        _mark_written(session)
    return released


async def _pending_rows(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, OutboxMessage]:
    rows: dict[uuid.UUID, OutboxMessage] = {}
    for start in range(0, len(ids), 500):
        stmt = select(OutboxMessage).where(
            OutboxMessage.id.in_(ids[start : start + 500]), OutboxMessage.status == OutboxStatus.PENDING
        )
        rows.update((row.id, row) for row in await session.scalars(stmt))
    return rows


async def retry_message(session: AsyncSession, message_id: uuid.UUID) -> OutboxMessage | None:
    """Put a dead (or pending) message back in line for immediate delivery."""
    message = await session.get(OutboxMessage, message_id)
    if message is None:
        return None
    if message.status != OutboxStatus.DELIVERED:
        message.status = OutboxStatus.PENDING
        message.next_attempt_at = session.info["clock"].now()
        message.attempts = 0
        _mark_written(session)
    return message


async def replay_message(
    session: AsyncSession, message_id: uuid.UUID, *, kind: OutboxKind, destination: str
) -> OutboxMessage | None:
    """Deliver a message of this destination again now, a delivered one too: it keeps its id
    (the event id receivers see), so a receiver that already has it can tell it is the same event."""
    message = await session.get(OutboxMessage, message_id)
    if message is None or message.kind != kind or message.destination != destination:
        return None
    message.status = OutboxStatus.PENDING
    message.next_attempt_at = session.info["clock"].now()
    message.attempts = 0
    message.delivered_at = None
    _mark_written(session)
    return message


async def replay_dead(session: AsyncSession, *, kind: OutboxKind, destination: str) -> int:
    """Every dead letter of one destination back in line for delivery now, in one statement."""
    stmt = (
        update(OutboxMessage)
        .where(
            OutboxMessage.kind == kind,
            OutboxMessage.destination == destination,
            OutboxMessage.status == OutboxStatus.DEAD,
        )
        .values(status=OutboxStatus.PENDING, next_attempt_at=session.info["clock"].now(), attempts=0)
        .execution_options(synchronize_session=False)
    )
    replayed = int((await session.execute(stmt)).rowcount or 0)  # type: ignore[attr-defined]
    if replayed:
        _mark_written(session)
    return replayed


@dataclass(frozen=True)
class OutboxFigures:
    """One kind's backlog for `/metrics`."""

    kind: str
    pending: int
    due: int  # pending and due now: what the dispatcher has not caught up with
    dead: int
    oldest_pending_at: datetime | None


async def outbox_figures(session: AsyncSession, now: datetime) -> list[OutboxFigures]:
    """Pending and dead messages per kind, in one grouped read of the (status, next_attempt_at) index."""
    stmt = (
        select(
            OutboxMessage.kind,
            OutboxMessage.status,
            func.count(),
            func.coalesce(func.sum(case((OutboxMessage.next_attempt_at <= now, 1), else_=0)), 0),
            func.min(OutboxMessage.created_at),
        )
        .where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]))
        .group_by(OutboxMessage.kind, OutboxMessage.status)
    )
    found = {(kind, status): (count, due, oldest) for kind, status, count, due, oldest in await session.execute(stmt)}
    figures = []
    for kind in OutboxKind:
        pending, due, oldest = found.get((kind, OutboxStatus.PENDING), (0, 0, None))
        dead = found.get((kind, OutboxStatus.DEAD), (0, 0, None))[0]
        figures.append(OutboxFigures(kind.value, int(pending), int(due), int(dead), oldest))
    return figures
