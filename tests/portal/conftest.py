"""Fixtures for HTTP-level page tests: a client signed in through the real login form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import Actor
from tests.portal.forms import Client, post_login

SignIn = Callable[[Actor], Awaitable[Client]]


@pytest.fixture
def sign_in(client: Client) -> SignIn:
    """`await sign_in(actor)`: the shared client, now holding that actor's session cookie."""

    async def sign_in_as(actor: Actor) -> Client:
        client.cookies.clear()
        reply = await post_login(client, actor.email)
        assert reply.status_code == 303, reply.text
        return client

    return sign_in_as
