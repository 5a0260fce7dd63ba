"""Failure counters with a growing delay, shared by every instance: sign-in throttling.

Each attempt first *reserves* a failure on its keys (the client address, then the account),
atomically and conditionally: refused while the key is blocked, else counted, and once the
count reaches the key's free allowance the key is blocked for a delay that doubles with each
further failure (capped). A success hands the reservation back. Reserving before the password
is checked means a burst of parallel guesses cannot all slip in under the limit, and because
the counter is one conditional upsert (or one Redis script), two `prm serve` processes sharing
the database or Redis share one limit. Failures older than the window are forgotten.

Next to it, `hit` counts requests in a fixed window per key (the public web-to-lead form's
limit per client address), with the same two homes: one upsert in the database or an INCR in
Redis. Nothing of either lives in one process's memory.

Times come from the injected clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import Float, Integer, String, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.dml import Insert

from prm.core.clock import Clock
from prm.core.db import Base, Database


class ThrottleCounter(Base):
    """One key's failures (`account:<email>`, `client:<address>`); times are Unix seconds."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    delay_seconds: Mapped[int] = mapped_column(Integer)
    blocked_until: Mapped[float | None] = mapped_column(Float)
    last_attempt_at: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class ThrottlePolicy:
    base_delay_seconds: int
    max_delay_seconds: int
    window_seconds: int


