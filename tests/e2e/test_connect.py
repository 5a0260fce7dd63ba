"""Connect in a real Chromium between two real `prm serve` processes (tests/connect/harness.py:
each its own database, SQLite files or two fresh PostgreSQL databases).

The vendor's admin invites the partner's instance from the Connect page; the partner's admin
accepts on theirs; the vendor publishes accounts and opportunities, the partner subscribes
(fields auto-mapped by name); the vendor shares an opportunity with its account from the
record's page; the partner accepts the account (its opportunity follows), and both sides'
External sharing shows the records active. One screenshot per page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.connect.harness import PASSWORD, Instance
from tests.e2e.conftest import ACTION_TIMEOUT_MS, TIMEZONE, _note_csp_refusal
from tests.e2e.harness import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

DELIVERY_WITHIN_SECONDS = 45.0


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kept under the run's pytest temporary folder (…/pytest-of-<user>/pytest-<n>/screenshots)."""
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    vendor = Instance("vendor", tmp_path_factory.mktemp("vendor"))
    partner = Instance("partner", tmp_path_factory.mktemp("partner"))
    try:
        for instance in (vendor, partner):  # one at a time: alembic's migration context is process-global
            instance.set_up()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda instance: instance.start(), (vendor, partner)))
        yield vendor, partner
    finally:
        for instance in (vendor, partner):
            instance.stop()
            instance.drop_database()


@asynccontextmanager
async def admin_page(browser: Browser, instance: Instance) -> AsyncIterator[Page]:
    """A browser signed in as the instance's admin; a script error or CSP refusal fails the test."""
    context = await browser.new_context(base_url=instance.url, timezone_id=TIMEZONE, locale="en-GB")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on("console", lambda msg: _note_csp_refusal(msg, problems))
    try:
        await sign_in(opened, instance.admin_email, PASSWORD)
        yield opened
    finally:
        await context.close()
    assert not problems, f"{instance.name}'s pages reported problems:\n" + "\n".join(problems)


async def reload_until(page: Page, locator: Locator, what: str) -> None:
    """The other instance delivers through its outbox on its own schedule: reload until it shows."""
    deadline = time.monotonic() + DELIVERY_WITHIN_SECONDS
    while not await locator.count():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not show within {DELIVERY_WITHIN_SECONDS}s")
        await asyncio.sleep(0.25)  # waiting for the other process, not for time to pass
        await page.reload()


