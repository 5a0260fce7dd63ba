from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.factories.deals import Deals, make_deals


@pytest.fixture
async def deals(client: httpx.AsyncClient, app: Litestar, world: World, clock: ManualClock) -> Deals:
    """Two products and a program with the default terms (5 % margin in USD)."""
    return await make_deals(client, app, world, clock)
