"""On a phone (390 x 844) the leads inbox, the review queue, the admin lists and the connect pages
are readable: their tables collapse to one block per row, each cell under its column's name, and
no cell lies beyond the right edge of the screen. The decline form of a lead opens from the keyboard."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.conftest import Actor, World
from tests.e2e.conftest import ACTION_TIMEOUT_MS, TIMEZONE
from tests.e2e.harness import LiveServer, sign_in
from tests.portal.deal_data import Catalog, register_via_api
from tests.portal.lead_data import lead_scene, qualified_lead, route_via_api

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

PHONE = {"width": 390, "height": 844}
INBOX_SCREENSHOT = Path(tempfile.gettempdir()) / "prm-phone-leads-inbox.png"  # looked at by people, kept after the run
QUEUE_SCREENSHOT = Path(tempfile.gettempdir()) / "prm-phone-review-queue.png"
# Every table cell's right edge, and the page's own widths, measured by the browser.
MEASURE = """() => {
  const cells = [...document.querySelectorAll("main table td, main table th")]
    .filter((cell) => cell.getClientRects().length > 0)
    .map((cell) => ({ text: cell.innerText.slice(0, 40), right: cell.getBoundingClientRect().right }));
  return { cells, viewport: window.innerWidth, scroll: document.documentElement.scrollWidth };
}"""


@pytest_asyncio.fixture(loop_scope="session")
async def api(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def phone(browser: Browser, live_server: LiveServer) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=live_server.url, timezone_id=TIMEZONE, locale="en-GB", viewport=PHONE, is_mobile=True
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def nothing_beyond_the_right_edge(page: Page) -> int:
    measured: dict[str, Any] = await page.evaluate(MEASURE)
    viewport = measured["viewport"]
    assert viewport == PHONE["width"]
    beyond = [cell for cell in measured["cells"] if cell["right"] > viewport + 0.5]
    assert beyond == [], f"cells beyond the right edge of {viewport} px: {beyond[:5]}"
    assert measured["scroll"] <= viewport, "the page scrolls sideways"
    return len(measured["cells"])


async def signed_in(page: Page, actor: Actor, path: str, heading: str) -> None:
    await page.context.clear_cookies()
    await sign_in(page, actor, next_path=path)
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)


async def deal_program(api: httpx.AsyncClient, world: World, product_id: str) -> Catalog:
    body = {"name": "Northwind Deal Registration", "currency": "USD", "margin_bps": 500, "eligible_tiers": ["gold"]}
    reply = await api.post("/api/v1/deal-programs", json=body, headers=world.admin.headers)
    assert reply.status_code == 201, reply.text
    return Catalog(program=reply.json(), products={"FW-100": product_id})


async def test_the_leads_inbox_and_the_review_queue_fit_a_phone(
    phone: Page, api: httpx.AsyncClient, world: World
) -> None:
    scene = await lead_scene(api, world)
    for i, company in enumerate(("Initech International Holdings", "Hooli", "Pied Piper")):
        lead = await qualified_lead(api, world, scene, company=company, email=f"buyer@company{i}.example")
        await route_via_api(api, world, lead, target_kind="partner", partner_id=str(world.partner_a))
    catalog = await deal_program(api, world, scene.product_id)
    for name in ("Umbrella Corporation of North America", "Wayne Enterprises"):
        await register_via_api(api, world.pa_user, catalog, customer_name=name, customer_website=None)

    await signed_in(phone, world.pa_user, "/leads", "Leads inbox")
    rows = phone.locator("tr.lead-row")
    await expect(rows).to_have_count(3)
    assert await nothing_beyond_the_right_edge(phone) >= 3 * 6
    await expect(rows.first.locator('td[data-label="Answer"]')).to_contain_text("left")

    # The keyboard opens one row's decline form, its reason first.
    decline = rows.first.get_by_role("link", name="Decline…")
    await decline.focus()
    await phone.keyboard.press("Enter")
    await expect(phone.locator("form.lead-decline")).to_have_count(1)
    await expect(phone.get_by_label("Reason to decline")).to_be_focused()
    await nothing_beyond_the_right_edge(phone)
    await phone.screenshot(path=INBOX_SCREENSHOT, full_page=True)

    await signed_in(phone, world.cm_a, "/reviews", "Review queue")
    queue = phone.locator("table.queue-table tbody tr")
    await expect(queue).to_have_count(2)
    await expect(queue.first.locator('td[data-label="Customer"]')).to_be_visible()
    assert await nothing_beyond_the_right_edge(phone) >= 2 * 6
    await phone.screenshot(path=QUEUE_SCREENSHOT, full_page=True)


async def test_the_admin_and_connect_tables_fit_a_phone(phone: Page, api: httpx.AsyncClient, world: World) -> None:
    scene = await lead_scene(api, world)
    await deal_program(api, world, scene.product_id)
    lead = await qualified_lead(api, world, scene, company="Initech International Holdings")
    await route_via_api(api, world, lead, target_kind="partner", partner_id=str(world.partner_a))
    await qualified_lead(api, world, scene, company="Hooli", email="buyer@hooli.example")  # waits in the queue
    hook = {"url": "https://hooks.example.com/a/rather/long/path/to/the/receiving/endpoint", "event_types": ["*"]}
    made = await api.post("/api/v1/webhooks", json=hook, headers=world.admin.headers)
    assert made.status_code == 201, made.text
    rule = {"name": "Nordics to Acme", "countries": ["NO", "SE"], "target_kind": "partner"}
    rule["target_partner_id"] = str(world.partner_a)
    assert (
        await api.post("/api/v1/distribution/routing-rules", json=rule, headers=world.admin.headers)
    ).status_code == 201

    await phone.context.clear_cookies()
    await sign_in(phone, world.admin)
    webhook_page = f"/webhooks/{made.json()['id']}"
    for path in (
        "/partners",
        "/programs",
        "/lead-programs",
        "/shark-tank",
        "/users",
        "/webhooks",
        webhook_page,
        "/lead-rules",
        "/lead-queue",
    ):
        reply = await phone.goto(path)
        assert reply is not None
        assert reply.status == 200, path
        labelled = phone.locator("main table.stack-table tbody td[data-label]")
        assert await labelled.count() > 0, f"{path}: no labelled cells"
        assert await nothing_beyond_the_right_edge(phone) > 0, path
