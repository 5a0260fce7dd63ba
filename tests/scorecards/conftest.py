from __future__ import annotations

import httpx
import pytest

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.portal.conftest import sign_in  # noqa: F401 - the portal's sign-in fixture, for the page tests
from tests.scorecards.dataset import DataSet, build


@pytest.fixture
async def data(client: httpx.AsyncClient, world: World, clock: ManualClock) -> DataSet:
    """The known data set, with the clock at dataset.NOW."""
    return await build(client, world, clock)