class RateWindow(Base):
    """Requests counted for one key (`web-to-lead:<address>`) since its window started (Unix seconds)."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    started_at: Mapped[float] = mapped_column(Float, index=True)
    hits: Mapped[int] = mapped_column(Integer)


class Throttle(Protocol):
    async def reserve(self, key: str, *, free: int) -> float | None:
        """Count an attempt on `key`: None if it may go ahead, else the seconds to wait."""
        ...

    async def refund(self, key: str) -> None:
        """Hand back an attempt that succeeded (the key's earlier failures still count)."""
        ...

    async def reset(self, key: str) -> None:
        """Forget every failure of `key` (a successful sign-in resets its account)."""
        ...

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> float | None:
        """Count a request on `key`: None if it is within `limit` per window, else the seconds
        until the window ends."""
        ...

    async def close(self) -> None: ...


def first_delay(policy: ThrottlePolicy, free: int) -> int:
    """The delay after a key's first failure: none unless a single failure uses up the allowance."""
    return policy.base_delay_seconds if free <= 1 else 0


# --- the database: one conditional upsert per attempt ------------------------------------------

_T = ThrottleCounter.__table__
_NOW = bindparam("now", type_=Float)
_FREE = bindparam("free", type_=Integer)
_BASE = bindparam("base", type_=Integer)
_MAX = bindparam("max_delay", type_=Integer)
_WINDOW = bindparam("window", type_=Float)


def _reserve_statement(insert: Any) -> Insert:
    stale = _T.c.last_attempt_at < _NOW - _WINDOW
    failures = case((stale, 1), else_=_T.c.failures + 1)
    blocking = failures >= _FREE
    doubled = case((_T.c.delay_seconds * 2 > _MAX, _MAX), else_=_T.c.delay_seconds * 2)
    delay = case((~blocking, 0), (or_(stale, _T.c.delay_seconds == 0), _BASE), else_=doubled)
    may_try = or_(_T.c.blocked_until.is_(None), _T.c.blocked_until <= _NOW, stale)
    stmt = insert(_T).values(
        key=bindparam("counter_key"),
        failures=1,
        delay_seconds=bindparam("first_delay", type_=Integer),
        blocked_until=bindparam("first_blocked", type_=Float),
        last_attempt_at=_NOW,
    )
    set_ = {
        "failures": failures,
        "delay_seconds": delay,
        "blocked_until": case((blocking, _NOW + delay), else_=None),
        "last_attempt_at": _NOW,
    }
    returned: Insert = stmt.on_conflict_do_update(index_elements=[_T.c.key], set_=set_, where=may_try).returning(
        _T.c.failures
    )
    return returned


# Built once per dialect: the upsert's syntax is each database's own.
_RESERVE = {"sqlite": _reserve_statement(sqlite.insert), "postgresql": _reserve_statement(postgresql.insert)}
_BLOCKED_UNTIL = select(_T.c.blocked_until).where(_T.c.key == bindparam("counter_key"))
_REFUND = (
    update(ThrottleCounter)
    .where(ThrottleCounter.key == bindparam("counter_key"), ThrottleCounter.failures > 0)
    .values(failures=ThrottleCounter.failures - 1)
)
_RESET = delete(ThrottleCounter).where(ThrottleCounter.key == bindparam("counter_key"))


def _hit_statement(insert: Any) -> Insert:
    """One request counted: the window starts afresh once it is over, else its count goes up."""
    w = RateWindow.__table__
    over = w.c.started_at <= _NOW - _WINDOW
    stmt = insert(w).values(key=bindparam("window_key"), started_at=_NOW, hits=1)
    set_ = {"hits": case((over, 1), else_=w.c.hits + 1), "started_at": case((over, _NOW), else_=w.c.started_at)}
    returned: Insert = stmt.on_conflict_do_update(index_elements=[w.c.key], set_=set_).returning(
        w.c.hits, w.c.started_at
    )
    return returned


_HIT = {"sqlite": _hit_statement(sqlite.insert), "postgresql": _hit_statement(postgresql.insert)}
_FORGET_WINDOWS = delete(RateWindow).where(RateWindow.started_at < bindparam("before", type_=Float))
WINDOWS_KEPT = timedelta(days=1)


async def purge_rate_windows(session: AsyncSession, now: datetime) -> int:
    """A timer: forget windows long over (with Redis the table stays empty; its keys expire)."""
    result = await session.execute(_FORGET_WINDOWS, {"before": (now - WINDOWS_KEPT).timestamp()})
    return int(getattr(result, "rowcount", 0) or 0)


class DatabaseThrottle:
    """Counters in the service's own database (the embedded SQLite default, or PostgreSQL);
    each call is its own short transaction, committed before the password is even checked."""

    def __init__(self, db: Database, clock: Clock, policy: ThrottlePolicy) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy
        self._reserve = _RESERVE["sqlite" if db.is_sqlite else "postgresql"]
        self._hit = _HIT["sqlite" if db.is_sqlite else "postgresql"]

    async def reserve(self, key: str, *, free: int) -> float | None:
        now = self._clock.now().timestamp()
        delay = first_delay(self._policy, free)
        params = {
            "counter_key": key,
            "now": now,
            "free": free,
            "base": self._policy.base_delay_seconds,
            "max_delay": self._policy.max_delay_seconds,
            "window": float(self._policy.window_seconds),
            "first_delay": delay,
            "first_blocked": now + delay if delay else None,
        }
        async with self._db.unit_of_work() as session:
            counted = (await session.execute(self._reserve, params)).first()
            if counted is not None:
                return None
            blocked_until = await session.scalar(_BLOCKED_UNTIL, {"counter_key": key})
        return max((blocked_until or now) - now, 1.0)

    async def refund(self, key: str) -> None:
        async with self._db.unit_of_work() as session:
            await session.execute(_REFUND, {"counter_key": key})

    async def reset(self, key: str) -> None:
        async with self._db.unit_of_work() as session:
            await session.execute(_RESET, {"counter_key": key})

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> float | None:
        now = self._clock.now().timestamp()
        params = {"window_key": key, "now": now, "window": float(window_seconds)}
        async with self._db.unit_of_work() as session:
            counted = (await session.execute(self._hit, params)).one()
        if counted.hits <= limit:
            return None
        return max(float(counted.started_at) + window_seconds - now, 1.0)

    async def close(self) -> None:
        return None


# --- Redis: the same rule as one Lua script per attempt ----------------------------------------

# KEYS[1]: the key; ARGV: now, free, base, max delay, window, expiry (whole seconds).
# Returns nil when the attempt may go ahead, else the seconds to wait (as a string: Lua numbers
# come back from Redis cut to integers).
_RESERVE_SCRIPT = """
local now, free, base = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local max_delay, window = tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'failures', 'delay', 'blocked_until', 'last')
local failures, delay = tonumber(state[1] or '0'), tonumber(state[2] or '0')
local blocked_until, last = tonumber(state[3] or '0'), tonumber(state[4] or '0')
local stale = last < now - window
if not stale and blocked_until > now then
  return tostring(blocked_until - now)
end
if stale then failures, delay = 0, 0 end
failures = failures + 1
if failures >= free then
  if delay == 0 then delay = base else delay = math.min(delay * 2, max_delay) end
  blocked_until = now + delay
else
  delay, blocked_until = 0, 0
end
redis.call('HSET', KEYS[1], 'failures', failures, 'delay', delay, 'blocked_until', blocked_until, 'last', now)
redis.call('EXPIRE', KEYS[1], ARGV[6])
return nil
"""
_REFUND_SCRIPT = """
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if failures > 0 then redis.call('HSET', KEYS[1], 'failures', failures - 1) end
return nil
"""


class RedisThrottle:
    """Counters in Redis (PRM_REDIS_URL), for deployments that already run one."""

    def __init__(self, url: str, clock: Clock, policy: ThrottlePolicy, *, prefix: str = "prm:") -> None:
        self._redis: Redis = Redis.from_url(url)
        self._prefix = f"{prefix}throttle:"
        self._windows = f"{prefix}window:"
        self._clock = clock
        self._policy = policy
        self._reserve = self._redis.register_script(_RESERVE_SCRIPT)
        self._refund = self._redis.register_script(_REFUND_SCRIPT)
        # Redis forgets a key some time after the window: its own (real) clock only collects
        # garbage; whether failures are stale is decided on the injected clock in the script.
        self._expiry = policy.window_seconds + policy.max_delay_seconds

    async def reserve(self, key: str, *, free: int) -> float | None:
        policy = self._policy
        now = self._clock.now().timestamp()
        args = [now, free, policy.base_delay_seconds, policy.max_delay_seconds, policy.window_seconds, self._expiry]
        wait = await self._reserve(keys=[self._prefix + key], args=args)
        return None if wait is None else max(float(wait), 1.0)

    async def refund(self, key: str) -> None:
        await self._refund(keys=[self._prefix + key])

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> float | None:
        # Windows aligned on the injected clock (so each is one key), counted with INCR, which
        # every instance's requests share atomically; Redis's own expiry only collects garbage.
        now = self._clock.now().timestamp()
        window = int(now // window_seconds)
        async with self._redis.pipeline(transaction=True) as pipe:
            counter = f"{self._windows}{key}:{window}"
            pipe.incr(counter)
            pipe.expire(counter, 2 * window_seconds)
            hits, _ = await pipe.execute()
        if int(hits) <= limit:
            return None
        return max((window + 1) * window_seconds - now, 1.0)

    async def close(self) -> None:
        await self._redis.aclose()


def retry_after(wait_seconds: float) -> str:
    """A `Retry-After` value: whole seconds, rounded up, never zero."""
    return str(max(math.ceil(wait_seconds), 1))
