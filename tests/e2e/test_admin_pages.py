"""The admin pages in a real Chromium, through the real pages with the keyboard and mouse: a
vendor admin creates a partner, then a deal program, then gives the program an approval rule;
and enrols a partner in a lead program, changes its terms, then certifies it for a product."""

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
MEMBERS_SCREENSHOT = Path(tempfile.gettempdir()) / "prm-admin-partner-certifications.png"


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


async def test_admin_enrols_a_member_then_certifies_it_for_a_product(
    page: Page, live_server: LiveServer, world: World
) -> None:
    admin = {"Authorization": f"Bearer {world.admin.fresh_token()}"}
    product = {"sku": "FW-100", "name": "Firewall 100", "list_price_minor": 10_000, "currency": "USD"}
    assert (await page.request.post("/api/v1/products", data=product, headers=admin)).status == 201
    program = {"name": "Northwind Leads"}
    made = await page.request.post("/api/v1/distribution/programs", data=program, headers=admin)
    program_id = (await made.json())["id"]

    await sign_in(page, world.admin)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Lead programs", exact=True).click()
    await page.get_by_role("link", name="Northwind Leads").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Leads")
    enrol = page.get_by_role("form", name="Enrol a partner")
    await enrol.get_by_label("Partner").select_option(label="Acme Resellers")
    await enrol.get_by_label("Weight").fill("150")
    await enrol.get_by_label("Territories").fill("US,,CA")
    await enrol.get_by_role("button", name="Enrol partner").click()
    territories = page.get_by_role("form", name="Enrol a partner").get_by_label("Territories")
    await expect(territories).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#member-territories-error")).to_have_text(
        "Territory 2 is empty: remove the extra comma."
    )
    await expect(territories).to_be_focused()
    await expect(territories).to_have_value("US,,CA")
    await territories.fill("US, CA")
    await territories.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(
        "Partner enrolled: routing now offers it this program's leads."
    )
    members = page.get_by_role("table", name="Members")
    await expect(members.get_by_role("row", name=re.compile("Acme Resellers"))).to_contain_text("US, CA")

    await members.get_by_role("link", name="Change Acme Resellers").click()
    change = page.get_by_role("form", name="Change the terms of Acme Resellers")
    await expect(change.get_by_label("Weight")).to_have_value("150")
    await change.get_by_label("Weight").fill("200")
    await change.get_by_role("button", name="Save terms").click()
    await expect(page.get_by_role("status")).to_have_text("Member's terms saved.")
    row = page.get_by_role("table", name="Members").get_by_role("row", name=re.compile("Acme Resellers"))
    await expect(row).to_contain_text("200")

    await row.get_by_role("link", name="Acme Resellers", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Acme Resellers")
    certifications = page.get_by_role("form", name="Certified products")
    await certifications.get_by_label("Firewall 100 (FW-100)").check()
    await certifications.get_by_role("button", name="Save certifications").click()
    await expect(page.get_by_role("status")).to_contain_text("Certifications saved")
    await expect(
        page.get_by_role("form", name="Certified products").get_by_label("Firewall 100 (FW-100)")
    ).to_be_checked()
    await page.screenshot(path=MEMBERS_SCREENSHOT, full_page=True)

    admin = {"Authorization": f"Bearer {world.admin.fresh_token()}"}
    listed = await page.request.get(f"/api/v1/distribution/programs/{program_id}/members", headers=admin)
    (member,) = (await listed.json())["items"]
    assert (member["weight"], member["territories"]) == (200, ["US", "CA"])
    read = await page.request.get(f"/api/v1/distribution/partners/{world.partner_a}/certified-products", headers=admin)
    assert len((await read.json())["product_ids"]) == 1
