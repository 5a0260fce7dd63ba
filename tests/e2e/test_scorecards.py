"""The dashboard and scorecards in a real Chromium: charts drawn from the known data set, a
screenshot of each page, a filter change, and a partner kept out of another's scorecard."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.e2e.harness import LiveServer, sign_in
from tests.scorecards.dataset import DataSet, build

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

PERIOD = "from_month=2027-03&to_month=2027-04"
DRAWN = re.compile(r"^[1-9][0-9]*$")  # dashboard.js counts the points it handed Chart.js
DASHBOARD_CHARTS = ("channels", "pipeline", "forecast", "top-partners", "lead-quality", "deal-status")


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kept under the run's pytest temporary folder (…/pytest-of-<user>/pytest-<n>/screenshots)."""
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


async def seed(live_server: LiveServer, world: World, clock: ManualClock) -> DataSet:
    async def through_http() -> DataSet:
        async with httpx.AsyncClient(base_url=live_server.url) as client:
            return await build(client, world, clock)

    return await live_server.run(through_http())


async def expect_charts_drawn(page: Page, keys: tuple[str, ...]) -> None:
    for key in keys:
        canvas = page.locator(f'canvas[data-chart="chart-data-{key}"]')
        await expect(canvas).to_have_attribute("data-rendered", DRAWN)
        # Chart.js painted something: the canvas is not blank.
        painted = await canvas.evaluate(
            "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v !== 0)"
        )
        assert painted, key


async def test_leadership_dashboard_draws_every_chart_and_filters(
    page: Page, live_server: LiveServer, world: World, clock: ManualClock, screenshots: Path
) -> None:
    await seed(live_server, world, clock)
    await sign_in(page, world.leader, next_path=f"/dashboard?{PERIOD}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    await expect_charts_drawn(page, DASHBOARD_CHARTS)
    channels = page.locator("#table-channels")
    await expect(channels.locator("tbody tr").first).to_contain_text("2027-03")
    await expect(channels.locator("tbody tr").first).to_contain_text("800.00 USD")  # O7
    await expect(page.locator("#table-top-partners")).to_contain_text("Acme Resellers")
    await expect(page.get_by_role("link", name="Download the data (CSV)")).to_have_count(len(DASHBOARD_CHARTS))
    await page.screenshot(path=screenshots / "dashboard.png", full_page=True)

    # A year earlier: March 2026 (O2 + O3) instead of March 2027.
    await page.get_by_label("From month").fill("2026-03")
    await page.get_by_label("To month").fill("2026-04")
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url("**/dashboard?*from_month=2026-03*")
    await expect(channels.locator("tbody tr").first).to_contain_text("2026-03")
    await expect(channels.locator("tbody tr").first).to_contain_text("800.00 USD")
    await expect(channels.locator("tbody tr").nth(1)).to_contain_text("1,000.00 USD")  # O1, direct
    await expect(page.locator("#table-top-partners")).to_contain_text("Globex Integrators")
    await expect(page.locator("#table-lead-quality")).to_contain_text("No leads in this period.")  # all from 2027
    await expect_charts_drawn(page, tuple(key for key in DASHBOARD_CHARTS if key != "lead-quality"))
    labels = await page.locator("#chart-data-channels").evaluate("s => JSON.parse(s.textContent).labels")
    assert labels == ["2026-03", "2026-04"]
    await page.screenshot(path=screenshots / "dashboard-filtered.png", full_page=True)


async def test_channel_manager_opens_their_partners_scorecards(
    page: Page, live_server: LiveServer, world: World, clock: ManualClock, screenshots: Path
) -> None:
    await seed(live_server, world, clock)
    await sign_in(page, world.cm_a, next_path=f"/scorecards?{PERIOD}")
    table = page.locator("#table-partners")
    await expect(table).to_contain_text("Acme Resellers")
    await expect(table).not_to_contain_text("Globex")
    await page.screenshot(path=screenshots / "scorecards.png", full_page=True)
    await table.get_by_role("link", name="Acme Resellers").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Scorecard: Acme Resellers")
    await expect_charts_drawn(page, ("funnel",))
    await expect(page.locator('[data-metric="review_sla_pct"]')).to_have_text("83.3 %")
    await page.screenshot(path=screenshots / "scorecard-channel-manager.png", full_page=True)


async def test_partner_sees_its_own_scorecard_and_not_anothers(
    page: Page, live_server: LiveServer, world: World, clock: ManualClock, screenshots: Path
) -> None:
    await seed(live_server, world, clock)
    await sign_in(page, world.pa_user)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Scorecard").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Scorecard: Acme Resellers")
    await page.get_by_label("From month").fill("2027-03")
    await page.get_by_label("To month").fill("2027-04")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator('[data-metric="win_rate_pct"]')).to_have_text("66.7 %")
    await expect(page.locator('[data-metric="leads_promised"]')).to_have_text("1.8")
    await expect_charts_drawn(page, ("funnel",))
    await page.screenshot(path=screenshots / "scorecard-partner.png", full_page=True)

    reply = await page.goto(f"/scorecards/{world.partner_b}")
    assert reply is not None
    assert reply.status == 404
    await expect(page.locator("body")).not_to_contain_text("Globex")
