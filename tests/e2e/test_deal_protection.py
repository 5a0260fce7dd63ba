"""Exclusive protection in a real Chromium: the console refuses a second partner's approval next to
the override choice, the manager overrides with a listed reason, and both registrations show it
(the holder's partner without learning who); the terms a registration was approved under stay."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.conftest import World
from tests.e2e.harness import LiveServer, sign_in
from tests.e2e.test_deal_registration import switch_user
from tests.portal.deal_data import API, make_catalog, register_via_api

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def api(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        yield client


async def test_an_override_is_chosen_beside_the_refusal_and_shown_on_both_registrations(
    page: Page, world: World, api: httpx.AsyncClient
) -> None:
    catalog = await make_catalog(api, world.admin)
    holder = await register_via_api(api, world.pa_user, catalog)
    approved = await api.post(
        f"{API}/{holder['id']}/approve", json={"expected_version": holder["version"]}, headers=world.cm_a.headers
    )
    assert approved.status_code == 200, approved.text
    rival = await register_via_api(api, world.pb_user, catalog, customer_name="Umbrella Corp.")

    await sign_in(page, world.cm_b, next_path=f"/reviews/{rival['id']}")
    await page.get_by_role("button", name="Approve", exact=True).click()
    override = page.get_by_label("Override another partner's protection")
    await expect(override).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#approve-override-error")).to_contain_text(holder["number"])
    await expect(page.locator(".deal-head .state")).to_have_text("submitted")
    await expect(override).to_be_focused()  # the keyboard user chooses at once
    await override.select_option(label="Co-sell: both partners work the deal together")
    await page.get_by_label("Note to the partner (optional)").fill("Joint bid with the customer's consent")
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Approved")
    await expect(page.locator(".deal-head .state")).to_have_text("approved")
    shown = page.locator("[data-override]")
    await expect(shown).to_contain_text(f"approved while {holder['number']} held protection")
    await expect(shown).to_contain_text("Co-sell")

    await switch_user(page, world.pa_user, next_path=f"/deals/{holder['id']}")
    theirs = page.locator("[data-override]")
    await expect(theirs).to_contain_text(f"{rival['number']} was approved while this registration held protection")
    await expect(theirs).to_contain_text("Co-sell")
    main = page.locator("main")
    await expect(main).not_to_contain_text("Globex")
    await expect(main).not_to_contain_text("Joint bid")
    await expect(page.locator("[data-approved-terms]")).to_contain_text(re.compile(r"90 days of protection"))
    history = page.get_by_role("region", name="History")
    await expect(history).to_contain_text("Protection overridden")
