"""Deal registration in a real Chromium: register and submit, review beside the conflict, approve,
close won with a PDF upload, verify the proof, and see the margin credit. Time moves with the clock."""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from prm.core.clock import ManualClock
from tests.conftest import Actor, World
from tests.e2e.harness import LiveServer, sign_in
from tests.portal.deal_data import PDF, Catalog, make_catalog, register_via_api

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOT = Path(tempfile.gettempdir()) / "prm-review-conflict.png"  # looked at by people, kept after the run
NUMBER = re.compile(r"DR-[A-Z2-7]{8}")


@pytest_asyncio.fixture(loop_scope="session")
async def api(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """The live server's API over real HTTP, to set the scene as the vendor admin and partner B would."""
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        yield client


async def switch_user(page: Page, actor: Actor, next_path: str = "") -> None:
    await page.goto("/")
    if await page.get_by_role("button", name="Sign out").count():
        await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, actor, next_path=next_path)


async def register_through_the_form(page: Page) -> str:
    """Partner A fills in the form with the keyboard and mouse, makes one mistake, fixes it, submits."""
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Register a deal").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Register a deal")
    await expect(page.get_by_label("Deal registration program")).to_have_value(re.compile(".+"))  # the only program
    await page.get_by_label("Customer company").fill("Umbrella Corp.")
    await page.get_by_label("Website").fill("umbrella.example")
    await page.get_by_label("Country").fill("us")
    await page.get_by_label("Contact name").fill("Albert Wesker")
    await page.get_by_label(re.compile("^Contact email")).fill("wesker@umbrella.example")
    await page.get_by_label("Product, row 1").select_option(label="Firewall 100 (FW-100)")
    await page.get_by_label("Quantity, row 1").fill("20")
    await page.get_by_role("button", name="Add another product").click()  # the little script adds a row
    await expect(page.get_by_label("Product, row 4")).to_be_focused()
    await page.get_by_label("Product, row 4").select_option(label="Firewall 200 (FW-200)")
    await page.get_by_label("Quantity, row 4").fill("2")
    await page.get_by_label("Expected close date").fill("2026-06-30")
    await page.get_by_label("Current situation").fill("Replacing an end-of-life firewall fleet")
    amount = page.get_by_label(re.compile("^Estimated amount"))
    await amount.fill("48.000,00")  # a European habit the form refuses, next to the field
    await page.get_by_role("button", name="Submit for review").click()

    await expect(amount).to_have_attribute("aria-invalid", "true")
    error = page.locator("#estimated_amount-error")
    await expect(error).to_contain_text("Enter an amount like 48,000.00")
    assert "estimated_amount-error" in (await amount.get_attribute("aria-describedby") or "")
    await expect(amount).to_be_focused()  # the keyboard user fixes it at once
    await expect(page.get_by_role("alert")).to_contain_text("Please correct 1 field")
    await expect(page.get_by_label("Customer company")).to_have_value("Umbrella Corp.")  # nothing typed is lost
    await expect(page.get_by_label("Product, row 4")).to_have_value(re.compile(".+"))

    await amount.fill("48,000.00")
    await amount.press("Enter")  # Enter sends the form with its first button: Submit for review
    await expect(page).to_have_url(re.compile(r"/deals/[0-9a-f-]+\?done=submitted$"))
    heading = await page.get_by_role("heading", level=1).text_content() or ""
    found = NUMBER.search(heading)
    assert found, heading
    return found.group(0)


