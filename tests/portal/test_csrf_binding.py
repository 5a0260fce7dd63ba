"""The portal's CSRF token belongs to one session, and its cookies are Secure behind HTTPS."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from tests.conftest import World
from tests.portal.forms import Client, csrf_token, post_login, session_cookie_of


async def signed_in(app: Litestar, email: str) -> Client:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prm.test")
    assert (await post_login(client, email)).status_code == 303
    return client


async def test_a_csrf_token_from_another_session_is_refused(client: Client, world: World, app: Litestar) -> None:
    other = await signed_in(app, world.pb_user.email)
    try:
        stolen_token, stolen_cookie = await csrf_token(other, "/"), other.cookies["prm_csrf"]
    finally:
        await other.aclose()
    assert (await post_login(client, world.pa_user.email)).status_code == 303
    own, own_cookie = await csrf_token(client, "/"), client.cookies["prm_csrf"]
    assert own != stolen_token

    # The other session's token with its cookie (a double submit that matches, as a cookie
    # planted from a sibling domain would make it): refused, and the session goes on.
    client.cookies.set("prm_csrf", stolen_cookie)
    refused = await client.post("/logout", data={"_csrf_token": stolen_token})
    assert refused.status_code == 403
    refused_by_header = await client.post("/logout", headers={"x-csrf-token": stolen_token})
    assert refused_by_header.status_code == 403
    assert (await client.get("/")).status_code == 200

    # The page's own token (from the session's own cookie) still works.
    client.cookies.set("prm_csrf", own_cookie)
    signed_out = await client.post("/logout", data={"_csrf_token": own})
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login"


async def test_the_token_from_before_sign_in_is_not_the_sessions(client: Client, world: World) -> None:
    before = await csrf_token(client)
    cookie_before = client.cookies["prm_csrf"]
    assert (await post_login(client, world.pa_user.email)).status_code == 303
    client.cookies.set("prm_csrf", cookie_before)
    assert (await client.post("/logout", data={"_csrf_token": before})).status_code == 403


@pytest.mark.parametrize("settings_overrides", [{"base_url": "https://prm.example.com", "cookie_secure": False}])
async def test_cookies_are_secure_whenever_the_base_url_is_https(app: Litestar, world: World) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://prm.test") as secure_client:
        reply = await post_login(secure_client, world.pa_user.email)
    await app.state.runtime.close()
    assert reply.status_code == 303
    session = session_cookie_of(reply)
    assert session is not None
    assert session["secure"] is True
    csrf = [h for h in reply.headers.get_list("set-cookie") if h.startswith("prm_csrf=")]
    assert csrf
    assert all("Secure" in h for h in csrf)
