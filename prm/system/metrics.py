"""`/metrics` in Prometheus text format.

Requests and latency per route template, method and status come from Litestar's Prometheus
middleware (prometheus-client's process registry). The rest is read when Prometheus scrapes:
the database pool from the engine, and in one short read-only transaction the outbox backlog
and dead letters per kind, each timer's due and overdue rows, and each live connection's
undelivered peer messages; the timers' last runs are this process's own counts.

Who may read it: whoever holds `PRM_METRICS_TOKEN` (`Authorization: Bearer <token>`, what
Prometheus sends with `authorization.credentials_file`). Without that setting /metrics is off
(404): the figures name connections and show business volume, so they are never public by
default, and a scraper needs no user account (a user token expires within the hour).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, Response, get
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from prm.connect.repository import ConnectionLag, ConnectRepository
from prm.core.db import Database
from prm.core.errors import NotFound
from prm.core.outbox import OutboxFigures, outbox_figures
from prm.core.problems import problem
from prm.core.runtime import Runtime
from prm.core.scheduler import JobRunner

# Route templates (`/api/v1/leads/{lead_id}`), not raw paths, so the label set stays small.
HTTP_METRICS = PrometheusConfig(app_name="prm", prefix="prm_http", group_path=True, exclude=["^/metrics$"])


@dataclass(frozen=True)
class TimerFigures:
    job: str
    due: int
    overdue: int


@dataclass(frozen=True)
class Figures:
    """Everything read at one scrape."""

    now: datetime
    pool: dict[str, int]
    outbox: list[OutboxFigures]
    timers: list[TimerFigures]
    connections: list[ConnectionLag]


def _pool_figures(db: Database) -> dict[str, int]:
    pool: Any = db.engine.pool
    return {
        "size": int(pool.size()),
        "checked_out": int(pool.checkedout()),
        "idle": int(pool.checkedin()),
        "overflow": max(int(pool.overflow()), 0),
    }


async def read_figures(runtime: Runtime) -> Figures:
    db, jobs = runtime.db, runtime.jobs
    now = db.clock.now()
    pool = _pool_figures(db)  # before our own read takes a connection
    async with db.session() as session:
        outbox = await outbox_figures(session, now)
        timers = [
            TimerFigures(job.name, *await job.backlog.count(session, now, now - job.overdue_after))
            for job in jobs.jobs.values()
            if job.backlog is not None
        ]
        connections = await ConnectRepository(session).lag()
        await session.rollback()
    return Figures(now, pool, outbox, timers, connections)


class FiguresCollector(Collector):
    """Hands one scrape's figures to prometheus-client as metric families."""

    def __init__(self, figures: Figures, jobs: JobRunner) -> None:
        self.figures = figures
        self.jobs = jobs

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._pool()
        yield from self._outbox()
        yield from self._timers()
        yield from self._jobs()
        yield from self._connections()

    def _pool(self) -> Iterator[GaugeMetricFamily]:
        for name, value in self.figures.pool.items():
            yield GaugeMetricFamily(f"prm_db_pool_{name}", f"Database pool connections: {name}", value=value)

    def _outbox(self) -> Iterator[GaugeMetricFamily]:
        pending = GaugeMetricFamily("prm_outbox_pending", "Messages not yet delivered", labels=["kind"])
        due = GaugeMetricFamily("prm_outbox_due", "Undelivered messages due now (not waiting a retry)", labels=["kind"])
        dead = GaugeMetricFamily("prm_outbox_dead", "Dead letters (gave up after the attempt limit)", labels=["kind"])
        age = GaugeMetricFamily(
            "prm_outbox_oldest_pending_age_seconds", "Age of the oldest undelivered message", labels=["kind"]
        )
        for kind in self.figures.outbox:
            pending.add_metric([kind.kind], kind.pending)
            due.add_metric([kind.kind], kind.due)
            dead.add_metric([kind.kind], kind.dead)
            age.add_metric([kind.kind], self._age(kind.oldest_pending_at))
        yield from (pending, due, dead, age)

    def _timers(self) -> Iterator[GaugeMetricFamily]:
        due = GaugeMetricFamily("prm_timer_due", "Rows past their deadline the timer has yet to act on", labels=["job"])
        overdue = GaugeMetricFamily(
            "prm_timer_overdue", "Of those, past their deadline by more than two job intervals", labels=["job"]
        )
        for timer in self.figures.timers:
            due.add_metric([timer.job], timer.due)
            overdue.add_metric([timer.job], timer.overdue)
        yield from (due, overdue)

    def _jobs(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        last_run = GaugeMetricFamily(
            "prm_job_last_run_timestamp_seconds", "When this instance last ran the job (take the max)", labels=["job"]
        )
        last_success = GaugeMetricFamily(
            "prm_job_last_success_timestamp_seconds", "When a run here last succeeded", labels=["job"]
        )
        runs = CounterMetricFamily("prm_job_runs", "Runs here, by outcome", labels=["job", "outcome"])
        rows = CounterMetricFamily("prm_job_rows", "Rows the job acted on here", labels=["job"])
        for name, stats in self.jobs.stats.items():
            last_run.add_metric([name], stats.last_run_at or 0)
            last_success.add_metric([name], stats.last_success_at or 0)
            for outcome, count in stats.runs.items():
                runs.add_metric([name, outcome], count)
            rows.add_metric([name], stats.rows)
        yield from (last_run, last_success, runs, rows)

    def _connections(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "prm_connect_pending_messages", "Messages to the peer not yet delivered", labels=["connection"]
        )
        lag = GaugeMetricFamily(
            "prm_connect_lag_seconds", "How long the oldest message to the peer has waited", labels=["connection"]
        )
        for connection in self.figures.connections:
            waiting.add_metric([str(connection.connection_id)], connection.waiting)
            lag.add_metric([str(connection.connection_id)], self._age(connection.oldest_at))
        yield from (waiting, lag)

    def _age(self, since: datetime | None) -> float:
        return max((self.figures.now - since).total_seconds(), 0.0) if since else 0.0


def _authorized(request: Request[Any, Any, Any], token: str) -> bool:
    sent = request.headers.get("authorization", "")
    return secrets.compare_digest(sent.encode(), f"Bearer {token}".encode())


@get("/metrics", tags=["operations"], summary="Prometheus metrics (bearer PRM_METRICS_TOKEN)", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[Any]:
    runtime: Runtime = request.app.state.runtime
    token = runtime.settings.metrics_token
    if not token:
        raise NotFound("There is no /metrics here: set PRM_METRICS_TOKEN to turn it on.")
    if not _authorized(request, token):
        return problem(401, "Send the metrics token: Authorization: Bearer <PRM_METRICS_TOKEN>.",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})  # fmt: skip
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(FiguresCollector(await read_figures(runtime), runtime.jobs))
    body = generate_latest(REGISTRY) + generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
