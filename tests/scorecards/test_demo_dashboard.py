"""`prm demo` fills every report with a year of history, and stays idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from prm.demo import DEMO_PASSWORD, load_demo
from prm.scorecards.filters import Month
from prm.settings import Settings

pytestmark = pytest.mark.asyncio


async def test_demo_history_fills_the_dashboard(client: httpx.AsyncClient, settings: Settings) -> None:
    await load_demo(settings)
    await load_demo(settings)
    token = await client.post(
        "/api/v1/auth/token", data={"username": "ceo@northwind.example", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    today = datetime.now(UTC)  # the demo is dated from the real clock
    last = Month(today.year, today.month)
    # To the month after: a run that crosses a month's end still sees the demo's newest month.
    year = {"from_month": str(last.shift(-11)), "to_month": str(last.shift(1))}

    async def rows(path: str, **params: str) -> list[dict[str, Any]]:
        reply = await client.get(f"/api/v1/scorecards{path}", params=params, headers=headers)
        assert reply.status_code == 200, reply.text
        found: list[dict[str, Any]] = reply.json()["rows"]
        return found

    channels = await rows("/sales/channels", **year)
    assert {r["currency"] for r in channels} == {"EUR", "USD"}
    usd = [r for r in channels if r["currency"] == "USD"]
    for channel in ("indirect", "direct"):
        months_won = [r["month"] for r in usd if r["channel"] == channel and r["won_count"] > 0]
        assert len(months_won) >= 8, (channel, months_won)
    partners = await rows("/sales/partners", **year)
    assert {r["partner_name"] for r in partners} == {"Acme Resellers", "Globex Integrators", "Initech Referrals"}
    ahead = {"from_month": str(last), "to_month": str(last.shift(5))}
    forecast = await rows("/forecast", **ahead)
    assert sum(r["commit_minor"] + r["best_case_minor"] + r["pipeline_minor"] for r in forecast) > 0
    quality = await rows("/leads/quality", **year)
    assert len(quality) >= 5
    assert sum(r["leads"] for r in quality) >= 84  # at least 7 a month
    assert any(r["won_amount_minor"] for r in quality)
    assert any(r["touched_within_hour"] for r in quality)
    returns = await rows("/campaigns/return")
    assert len([r for r in returns if r["leads"]]) >= 2
    assert any(r["won_amount_minor"] > 0 for r in returns)
    status = {(r["group"], r["name"]): r["count"] for r in await rows("/deal-status")}
    assert status[("state", "submitted")] > 0
