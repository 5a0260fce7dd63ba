"""Reports in a time zone whose months are not UTC months, every figure worked out by hand from
tests/scorecards/dataset.py. On PostgreSQL they read the UTC-month cells and move the records
near each month bound (see prm.scorecards.edges); on SQLite the records: the figures are the same.

O3 (Globex, 30,000 USD, won) closed at 23:30 UTC on 31 March 2026, 01:30 on 1 April in Berlin;
L10 (partner source, score 40, marketing-qualified) came in at 23:30 UTC on 28 February 2026,
00:30 on 1 March in Berlin.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import World
from tests.scorecards.dataset import DataSet
from tests.scorecards.test_reports import quality, rows

pytestmark = pytest.mark.asyncio
BERLIN = "Europe/Berlin"


async def test_closed_business_by_month_in_berlin(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/sales/closed", from_month="2026-03", to_month="2026-04", tz=BERLIN)
    assert [(r["month"], r["currency"], r["won_count"], r["won_amount_minor"], r["lost_count"],
             r["lost_amount_minor"], r["win_rate_pct"]) for r in found] == [
        ("2026-03", "EUR", 0, 0, 0, 0, None),
        ("2026-03", "USD", 2, 150_000, 0, 0, 100.0),  # O1, O2 (O3 is April's in Berlin)
        ("2026-04", "EUR", 1, 70_000, 0, 0, 100.0),  # O4
        ("2026-04", "USD", 1, 30_000, 1, 20_000, 50.0),  # O3 won, O5 lost
    ]  # fmt: skip


async def test_sales_by_partner_in_berlin(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/sales/partners", from_month="2026-04", to_month="2026-04", tz=BERLIN)
    # April in Berlin: Acme's O4 (EUR), Globex's O3; March before it: Acme's O2 (USD) only.
    assert [(r["partner_name"], r["currency"], r["won_amount_minor"], r["won_count"], r["previous_won_amount_minor"],
             r["previous_won_count"], r["growth_pct"]) for r in found] == [
        ("Acme Resellers", "EUR", 70_000, 1, 0, 0, None),
        ("Acme Resellers", "USD", 0, 0, 50_000, 1, -100.0),
        ("Globex Integrators", "USD", 30_000, 1, 0, 0, None),
    ]  # fmt: skip
    utc = await rows(client, world.leader, "/sales/partners", from_month="2026-04", to_month="2026-04")
    # In UTC O3 is March's: Globex won nothing in April and had 30,000 before.
    assert [(r["partner_name"], r["currency"], r["won_amount_minor"], r["previous_won_amount_minor"])
            for r in utc] == [
        ("Acme Resellers", "EUR", 70_000, 0),
        ("Acme Resellers", "USD", 0, 50_000),
        ("Globex Integrators", "USD", 0, 30_000),
    ]  # fmt: skip


async def test_top_deals_in_berlin(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/sales/top-deals", from_month="2026-04", to_month="2026-04", tz=BERLIN)
    assert [(r["currency"], r["rank"], r["opportunity_id"], r["amount_minor"]) for r in found] == [
        ("EUR", 1, str(data.opportunities["O4"]), 70_000),
        ("USD", 1, str(data.opportunities["O3"]), 30_000),
    ]
    utc = await rows(client, world.leader, "/sales/top-deals", from_month="2026-04", to_month="2026-04")
    assert [(r["currency"], r["opportunity_id"]) for r in utc] == [("EUR", str(data.opportunities["O4"]))]


async def test_lead_quality_in_berlin(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    berlin = await rows(client, world.leader, "/leads/quality", from_month="2026-03", to_month="2026-03", tz=BERLIN)
    assert quality(berlin) == {"partner": (1, (0, 1, 0), (1, 100.0), (0, 0.0), (0, 0.0), (0, {}))}  # L10
    assert await rows(client, world.leader, "/leads/quality", from_month="2026-03", to_month="2026-03") == []
    february = await rows(client, world.leader, "/leads/quality", from_month="2026-02", to_month="2026-02")
    assert quality(february) == quality(berlin)
    assert await rows(client, world.leader, "/leads/quality", from_month="2026-02", to_month="2026-02", tz=BERLIN) == []
