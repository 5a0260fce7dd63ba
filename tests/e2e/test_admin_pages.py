"""The admin pages in a real Chromium: a vendor admin creates a partner, then a deal program,
then gives the program an approval rule, through the real pages with the keyboard and mouse."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import World
from tests.e2e.harness import LiveServer, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOT = Path(tempfile.gettempdir()) / "prm-admin-program-rules.png"  # looked at by people, kept after the run


async def test_admin_creates_partner_then_program_then_an_approval_rule(
    page: Page, live_server: LiveServer, world: World
) -> None:
    await sign_in(page, world.admin)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Partners", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Partners")
    add = page.get_by_role("form", name="Add a partner")
    await add.get_by_label("Name", exact=True).fill("Contoso Channel")
    await add.get_by_label("Tier").select_option("gold")
    await add.get_by_label("Country").fill("Atlantis")
    await add.get_by_role("button", name="Add partner").click()
    country = page.get_by_role("form", name="Add a partner").get_by_label("Country")
    await expect(country).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#country-error")).to_contain_text("by name or ISO code")
    await expect(country).to_be_focused()
    await country.fill("Germany")
    await page.get_by_role("form", name="Add a partner").get_by_label("City").fill("Munich")
    await country.press("Enter")
    await expect(page).to_have_url(re.compile(r"/partners/[0-9a-f-]{36}\?done=created$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Contoso Channel")
    await expect(page.get_by_role("status")).to_have_text("Partner created.")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Programs", exact=True).click()
    add = page.get_by_role("form", name="Add a program")
    await add.get_by_label("Name", exact=True).fill("Channel Deals")
    await add.get_by_label("Protection (days)").fill("120")
    await add.get_by_label("Smallest deal").fill("1,000.00")
    await add.get_by_role("button", name="Add program").click()
    await expect(page).to_have_url(re.compile(r"/programs/[0-9a-f-]{36}\?done=created$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Channel Deals")
    await expect(page.locator("main")).to_contain_text("protection 120 days")

    rules = page.get_by_role("form", name="Approval rules")
    await rules.get_by_label("Auto-approve clean, complete deals").check()
    await rules.get_by_role("group", name="For partners of these tiers").get_by_label("Gold").check()
    await rules.get_by_label("Up to this amount (USD)").fill("20,000")
    await rules.get_by_role("button", name="Save approval rules").click()
    await expect(page.get_by_role("status")).to_have_text("Approval rules saved.")
    rules = page.get_by_role("form", name="Approval rules")
    await expect(rules.get_by_label("Auto-approve clean, complete deals")).to_be_checked()
    await expect(rules.get_by_label("Up to this amount (USD)")).to_have_value("20000.00")
    await page.screenshot(path=SCREENSHOT, full_page=True)

    listed = await page.request.get(
        "/api/v1/deal-programs?limit=10", headers={"Authorization": f"Bearer {world.admin.fresh_token()}"}
    )
    program = (await listed.json())["items"][0]
    read = await page.request.get(
        f"/api/v1/deal-programs/{program['id']}/approval-rules",
        headers={"Authorization": f"Bearer {world.admin.fresh_token()}"},
    )
    assert (await read.json())["auto_approve"] == {"tiers": ["gold"], "max_amount_minor": 2_000_000}
