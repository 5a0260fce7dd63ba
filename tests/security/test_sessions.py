"""A token is only as good as its user right now: deactivation, a role, partner or password
change, and signing out (one's own or an admin's "sign out everywhere") end every session at
once, on the API and on the portal's pages; users cannot raise their own rights.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar

from prm.core.auth import Principal, Role
from tests.conftest import PASSWORD, Actor, World
from tests.portal.forms import csrf_token, post_login

API = "/api/v1"
NEW_PASSWORD = "a brand new passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def user_of(client: httpx.AsyncClient, actor: Actor, *, by: Actor | None = None) -> dict[str, Any]:
    reply = await client.get(f"{API}/users/{actor.user_id}", headers=(by or actor).headers)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def patch_user(client: httpx.AsyncClient, target: Actor, by: Actor, **changes: Any) -> httpx.Response:
    version = (await user_of(client, target, by=by))["version"]
    return await client.patch(
        f"{API}/users/{target.user_id}", json={"expected_version": version, **changes}, headers=by.headers
    )


async def works(client: httpx.AsyncClient, token: str) -> bool:
    """A read and a write with this token; both must agree."""
    read = await client.get(f"{API}/users/me", headers=bearer(token))
    write = await client.post(f"{API}/accounts", json={"name": f"Probe {uuid.uuid4().hex[:8]}"}, headers=bearer(token))
    assert (read.status_code == 200) == (write.status_code == 201), (read.text, write.text)
    if read.status_code != 200:
        assert read.status_code == write.status_code == 401
        assert read.headers["content-type"].startswith("application/problem+json")
    return read.status_code == 200


def field_of(reply: httpx.Response) -> str:
    errors = reply.json().get("errors") or [{}]
    return str(errors[0].get("field"))


async def test_a_deactivated_users_token_stops_working_at_once_and_cannot_reactivate_itself(
    client: httpx.AsyncClient, world: World
) -> None:
    token = world.pa_user.token
    assert await works(client, token)

    reply = await patch_user(client, world.pa_user, world.pa_admin, active=False)
    assert reply.status_code == 200, reply.text

    assert not await works(client, token)
    version = (await user_of(client, world.pa_user, by=world.pa_admin))["version"]
    again = await client.patch(
        f"{API}/users/{world.pa_user.user_id}",
        json={"expected_version": version, "active": True},
        headers=bearer(token),
    )
    assert again.status_code == 401
    signin = await client.post("/api/v1/auth/token", data={"username": world.pa_user.email, "password": PASSWORD})
    assert signin.status_code == 401


async def test_a_deactivated_partner_admin_cannot_create_a_partner_admin(
    client: httpx.AsyncClient, world: World
) -> None:
    token = world.pa_admin.token
    assert (await patch_user(client, world.pa_admin, world.admin, active=False)).status_code == 200

    reply = await client.post(
        f"{API}/users",
        json={"email": "new.admin@acme.test", "name": "New", "role": "partner_admin", "password": PASSWORD},
        headers=bearer(token),
    )
    assert reply.status_code == 401
    listed = await client.get(f"{API}/users?limit=100", headers=world.admin.headers)
    assert "new.admin@acme.test" not in {u["email"] for u in listed.json()["items"]}


async def test_a_signed_token_for_a_user_that_does_not_exist_is_refused(
    client: httpx.AsyncClient, world: World, app: Litestar
) -> None:
    ghost = Principal(user_id=uuid.uuid4(), role=Role.VENDOR_ADMIN, partner_id=None, email="ghost@vendor.test")
    token = app.state.tokens.issue(str(ghost.user_id), ghost.claims())
    assert not await works(client, token)


async def test_a_token_without_a_session_epoch_is_refused(
    client: httpx.AsyncClient, world: World, app: Litestar
) -> None:
    claims = world.pa_user.tokens.verify(world.pa_user.token)
    old_style = {k: v for k, v in claims.items() if k not in {"sep", "sub", "iss", "aud", "iat", "nbf", "exp", "jti"}}
    token = app.state.tokens.issue(str(world.pa_user.user_id), old_style)
    assert not await works(client, token)


async def test_a_role_change_ends_the_users_sessions(client: httpx.AsyncClient, world: World) -> None:
    token = world.pa_user.token
    reply = await patch_user(client, world.pa_user, world.pa_admin, role="partner_admin")
    assert reply.status_code == 200, reply.text
    assert reply.json()["role"] == "partner_admin"

    assert not await works(client, token)
    await world.pa_user.sign_in_again(world.db)
    assert world.pa_user.role is Role.PARTNER_ADMIN
    assert await works(client, world.pa_user.token)


async def test_a_partner_change_ends_the_users_sessions(client: httpx.AsyncClient, world: World) -> None:
    token = world.pa_user.token
    reply = await patch_user(client, world.pa_user, world.admin, partner_id=str(world.partner_b))
    assert reply.status_code == 200, reply.text
    assert not await works(client, token)


async def test_a_password_change_ends_the_sessions_and_needs_the_current_password(
    client: httpx.AsyncClient, world: World
) -> None:
    me = world.pa_user
    missing = await patch_user(client, me, me, password=NEW_PASSWORD)
    assert missing.status_code == 422
    assert field_of(missing) == "current_password"
    wrong = await patch_user(client, me, me, password=NEW_PASSWORD, current_password="not my password")
    assert wrong.status_code == 422
    assert field_of(wrong) == "current_password"
    token = me.token
    assert await works(client, token)

    changed = await patch_user(client, me, me, password=NEW_PASSWORD, current_password=PASSWORD)
    assert changed.status_code == 200, changed.text

    assert not await works(client, token)
    signin = await client.post("/api/v1/auth/token", data={"username": me.email, "password": NEW_PASSWORD})
    assert signin.status_code == 200
    assert await works(client, signin.json()["access_token"])


async def test_an_admin_resets_a_password_without_the_current_one(client: httpx.AsyncClient, world: World) -> None:
    token = world.pa_user.token
    reply = await patch_user(client, world.pa_user, world.pa_admin, password=NEW_PASSWORD)
    assert reply.status_code == 200, reply.text
    assert not await works(client, token)


async def test_sign_out_everywhere_for_oneself(client: httpx.AsyncClient, world: World) -> None:
    first, second = world.pb_user.fresh_token(), world.pb_user.fresh_token()
    assert await works(client, first)
    reply = await client.post(f"{API}/users/me/sign-out", headers=bearer(second))
    assert reply.status_code == 204

    assert not await works(client, first)
    assert not await works(client, second)
    assert await works(client, world.pb_admin.token)  # only that user's sessions ended
    history = await client.get(f"{API}/users/{world.pb_user.user_id}/history", headers=world.admin.headers)
    assert "signed_out_everywhere" in {entry["action"] for entry in history.json()["items"]}


async def test_admins_sign_out_the_users_they_manage_and_only_those(client: httpx.AsyncClient, world: World) -> None:
    partner_user, vendor_user = world.pa_user.token, world.cm_b.token
    by_partner_admin = await client.post(
        f"{API}/users/{world.pa_user.user_id}/sign-out", headers=world.pa_admin.headers
    )
    assert by_partner_admin.status_code == 204
    assert not await works(client, partner_user)

    # Another organisation's user is not there for a partner admin; a vendor user neither.
    for other in (world.pb_user, world.cm_a):
        reply = await client.post(f"{API}/users/{other.user_id}/sign-out", headers=world.pa_admin.headers)
        assert reply.status_code == 404
        assert await works(client, other.token)
    by_vendor_admin = await client.post(f"{API}/users/{world.cm_b.user_id}/sign-out", headers=world.admin.headers)
    assert by_vendor_admin.status_code == 204
    assert not await works(client, vendor_user)


async def test_a_partner_user_cannot_sign_out_a_colleague(client: httpx.AsyncClient, world: World) -> None:
    reply = await client.post(f"{API}/users/{world.pb_admin.user_id}/sign-out", headers=world.pb_user.headers)
    assert reply.status_code == 403
    assert await works(client, world.pb_admin.token)


async def test_nobody_changes_their_own_active_role_or_partner(client: httpx.AsyncClient, world: World) -> None:
    for me in (world.admin, world.pa_admin, world.pa_user):
        for field, value in (("active", True), ("role", "vendor_admin"), ("partner_id", str(world.partner_b))):
            reply = await patch_user(client, me, me, **{field: value})
            assert reply.status_code == 403, (me.email, field, reply.text)
            assert field_of(reply) == field
    after = await user_of(client, world.pa_user)
    assert (after["role"], after["partner_id"], after["version"]) == ("partner_user", str(world.partner_a), 1)
    renamed = await patch_user(client, world.pa_user, world.pa_user, name="Still allowed")
    assert renamed.status_code == 200


async def test_a_partner_admin_manages_only_partner_roles_of_its_own_organisation(
    client: httpx.AsyncClient, world: World
) -> None:
    for role in ("vendor_admin", "channel_manager", "leadership"):
        reply = await patch_user(client, world.pa_user, world.pa_admin, role=role)
        assert reply.status_code == 403, reply.text
        assert field_of(reply) == "role"
    moved = await patch_user(client, world.pa_user, world.pa_admin, partner_id=str(world.partner_b))
    assert moved.status_code == 403
    assert field_of(moved) == "partner_id"

    # Users of another organisation, and vendor users, are not there for it at all.
    for other in (world.pb_user, world.admin):
        reply = await client.patch(
            f"{API}/users/{other.user_id}",
            json={"expected_version": 1, "active": False},
            headers=world.pa_admin.headers,
        )
        assert reply.status_code == 404
    assert await works(client, world.pb_user.token)

    promoted = await patch_user(client, world.pa_user, world.pa_admin, role="partner_admin")
    assert promoted.status_code == 200


async def test_portal_pages_refuse_a_deactivated_users_session(client: httpx.AsyncClient, world: World) -> None:
    assert (await post_login(client, world.pa_user.email)).status_code == 303
    assert (await client.get("/")).status_code == 200

    assert (await patch_user(client, world.pa_user, world.pa_admin, active=False)).status_code == 200

    home = await client.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/login"


async def test_portal_sign_out_revokes_the_session_token(client: httpx.AsyncClient, world: World) -> None:
    assert (await post_login(client, world.pa_user.email)).status_code == 303
    session = client.cookies["prm_session"]
    assert await works(client, session)  # the cookie holds the API's own token

    form = {"_csrf_token": await csrf_token(client, "/")}
    assert (await client.post("/logout", data=form)).status_code == 303

    assert not await works(client, session)
    client.cookies.set("prm_session", session)  # a copy of the cookie kept from before
    replay = await client.get("/")
    assert replay.status_code == 303
    assert replay.headers["location"] == "/login"
