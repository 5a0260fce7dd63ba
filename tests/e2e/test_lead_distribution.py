"""Lead distribution in a real Chromium: the channel manager qualifies and routes a lead from the
console, the partner rep accepts it in the leads inbox (the contact appears) and converts it; two
partners race for a shark-tank lead and the loser is told; an import names its bad row's line.
Time moves with the clock, never with sleeps."""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from prm.core.clock import ManualClock
from tests.conftest import Actor, World
from tests.e2e.conftest import ACTION_TIMEOUT_MS, TIMEZONE
from tests.e2e.harness import LiveServer, sign_in
from tests.portal.lead_data import API, LeadScene, lead_scene, new_lead, ok, qualified_lead, route_via_api

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOT = Path(tempfile.gettempdir()) / "prm-leads-inbox.png"  # looked at by people, kept after the run
CONSOLE_SCREENSHOT = Path(tempfile.gettempdir()) / "prm-lead-console.png"


@pytest_asyncio.fixture(loop_scope="session")
async def api(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """The live server's API over real HTTP, to set the scene as the vendor would."""
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def scene(api: httpx.AsyncClient, world: World) -> LeadScene:
    return await lead_scene(api, world)


async def switch_user(page: Page, actor: Actor, next_path: str = "") -> None:
    await page.goto("/")
    if await page.get_by_role("button", name="Sign out").count():
        await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, actor, next_path=next_path)


async def second_page(browser: Browser, live_server: LiveServer) -> Page:
    """Another person at another computer: own cookies, same time zone."""
    context = await browser.new_context(base_url=live_server.url, timezone_id=TIMEZONE, locale="en-GB")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return await context.new_page()


