"""The long-lived parts of a running service, built once from settings."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from prm.connect.client import PeerBatchDeliverer, PeerDeliverer
from prm.core.clock import Clock
from prm.core.db import Database
from prm.core.idempotency import purge_expired_keys
from prm.core.lifecycle import Lifecycle
from prm.core.mail import SmtpDeliverer, keep_in_mailbox
from prm.core.outbox import Deliverer, OutboxDispatcher, OutboxKind, RetryPolicy
from prm.core.scheduler import JobRunner
from prm.core.seeds import SeedSource
from prm.core.throttle import DatabaseThrottle, RedisThrottle, Throttle, ThrottlePolicy, purge_rate_windows
from prm.core.tokens import TokenConfig, TokenService
from prm.core.webhooks import WebhookDeliverer
from prm.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    db: Database
    tokens: TokenService
    http: httpx.AsyncClient
    outbox: OutboxDispatcher
    jobs: JobRunner
    throttle: Throttle
    lifecycle: Lifecycle
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start_background(self) -> None:
        """Deliver the outbox and run timers (catching up on what fell due while down)."""
        self._tasks.append(asyncio.create_task(self.outbox.run_forever(self.settings.outbox_poll_seconds)))
        self.jobs.start()

    async def close(self) -> None:
        """Stop between units of work: no new timer run or outbox batch starts, the running ones
        finish within what is left of the shutdown timeout, then whatever remains is cancelled
        (and rolls back whole: its rows are taken again by the next run, here or elsewhere)."""
        self.jobs.shutdown()
        self.outbox.stop()
        await self.jobs.wait_for_running(self.lifecycle.time_left())
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.lifecycle.time_left())
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.http.aclose()
        await self.throttle.close()
        await self.db.dispose()


def build_runtime(settings: Settings, clock: Clock, seeds: SeedSource | None = None) -> Runtime:
    db = Database(settings.database_url, clock=clock, seeds=seeds, pool_size=settings.db_pool_size, echo=False)
    tokens = TokenService(
        TokenConfig(
            private_key_pem=settings.jwt_private_key_pem(),
            previous_public_key_pem=settings.jwt_previous_public_key_pem(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.jwt_ttl_seconds,
        ),
        clock,
    )
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
    mail: Deliverer = keep_in_mailbox
    if not settings.mail_to_mailbox:
        mail = SmtpDeliverer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            use_tls=settings.smtp_use_tls,
        )
    deliverers: dict[OutboxKind, Deliverer] = {
        OutboxKind.EMAIL: mail,
        OutboxKind.WEBHOOK: WebhookDeliverer(db, http),
        OutboxKind.PEER: PeerDeliverer(
            db, http, suspend_after=timedelta(seconds=settings.connect_suspend_after_seconds)
        ),
    }
    outbox = OutboxDispatcher(
        db,
        deliverers,
        max_attempts=settings.outbox_max_attempts,
        batch_deliverers={
            OutboxKind.PEER: PeerBatchDeliverer(
                db, http, suspend_after=timedelta(seconds=settings.connect_suspend_after_seconds)
            )
        },
        policies={OutboxKind.PEER: _peer_retry(settings)},
    )
    jobs = JobRunner(db, every_seconds=settings.job_interval_seconds or None)
    jobs.register("purge_idempotency_keys", purge_expired_keys, every_seconds=3600)
    jobs.register("purge_rate_windows", purge_rate_windows, every_seconds=3600)
    return Runtime(
        settings=settings,
        clock=clock,
        db=db,
        tokens=tokens,
        http=http,
        outbox=outbox,
        jobs=jobs,
        throttle=_throttle(settings, db, clock),
        lifecycle=Lifecycle(
            drain_seconds=settings.shutdown_drain_seconds, timeout_seconds=settings.shutdown_timeout_seconds
        ),
    )


def _peer_retry(settings: Settings) -> RetryPolicy:
    """A peer that is down is tried again soon and often (a second, doubling up to
    PRM_PEER_RETRY_MAX_SECONDS), so it is caught up quickly when it returns; it is given up on
    (dead letters, replayable) only after PRM_PEER_MAX_ATTEMPTS tries."""
    longest = timedelta(seconds=settings.peer_retry_max_seconds)
    return RetryPolicy(
        max_attempts=settings.peer_max_attempts, first=min(timedelta(seconds=1), longest), longest=longest
    )


def _throttle(settings: Settings, db: Database, clock: Clock) -> Throttle:
    """Sign-in and web-to-lead limits shared by every instance: in Redis when one is configured, else the database."""
    policy = ThrottlePolicy(
        base_delay_seconds=settings.signin_base_delay_seconds,
        max_delay_seconds=settings.signin_max_delay_seconds,
        window_seconds=settings.signin_window_seconds,
    )
    if settings.redis_url:
        return RedisThrottle(settings.redis_url, clock, policy, prefix=settings.redis_prefix)
    return DatabaseThrottle(db, clock, policy)