async def test_register_review_approve_close_won_verify_and_credit(
    page: Page, live_server: LiveServer, world: World, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    catalog: Catalog = await make_catalog(api, world.admin)
    theirs = await register_via_api(api, world.pb_user, catalog)  # Globex registered the same customer first

    await sign_in(page, world.pa_user)
    number = await register_through_the_form(page)
    main = page.locator("main")
    await expect(page.get_by_role("status")).to_contain_text("Submitted for review")
    await expect(main.locator(".deal-head .state")).to_have_text("submitted")
    conflict = page.get_by_role("region", name="Possible conflict")
    await expect(conflict).to_contain_text("another live deal registration (matched on company name and web domain)")
    await expect(main).not_to_contain_text("Globex")
    await expect(main).not_to_contain_text(theirs["number"])
    due = main.locator(".clock-card").first.locator("time")
    await expect(due).to_have_attribute("datetime", "2026-03-04T09:00:00Z")  # 48 hours after 2026-03-02 09:00 UTC
    await expect(due).to_contain_text("10:00")  # shown in Berlin time
    await expect(main.locator(".clock-card").first).to_contain_text("48 h left")
    await expect(main).to_contain_text("48,000.00 USD")
    await expect(main).to_contain_text("2 \N{MULTIPLICATION SIGN} Firewall 200 (FW-200)")

    # The channel manager finds it in the queue and decides beside the conflict.
    await switch_user(page, world.cm_a)
    await page.get_by_role("link", name="Review queue").first.click()
    row = page.get_by_role("row").filter(has_text=number)
    await expect(row).to_contain_text("1 possible conflict")
    await expect(row).to_contain_text("Acme Resellers")
    await row.get_by_role("link", name=number).click()
    table = page.locator(".compare-table")
    await expect(table.get_by_role("columnheader", name=re.compile("Conflict 1"))).to_contain_text("Deal registration")
    await expect(table.get_by_role("row", name=re.compile("^Partner"))).to_contain_text("Globex Integrators")
    await expect(table.get_by_role("row", name=re.compile("^Number"))).to_contain_text(theirs["number"])
    await expect(table.get_by_role("row", name=re.compile("^Customer"))).to_contain_text("same company")
    await expect(table.get_by_role("row", name=re.compile("^Web domain"))).to_contain_text("same domain")
    await expect(table.get_by_role("row", name=re.compile("^Amount"))).to_contain_text("30,000.00 USD")
    await page.screenshot(path=SCREENSHOT, full_page=True)
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Approved")
    await expect(page.locator(".deal-head .state")).to_have_text("approved")

    # Ten days later the partner sees the protection clock running, and closes won with proof.
    clock.advance(timedelta(days=10))
    await switch_user(page, world.pa_user, next_path="/deals")
    row = page.get_by_role("row").filter(has_text=number)
    await expect(row).to_contain_text("approved")
    await expect(row).to_contain_text("80 days left")
    await row.get_by_role("link", name=number).click()
    await expect(page.locator(".days-left")).to_have_text("80 days left")
    await expect(page.locator(".clock-card").nth(1).locator("time")).to_have_attribute(
        "datetime",
        "2026-05-31T09:00:00Z",  # approved 2026-03-02 09:00 UTC + 90 days
    )
    await page.get_by_label("Invoice number").fill("INV-2291")
    await page.get_by_label("Won amount in USD").fill("47,500.00")
    await page.get_by_label("Invoice or order date").fill("2026-03-12")
    await page.get_by_label("Invoice or purchase order").set_input_files(
        files=[{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    await page.get_by_role("button", name="Close won and send proof").click()
    await expect(page.get_by_role("status")).to_contain_text("Closed won")
    await expect(page.locator(".deal-head .state")).to_have_text("won")
    await expect(page.locator("main")).to_contain_text("proof submitted")

    # The manager verifies the proof; the margin credit appears for both.
    await switch_user(page, world.cm_a, next_path="/reviews")
    proof_row = page.get_by_role("row").filter(has_text=number)
    await expect(proof_row).to_contain_text("47,500.00 USD")
    await proof_row.get_by_role("link", name=number).click()
    download_link = page.get_by_role("link", name="Download the proof document").first
    await expect(download_link).to_have_attribute("href", re.compile(r"/reviews/[0-9a-f-]+/proof$"))
    await page.get_by_role("button", name="Verify proof").click()
    await expect(page.get_by_role("status")).to_contain_text("Proof verified")
    credit = page.get_by_role("region", name="Margin credit")
    await expect(credit).to_contain_text("2,375.00 USD")  # 5% of 47,500.00, exactly

    await switch_user(page, world.pa_user, next_path="/credits")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Credits")
    ledger_row = page.get_by_role("row").filter(has_text=number)
    await expect(ledger_row).to_contain_text("2,375.00 USD")
    await expect(ledger_row).to_contain_text("pending")


async def test_a_partner_of_another_organisation_gets_404(page: Page, world: World, api: httpx.AsyncClient) -> None:
    catalog = await make_catalog(api, world.admin)
    ours = await register_via_api(api, world.pa_user, catalog, customer_name="Initech")

    await sign_in(page, world.pb_user)
    response = await page.goto(f"/deals/{ours['id']}")
    assert response is not None
    assert response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    await expect(page.locator("main")).not_to_contain_text("Initech")
    await expect(page.locator("main")).not_to_contain_text(ours["number"])

    response = await page.goto("/deals")
    assert response is not None
    assert response.status == 200
    await expect(page.locator("main")).not_to_contain_text(ours["number"])
