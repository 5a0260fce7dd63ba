"""`/metrics` through HTTP: who may read it, and that each figure moves with what users do.

The HTTP figures are process-wide (prometheus-client's registry outlives one test app), so
they are compared before and after; the database figures are read at each scrape.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.factories.deals import Deals

TOKEN = "metrics-token-for-the-tests-0123456789"
ESCALATE = "deal_registration.escalate_overdue_reviews"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"metrics_token": TOKEN, "outbox_max_attempts": 1, "peer_max_attempts": 1}


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    reply = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def figure(figures: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return figures.get((name, frozenset(labels.items())), 0.0)


async def test_only_the_token_holder_reads_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"authorization": "Bearer " + "x" * len(TOKEN)})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert (await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{}])
async def test_metrics_are_off_without_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics", headers={"authorization": "Bearer anything-at-all-here"})).status_code == 404


async def test_requests_are_counted_per_route_template_and_status(client: httpx.AsyncClient, world: World) -> None:
    before = await scrape(client)
    route = {"method": "GET", "path": "/api/v1/partners/{partner_id}", "app_name": "prm"}
    ok = await client.get(f"/api/v1/partners/{world.partner_a}", headers=world.admin.headers)
    hidden = await client.get(f"/api/v1/partners/{world.partner_b}", headers=world.pa_user.headers)
    assert (ok.status_code, hidden.status_code) == (200, 404)
    after = await scrape(client)
    for status in ("200", "404"):
        labels = {**route, "status_code": status}
        for name in ("prm_http_requests_total", "prm_http_request_duration_seconds_count"):
            assert figure(after, name, **labels) == figure(before, name, **labels) + 1
    assert figure(after, "prm_db_pool_size") >= 1


async def test_outbox_backlog_and_dead_letters_move_with_deliveries(
    client: httpx.AsyncClient, world: World, deals: Deals, app: Litestar
) -> None:
    hook = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/unreachable", "event_types": ["*"]},
        headers=world.admin.headers,
    )
    assert hook.status_code == 201, hook.text
    before = await scrape(client)
    assert figure(before, "prm_outbox_pending", kind="email") == 0
    await deals.submitted()

    queued = await scrape(client)
    assert figure(queued, "prm_outbox_pending", kind="email") >= 2  # the auto-response and the manager's notice
    assert figure(queued, "prm_outbox_due", kind="email") == figure(queued, "prm_outbox_pending", kind="email")
    assert figure(queued, "prm_outbox_pending", kind="webhook") >= 1

    await app.state.runtime.outbox.run_once()
    delivered = await scrape(client)
    assert figure(delivered, "prm_outbox_pending", kind="email") == 0
    assert figure(delivered, "prm_outbox_pending", kind="webhook") == 0
    assert figure(delivered, "prm_outbox_dead", kind="webhook") == figure(queued, "prm_outbox_pending", kind="webhook")


async def test_timers_due_overdue_and_last_run_move_with_the_clock(
    client: httpx.AsyncClient, deals: Deals, app: Litestar, clock: ManualClock
) -> None:
    await deals.submitted()
    fresh = await scrape(client)
    assert figure(fresh, "prm_timer_due", job=ESCALATE) == 0
    assert figure(fresh, "prm_job_last_run_timestamp_seconds", job=ESCALATE) == 0

    clock.advance(timedelta(hours=48, seconds=30))  # the review is due, not yet late
    due = await scrape(client)
    assert figure(due, "prm_timer_due", job=ESCALATE) == 1
    assert figure(due, "prm_timer_overdue", job=ESCALATE) == 0

    clock.advance(timedelta(minutes=5))  # two job intervals past the deadline: the timer is late
    late = await scrape(client)
    assert figure(late, "prm_timer_overdue", job=ESCALATE) == 1

    acted = await app.state.runtime.jobs.run_all()
    assert acted[ESCALATE] == figure(late, "prm_timer_due", job=ESCALATE)  # the backlog counts what the timer does
    done = await scrape(client)
    assert figure(done, "prm_timer_due", job=ESCALATE) == 0
    assert figure(done, "prm_job_last_run_timestamp_seconds", job=ESCALATE) == clock.now().timestamp()
    assert figure(done, "prm_job_runs_total", job=ESCALATE, outcome="acted") == 1
    assert figure(done, "prm_job_rows_total", job=ESCALATE) == 1


async def test_connector_lag_per_connection_grows_until_the_peer_gets_its_messages(
    client: httpx.AsyncClient, world: World, app: Litestar, clock: ManualClock
) -> None:
    invited = await client.post(
        "/api/v1/connect/connections",
        json={"peer_url": "http://127.0.0.1:9", "contact_email": "ops@peer.example"},
        headers=world.admin.headers,
    )
    assert invited.status_code == 201, invited.text
    connection = invited.json()["id"]
    clock.advance(timedelta(seconds=90))
    waiting = await scrape(client)
    assert figure(waiting, "prm_connect_pending_messages", connection=connection) == 1
    assert figure(waiting, "prm_connect_lag_seconds", connection=connection) == 90

    await app.state.runtime.outbox.run_once()  # the peer is down: with one attempt allowed, a dead letter
    dead = await scrape(client)
    assert figure(dead, "prm_connect_pending_messages", connection=connection) == 0
    assert figure(dead, "prm_connect_lag_seconds", connection=connection) == 0
    assert figure(dead, "prm_outbox_dead", kind="peer") == 1
