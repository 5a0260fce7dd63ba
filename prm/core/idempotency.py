"""`Idempotency-Key` for creating POSTs.

The key is stored with a fingerprint of the request and the reply in the same transaction as
the record it created: a retry with the same key and body gets the same reply and no second
row; the same key with another body is refused (422); two racing requests with one key
collide on the primary key and the loser gets 409.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from sqlalchemy import LargeBinary, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.auth import Principal
from prm.core.db import Base
from prm.core.errors import Conflict, DomainError, RuleViolation

T = TypeVar("T")
HEADER = "idempotency-key"
KEEP_FOR = timedelta(hours=24)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    principal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(index=True)


class BadIdempotencyKey(DomainError):
    status_code = 400
    type_slug = "validation"


async def _fingerprint(request: Request[Any, Any, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}\n".encode())
    digest.update(await request.body())
    return digest.hexdigest()


async def idempotent_create(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    principal: Principal,
    create: Callable[[], Awaitable[T]],
    read_type: type[T],
    status_code: int = 201,
) -> Response[T]:
    """Run `create` once per (caller, Idempotency-Key); replay the stored reply afterwards."""
    key = request.headers.get(HEADER)
    if key is None:
        return Response(await create(), status_code=status_code)
    if not 1 <= len(key) <= 200:
        raise BadIdempotencyKey("Idempotency-Key must be 1 to 200 characters.", field="Idempotency-Key")
    fingerprint = await _fingerprint(request)
    stored = await session.get(IdempotencyRecord, (principal.user_id, key))
    if stored is not None:
        return _replay(stored, fingerprint, read_type)
    result = await create()
    session.add(
        IdempotencyRecord(
            principal_id=principal.user_id,
            key=key,
            fingerprint=fingerprint,
            status_code=status_code,
            body=msgspec.json.encode(result),
            created_at=session.info["clock"].now(),
        )
    )
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("Another request with this Idempotency-Key is in progress.", field="Idempotency-Key") from exc
    return Response(result, status_code=status_code)


def _replay(stored: IdempotencyRecord, fingerprint: str, read_type: type[T]) -> Response[T]:
    if stored.fingerprint != fingerprint:
        raise RuleViolation("This Idempotency-Key was used with a different request body.", field="Idempotency-Key")
    body = msgspec.json.decode(stored.body, type=read_type)
    return Response(body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})


async def purge_expired_keys(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - KEEP_FOR))
    return int(getattr(result, "rowcount", 0) or 0)
