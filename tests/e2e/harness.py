"""The real app under uvicorn in a background thread, and helpers for driving it from Chromium.

The server has its own event loop in its own thread, inside the test process, so a test can
move the shared ManualClock and the server sees it at once. asyncpg connections belong to the
loop that opened them: anything a test writes while the server runs goes through
`LiveServer.write` / `LiveServer.run`, which execute on the server's loop.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import uvicorn
from litestar import Litestar
from playwright.async_api import Page
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.db import Database
from tests.conftest import PASSWORD, Actor

T = TypeVar("T")
STARTUP_TIMEOUT_SECONDS = 30


class _Uvicorn(uvicorn.Server):
    """Tells the test thread the moment the server accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


class LiveServer:
    def __init__(self, app: Litestar) -> None:
        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", ws="none")
        self._server = _Uvicorn(config, self._ready)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"prm-live-{self.port}", daemon=True)
        self._serving: Any = None

    async def start(self) -> None:
        self._thread.start()
        self._serving = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        await asyncio.to_thread(self._ready.wait, STARTUP_TIMEOUT_SECONDS)
        if not self._server.started:
            self._serving.result(timeout=1)  # raises what stopped the start-up
            raise RuntimeError(f"the live server did not start within {STARTUP_TIMEOUT_SECONDS}s")

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._socket])
        except SystemExit as exc:  # uvicorn exits on a failed start-up; that must not stop the loop
            raise RuntimeError(f"uvicorn stopped during start-up (exit code {exc.code})") from None
        finally:
            self._ready.set()

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._serving is not None:
            await asyncio.wrap_future(self._serving)
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()
        self._socket.close()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's event loop (where its database connections live)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def write(self, work: Callable[[AsyncSession], Awaitable[T] | T]) -> T:
        """Run `work(session)` (sync or async) in one unit of work of the server's database."""
        db: Database = self.app.state.db

        async def in_unit_of_work() -> T:
            async with db.unit_of_work() as session:
                result = work(session)
                return await result if inspect.isawaitable(result) else result

        return await self.run(in_unit_of_work())


async def sign_in(page: Page, actor: Actor | str, password: str = PASSWORD, *, next_path: str = "") -> None:
    """Sign in through the real login form, with the keyboard, as a person would."""
    email = actor if isinstance(actor, str) else actor.email
    await page.goto(f"/login?next={next_path}" if next_path else "/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_label("Password").press("Enter")
    await page.wait_for_load_state()