async def qualify_and_route_in_the_console(page: Page, world: World, company: str) -> None:
    """The channel manager finds the lead in the queue, qualifies it (score and band appear) and routes it."""
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Lead queue").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Lead queue")
    await page.get_by_role("link", name=company).click()
    await expect(page.locator("#lead-score")).to_have_text("0")
    await page.get_by_label("Stage").select_option("sales_qualified")
    await page.get_by_label("Current situation").fill("Firewalls at end of life, 40 sites")
    await page.get_by_label("Product of interest").select_option(label="Firewall 100 (FW-100)")
    await page.get_by_label("Time frame").select_option(label="Immediately")
    await page.get_by_label("Budget").fill("25.000,00")  # a European habit, refused next to the field
    await page.get_by_label("Currency").fill("USD")
    await page.get_by_role("button", name="Qualify and score").click()
    budget = page.get_by_label("Budget")
    await expect(budget).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#budget-error")).to_contain_text("Enter an amount like 48,000.00")
    await expect(budget).to_be_focused()  # the keyboard user fixes it at once
    await expect(page.get_by_label("Current situation")).to_have_value("Firewalls at end of life, 40 sites")
    await budget.fill("25,000.00")
    await budget.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Qualified.")
    await expect(page.locator("#lead-score")).to_have_text("75")  # by the default criteria: warm, just short of hot
    await expect(page.locator(".lead-score-card .lead-band")).to_have_text("warm")

    rep = f"{world.pa_user.email.split('@')[0]} <{world.pa_user.email}> · Acme Resellers"
    await page.get_by_label("Route to").select_option(label=rep)
    await page.get_by_label("Note (optional)").last.fill("Knows their CIO")
    await page.get_by_role("button", name="Route", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Routed.")
    await expect(page.locator(".timeline")).to_contain_text("offered to partner")
    await expect(page.locator(".timeline")).to_contain_text("Knows their CIO")
    await page.screenshot(path=CONSOLE_SCREENSHOT, full_page=True)


async def test_route_accept_convert(
    page: Page, live_server: LiveServer, api: httpx.AsyncClient, world: World, scene: LeadScene, clock: ManualClock
) -> None:
    await new_lead(api, world, company="Initech")
    await sign_in(page, world.cm_a, next_path="/")
    await qualify_and_route_in_the_console(page, world, "Initech")

    await switch_user(page, world.pa_user)
    clock.advance(timedelta(minutes=30))
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads inbox").click()
    card = page.locator("tr.lead-row").filter(has_text="Initech")
    await expect(card).to_contain_text("Firewalls at end of life, 40 sites")
    await expect(card).to_contain_text("Firewall 100 (FW-100)")
    await expect(card).not_to_contain_text("peter@initech.example")
    # A warm lead gets the program's 48 h response time (a hot one 4 h); 30 minutes are gone.
    await expect(card.locator(".lead-left")).to_have_text("1 day 23 hours left")
    respond_by = card.locator(".lead-clock time")
    await expect(respond_by).to_have_attribute("datetime", "2026-03-04T09:00:00Z")
    await expect(respond_by).to_contain_text("10:00")  # shown in Berlin time (CET), UTC behind it
    await expect(respond_by).to_have_attribute("title", "4 Mar 2026, 09:00 UTC")
    await expect(respond_by).to_have_text("4 Mar 2026, 10:00 CET")  # the pages' one date format
    await page.screenshot(path=SCREENSHOT, full_page=True)

    accept = card.get_by_role("button", name="Accept")
    await accept.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Accepted. The lead is yours")
    accepted = page.locator("tr.lead-row").filter(has_text="Initech")
    await expect(accepted).to_contain_text("Peter Gibbons, Engineer")
    await expect(accepted.get_by_role("link", name="peter@initech.example")).to_be_visible()

    await accepted.get_by_role("link", name="Convert to opportunity").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Convert Initech")
    await expect(page.get_by_label("Amount")).to_have_value("25000.00")  # the qualified budget
    await page.get_by_label("Opportunity name").fill("Initech firewall refresh")
    await page.get_by_label(re.compile("^Expected close date")).fill("2026-06-30")
    await page.get_by_role("button", name="Convert").click()
    await expect(page).to_have_url(re.compile(r"/leads\?done=converted$"))
    await expect(page.get_by_role("status")).to_contain_text("Converted into an account, a contact")
    await expect(page.locator("tr.lead-row")).to_have_count(0)

    leads = await ok(await api.get("/api/v1/leads", headers=world.pa_user.headers))
    [lead] = leads["items"]
    opportunity = await ok(
        await api.get(f"/api/v1/opportunities/{lead['converted_opportunity_id']}", headers=world.pa_user.headers)
    )
    assert (opportunity["name"], opportunity["amount_minor"], opportunity["partner_id"]) == (
        "Initech firewall refresh",
        2_500_000,
        str(world.partner_a),
    )


async def test_shark_tank_claim_first_wins_the_other_is_told(
    page: Page, browser: Browser, live_server: LiveServer, api: httpx.AsyncClient, world: World, scene: LeadScene
) -> None:
    lead = await qualified_lead(api, world, scene, company="Hooli")
    await route_via_api(api, world, lead, target_kind="shark_tank", group_id=scene.group_id)
    await sign_in(page, world.pa_user, next_path="/leads")
    other = await second_page(browser, live_server)
    try:
        await sign_in(other, world.pb_user, next_path="/leads")
        for viewer in (page, other):  # both see it on the board, with the claim window
            card = viewer.locator("tr.lead-row").filter(has_text="Hooli")
            await expect(card).to_contain_text("Shark tank: Firewall tank")
            await expect(card.locator(".lead-left")).to_have_text("1 day left")  # the program's 24 h window
            await expect(card.get_by_role("button", name="Claim")).to_be_visible()

        await page.get_by_role("button", name="Claim").click()
        await expect(page.get_by_role("status")).to_contain_text("Claimed. The lead is yours")
        await expect(page.locator("tr.lead-row").filter(has_text="Hooli")).to_contain_text("peter@initech.example")

        await other.get_by_role("button", name="Claim").click()  # B's page still shows it: B loses the race
        await expect(other.get_by_role("alert")).to_contain_text("Another partner claimed this lead first")
        await expect(other.get_by_text("No leads wait for your answer.")).to_be_visible()
        await expect(other.locator("body")).not_to_contain_text("peter@initech.example")
    finally:
        await other.context.close()
    held = await ok(await api.get(f"{API}/leads/{lead['id']}", headers=world.cm_a.headers))
    assert (held["status"], held["partner_id"]) == ("accepted", str(world.partner_a))


async def test_import_with_a_bad_row_shows_its_line(page: Page, world: World) -> None:
    csv = "First name,Last name,Company,Email\nAnn,Lee,Hooli,ann@hooli.example\nBob,Stone,Pied Piper,not-an-email\n"
    await sign_in(page, world.cm_a, next_path="/lead-import")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Import leads from CSV")
    await page.get_by_label("CSV file").set_input_files(
        files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    await page.get_by_role("button", name="Import").click()
    await expect(page.get_by_role("alert")).to_contain_text("Nothing was imported")
    rows = page.locator(".lead-row-errors tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("td")).to_have_text(["3", "email", re.compile(".+")])

    await page.get_by_label("CSV file").set_input_files(
        files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    await page.get_by_label("Skip bad rows, import the good ones").check()
    await page.get_by_role("button", name="Import").click()
    await expect(page.get_by_role("status")).to_contain_text("Imported 1 of 2 rows from leads.csv")
    await expect(page.locator(".lead-row-errors tbody tr").first.locator("td").first).to_have_text("3")
    await page.get_by_role("link", name="See the new leads").click()
    await expect(page.get_by_role("link", name="Hooli")).to_be_visible()
    await expect(page.get_by_role("link", name="Pied Piper")).to_have_count(0)


async def test_rules_editor_then_route_by_rules(
    page: Page, api: httpx.AsyncClient, world: World, scene: LeadScene
) -> None:
    """The vendor admin adds two rules, puts the second first and switches it off; the channel
    manager then routes a lead by the rules and reads which rule matched."""
    await sign_in(page, world.admin, next_path="/lead-rules")
    await expect(page.get_by_text("No routing rules yet")).to_be_visible()
    await page.get_by_label("Rule name").fill("Firewall leads to the tank")
    await page.get_by_label("Firewall 100 (FW-100)").check()
    await page.get_by_label("Route to").select_option(label="Firewall tank")
    await page.get_by_role("button", name="Add rule").click()
    await expect(page.get_by_role("status")).to_have_text("Rule added.")
    await page.get_by_label("Rule name").fill("Canada to Acme")
    await page.get_by_label("Countries").fill("ca")
    await page.get_by_label("Route to").select_option(label="Acme Resellers")
    await page.get_by_label("Countries").press("Enter")  # the keyboard sends the form
    await expect(page.get_by_role("status")).to_have_text("Rule added.")
    rows = page.locator(".lead-rules tbody tr")
    await expect(rows.locator("td:nth-child(2)")).to_have_text(["Firewall leads to the tank", "Canada to Acme"])
    await expect(rows.nth(1)).to_contain_text("country CA")

    await page.get_by_role("button", name="Move Canada to Acme up").click()
    await expect(rows.locator("td:nth-child(2)")).to_have_text(["Canada to Acme", "Firewall leads to the tank"])
    await page.get_by_role("button", name="Deactivate Canada to Acme").click()
    await expect(page.get_by_role("status")).to_have_text("Rule deactivated.")
    await expect(rows.first).to_contain_text("inactive")

    # Its conditions change in place, from the keyboard: the rule keeps its place.
    await page.get_by_role("link", name="Edit Firewall leads to the tank").click()
    await expect(page.get_by_label("Countries")).to_have_value("")
    await page.get_by_label("Countries").fill("Canada, US")
    await page.get_by_label("Countries").press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Rule saved.")
    await expect(rows.nth(1)).to_contain_text("country CA, US · product Firewall 100 (FW-100)")

    lead = await qualified_lead(api, world, scene, company="Aviato", country="CA")
    await switch_user(page, world.cm_a, next_path=f"/lead-queue/{lead['id']}")
    await page.get_by_role("button", name="Route by rules").click()
    await expect(page.get_by_role("status")).to_contain_text("Routed.")
    decision = page.locator(".timeline li").first
    await expect(decision).to_contain_text("offered to group")
    await expect(decision).to_contain_text("rule #2 'Firewall leads to the tank' matched")
