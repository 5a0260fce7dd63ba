"""Browser tests: the real app under uvicorn on a free port, and a real headless Chromium.

Fixtures:
- `live_server`: the app from tests/conftest.py (`settings`, `clock`, `app`), with `world`
  already written, served on 127.0.0.1:<free port> in a background thread. Write more data
  with `await live_server.write(lambda session: ...)`; move time with the `clock` fixture.
- `browser`: one Chromium for the whole run (Debian's /usr/bin/chromium, headless).
- `page`: a fresh browser context (own cookies) and page per test, its base URL the server,
  its time zone Europe/Berlin so shown times can be checked against UTC. A script error or a
  CSP refusal on the page fails the test.

Every test module here sets `pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]`:
the browser lives on the session's event loop, so the tests that drive it must run there too
(this conftest adds the loop scope to any e2e test that forgot it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from litestar import Litestar
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.conftest import World
from tests.e2e.harness import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
TIMEZONE = "Europe/Berlin"
ACTION_TIMEOUT_MS = 10_000
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Async e2e tests without an explicit loop scope run on the session's loop (pytest-asyncio
    reads the closest `asyncio` marker when the test is set up, so a prepended one wins)."""
    for item in items:
        if HERE not in Path(str(item.fspath)).parents:
            continue
        marker = item.get_closest_marker("asyncio")
        if marker is not None and not (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest_asyncio.fixture
async def live_server(app: Litestar, world: World) -> AsyncIterator[LiveServer]:
    # `world` was written on this fixture's loop; drop those pooled connections so the server's
    # loop opens its own (asyncpg connections cannot cross event loops).
    await world.db.dispose()
    server = LiveServer(app)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, live_server: LiveServer) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=live_server.url, timezone_id=TIMEZONE, locale="en-GB")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    opened = await context.new_page()
    # A script error or a Content-Security-Policy refusal fails the test that caused it.
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on("console", lambda msg: _note_csp_refusal(msg, problems))
    try:
        yield opened
    finally:
        await context.close()
    assert not problems, "the page reported problems:\n" + "\n".join(problems)


def _note_csp_refusal(message: ConsoleMessage, problems: list[str]) -> None:
    if message.type == "error" and "Content Security Policy" in message.text:
        problems.append(f"CSP: {message.text}")