async def test_two_instances_connect_publish_subscribe_and_share_through_their_pages(
    browser: Browser, instances: tuple[Instance, Instance], screenshots: Path
) -> None:
    vendor, partner = instances
    account = vendor.call("POST", "/api/v1/accounts", {"name": "Wingtip Corp"}, expect=201)
    vendor.call("POST", "/api/v1/contacts", {"account_id": account["id"], "first_name": "Ada", "last_name": "Lace"},
                expect=201)  # fmt: skip
    opportunity = vendor.call(
        "POST",
        "/api/v1/opportunities",
        {"name": "Wingtip deal", "account_id": account["id"], "amount_minor": 500000, "currency": "EUR",
         "close_date": "2026-06-30"},
        expect=201,
    )  # fmt: skip

    async with admin_page(browser, vendor) as a, admin_page(browser, partner) as b:
        # The vendor invites the partner's instance, with the keyboard.
        await a.get_by_role("navigation", name="Main").get_by_role("link", name="Connect").click()
        await expect(a.get_by_role("heading", level=1)).to_have_text("Connect")
        await a.screenshot(path=screenshots / "connect-list.png", full_page=True)
        await a.get_by_label("Peer base URL").fill(partner.url)
        await a.get_by_label("Contact email").fill("owner@partner.example")
        await a.get_by_label("Contact email").press("Enter")
        await a.wait_for_url("**/connect/*?done=invited")
        connection_url = a.url.split("?", 1)[0]
        await expect(a.locator(".deal-head [data-status]")).to_have_text("Invitation sent")
        await a.screenshot(path=screenshots / "connect-invited.png", full_page=True)

        # The partner sees the invitation and accepts it.
        await b.goto("/connect")
        invitation = b.get_by_role("link", name=vendor.url)
        await reload_until(b, invitation, "the invitation on the partner")
        await expect(b.locator("#connections [data-status]")).to_have_text("Invitation received")
        await invitation.click()
        await expect(b.get_by_role("link", name="Decide later")).to_be_visible()
        await b.screenshot(path=screenshots / "connect-received.png", full_page=True)
        await b.get_by_role("button", name="Accept", exact=True).click()
        await expect(b.get_by_role("status")).to_contain_text("Connection accepted.")
        partner_connection_url = b.url.split("?", 1)[0]

        # The vendor sees it accepted and publishes accounts and opportunities (S2S defaults ticked).
        await a.goto(connection_url)
        await reload_until(a, a.locator('.deal-head [data-status="accepted"]'), "accepted on the vendor")
        await a.get_by_role("button", name="Publish accounts").click()
        await expect(a.get_by_role("status")).to_contain_text("Publication saved")
        await a.get_by_role("button", name="Publish opportunities").click()
        await expect(a.get_by_role("status")).to_contain_text("Publication saved")
        await a.screenshot(path=screenshots / "connect-published.png", full_page=True)

        # The partner subscribes to both, fields auto-mapped by name.
        await b.goto(partner_connection_url)
        opportunities = b.locator("#subscribe-opportunity")
        await reload_until(b, opportunities, "the vendor's publications on the partner")
        await reload_until(b, b.locator("#subscribe-account"), "the account publication on the partner")
        await expect(opportunities.get_by_text("Auto-mapped by name")).to_have_count(3)
        await expect(opportunities.get_by_label("close_date (date) maps to")).to_have_value("close_date")
        await b.screenshot(path=screenshots / "connect-subscribe.png", full_page=True)
        for object_name in ("account", "opportunity"):
            await b.locator(f"#subscribe-{object_name}").get_by_role("button", name="Subscribe").click()
            await expect(b.get_by_role("status")).to_contain_text("Subscription and field map saved")

        # The vendor shares the opportunity with its account from the record's page.
        await a.goto(connection_url)
        subscribed = a.locator("#publish-opportunity").get_by_text("peer subscribed")
        await reload_until(a, subscribed, "the partner's subscription on the vendor")
        await reload_until(a, a.locator("#publish-account").get_by_text("peer subscribed"), "accounts subscribed")
        await a.get_by_role("navigation", name="Main").get_by_role("link", name="Connect").click()
        await a.get_by_role("link", name="Records and their sharing").click()
        await a.get_by_role("link", name="Opportunities").click()
        await a.get_by_role("link", name="Wingtip deal").click()
        await expect(a.get_by_text("Not shared with any connection.")).to_be_visible()
        await a.get_by_label(partner.url).check()
        await a.get_by_role("button", name="Share", exact=True).click()  # with the contacts too: not subscribed
        await expect(a.locator("#include_contacts-error")).to_contain_text("not subscribed to contact")
        await a.screenshot(path=screenshots / "connect-share-refused.png", full_page=True)
        await a.get_by_label("With the account's contacts").press("Space")  # untick, by keyboard
        await a.get_by_role("button", name="Share", exact=True).click()
        await expect(a.get_by_role("status")).to_contain_text("Shared.")
        await expect(a.locator(".connect-sharing [data-status]")).to_have_text("Pending (sent)")
        record_url = a.url.split("?", 1)[0]

        # The partner accepts the account; its opportunity follows.
        await b.goto(partner_connection_url)
        pending = b.get_by_role("button", name="Accept account Wingtip Corp")
        await reload_until(b, pending, "the shared account on the partner")
        await expect(b.locator('[data-status="pending_received"]')).to_have_count(2)
        await b.screenshot(path=screenshots / "connect-pending.png", full_page=True)
        await pending.click()
        await expect(b.get_by_role("status")).to_contain_text("Record accepted")
        await expect(b.locator('[data-status="active_received"]')).to_have_count(2)
        await b.locator(".connect-shares tr", has_text="opportunity").get_by_role("link").click()
        await expect(b.get_by_role("heading", level=1)).to_have_text("Wingtip deal")
        await expect(b.locator(".connect-sharing [data-status]")).to_have_text("Active (received)")
        await expect(b.locator(".connect-sharing")).to_contain_text(opportunity["id"])  # the vendor's id
        await b.screenshot(path=screenshots / "connect-record-partner.png", full_page=True)
        partner_copy = b.url.rsplit("/", 1)[1]

        # The vendor sees it active, with the partner's record id.
        await a.goto(record_url)
        await reload_until(a, a.locator('.connect-sharing [data-status="active_sent"]'), "active on the vendor")
        await expect(a.locator(".connect-sharing")).to_contain_text(partner_copy)
        await a.screenshot(path=screenshots / "connect-record-vendor.png", full_page=True)
        await a.goto("/connect/dead-letters")
        await expect(a.get_by_text("No dead letters")).to_be_visible()
        await a.screenshot(path=screenshots / "connect-dead-letters.png", full_page=True)
