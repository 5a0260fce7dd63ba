"""The API docs at /schema in a real Chromium, with nothing fetched from outside the app."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Request, expect

from tests.conftest import PASSWORD, World
from tests.e2e.harness import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]
DOCS_TIMEOUT_MS = 45_000


async def test_swagger_ui_renders_and_signs_in_without_leaving_the_machine(
    page: Page, live_server: LiveServer, world: World
) -> None:
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(_failure(request)))

    # The whole OpenAPI document is rendered in the page: give a busy machine more than the
    # default time for it.
    page.set_default_timeout(DOCS_TIMEOUT_MS)
    await page.goto("/schema")

    # Swagger UI renders the operations that come into view: a tall window shows them all.
    await page.set_viewport_size({"width": 1280, "height": 16_000})
    document = await (await page.request.get("/schema/openapi.json")).json()
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    operations = page.locator(".opblock")
    await expect(operations.filter(has_text="/api/v1/partners").first).to_be_visible(timeout=DOCS_TIMEOUT_MS)
    await expect(operations).to_have_count(len(operation_ids), timeout=DOCS_TIMEOUT_MS)
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("prm")

    # The Authorize button takes an email and password (the OAuth2 password grant), and a call
    # tried from the page then carries the token.
    await page.get_by_role("button", name="Authorize").first.click()
    await page.locator("#oauth_username").fill(world.admin.email)
    await page.locator("#oauth_password").fill(PASSWORD)
    await page.get_by_role("button", name="Apply given OAuth2 credentials").click()
    await expect(page.get_by_role("button", name="Remove authorization")).to_be_visible(timeout=DOCS_TIMEOUT_MS)
    await page.locator(".dialog-ux .close-modal").click()
    me = page.locator("#operations-users-ApiV1UsersMeMe")
    await me.locator(".opblock-summary").click()
    await me.get_by_role("button", name="Try it out").click()
    await me.get_by_role("button", name="Execute").click()
    replies = me.locator(".live-responses-table tbody")
    await expect(replies.locator(".response-col_status").first).to_have_text("200", timeout=DOCS_TIMEOUT_MS)
    await expect(replies.locator(".microlight").first).to_contain_text(world.admin.email)

    hosts = {urlsplit(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {f"127.0.0.1:{live_server.port}"}, requested
    assert not failed, failed


def _failure(request: Request) -> str:
    return f"{request.url}: {request.failure}"
