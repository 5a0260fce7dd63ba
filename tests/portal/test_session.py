"""The portal over HTTP: the session cookie's flags, sign-in rules, CSRF, errors as pages."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from tests.conftest import PASSWORD, World
from tests.portal.forms import Client, csrf_token, post_login, session_cookie_of


async def test_sign_in_sets_an_http_only_lax_session_cookie_with_the_api_token(
    client: Client, world: World, app: Litestar
) -> None:
    reply = await post_login(client, world.pa_user.email.upper())

    assert reply.status_code == 303
    assert reply.headers["location"] == "/"
    cookie = session_cookie_of(reply)
    assert cookie is not None
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(app.state.tokens.ttl_seconds)
    assert not cookie["secure"]
    claims = app.state.tokens.verify(cookie.value)
    assert claims["sub"] == str(world.pa_user.user_id)
    assert claims["pid"] == str(world.partner_a)
    assert claims["role"] == "partner_user"

    home = await client.get("/")
    assert home.status_code == 200
    assert "<h1>Acme Resellers</h1>" in home.text


@pytest.mark.parametrize("settings_overrides", [{"cookie_secure": True}])
async def test_session_cookie_is_secure_when_configured(app: Litestar, world: World) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://prm.test") as secure_client:
        reply = await post_login(secure_client, world.pa_user.email)
    await app.state.runtime.close()

    assert reply.status_code == 303
    cookie = session_cookie_of(reply)
    assert cookie is not None
    assert cookie["secure"] is True
    assert cookie["httponly"] is True


async def test_the_api_never_accepts_the_session_cookie(client: Client, world: World) -> None:
    assert (await post_login(client, world.pa_user.email)).status_code == 303
    assert client.cookies.get("prm_session")

    reply = await client.get("/api/v1/accounts")
    assert reply.status_code == 401
    assert reply.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("next_value", "expected"),
    [
        ("/mailbox?cursor=abc", "/mailbox?cursor=abc"),
        ("//evil.example/phish", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
async def test_only_same_site_relative_next_targets_are_followed(
    client: Client, world: World, next_value: str, expected: str
) -> None:
    reply = await post_login(client, world.admin.email, next=next_value)
    assert reply.status_code == 303
    assert reply.headers["location"] == expected


async def test_wrong_password_and_missing_fields_are_shown_next_to_the_field(client: Client, world: World) -> None:
    wrong = await post_login(client, world.pa_user.email, "nope")
    assert wrong.status_code == 400
    assert session_cookie_of(wrong) is None
    assert 'id="password-error">Wrong email or password.<' in wrong.text
    assert 'aria-describedby="password-error"' in wrong.text
    assert "nope" not in wrong.text  # the password is never echoed back

    inactive_or_unknown = await post_login(client, "nobody@nowhere.test")
    assert inactive_or_unknown.status_code == 400
    assert "Wrong email or password." in inactive_or_unknown.text

    empty = await post_login(client, "", "")
    assert empty.status_code == 400
    assert 'id="email-error">Enter your email address.<' in empty.text
    assert 'id="password-error">Enter your password.<' in empty.text


async def test_post_without_csrf_token_is_refused(client: Client, world: World) -> None:
    await csrf_token(client)  # the cookie is there; the form field is not
    reply = await client.post("/login", data={"email": world.pa_user.email, "password": PASSWORD})
    assert reply.status_code == 403
    assert session_cookie_of(reply) is None

    forged = await client.post(
        "/login", data={"_csrf_token": "forged", "email": world.pa_user.email, "password": PASSWORD}
    )
    assert forged.status_code == 403


async def test_signed_out_pages_redirect_to_login_with_the_way_back(client: Client) -> None:
    home = await client.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/login"

    mailbox = await client.get("/mailbox?cursor=x")
    assert mailbox.status_code == 303
    assert mailbox.headers["location"] == "/login?next=%2Fmailbox%3Fcursor%3Dx"


async def test_tampered_or_expired_cookie_counts_as_signed_out(client: Client, world: World, app: Litestar) -> None:
    client.cookies.set("prm_session", world.pa_user.token[:-4] + "AAAA")
    assert (await client.get("/")).status_code == 303

    client.cookies.set("prm_session", world.pa_user.token)
    assert (await client.get("/")).status_code == 200


async def test_sign_out_clears_the_cookie(client: Client, world: World) -> None:
    await post_login(client, world.pa_user.email)
    token = await csrf_token(client, "/")  # the sign-out button's form in the layout
    reply = await client.post("/logout", data={"_csrf_token": token})
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login"
    cookie = session_cookie_of(reply)
    assert cookie is not None
    assert cookie["max-age"] == "0"
    assert (await client.get("/")).status_code == 303


async def test_signed_in_visitor_of_login_goes_home(client: Client, world: World) -> None:
    await post_login(client, world.pa_user.email)
    reply = await client.get("/login?next=/mailbox")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/mailbox"


async def test_unknown_pages_are_html_but_unknown_api_paths_stay_problem_json(client: Client) -> None:
    page = await client.get("/definitely/not/here")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]

    api = await client.get("/api/v1/definitely-not-here")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")

    missing_asset = await client.get("/static/nope.css")
    assert missing_asset.status_code == 404


async def test_static_assets_are_served_by_the_app(client: Client) -> None:
    css = await client.get("/static/app.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    script = await client.get("/static/app.js")
    assert script.status_code == 200
    assert "time[datetime]" in script.text


async def test_signed_in_visitor_can_sign_out_from_an_unknown_page(client: Client, world: World) -> None:
    # No route matched, so no CSRF middleware ran; the page still carries the cookie's token.
    await post_login(client, world.pa_user.email)
    token = await csrf_token(client, "/no/such/page")
    assert token == client.cookies.get("prm_csrf")
    reply = await client.post("/logout", data={"_csrf_token": token})
    assert reply.status_code == 303
    assert (await client.get("/")).status_code == 303
