"""Connect admin pages over HTTP: connections, publish and subscribe with field maps, records'
external sharing with the share action, and dead letters with replay.

The peer instance is played by the test (tests/security/connect.py: signed messages to the
real inbox), so every state a page shows was reached through the connect services.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar

from prm.core.tokens import public_key_pem
from tests.conftest import World
from tests.portal.conftest import SignIn
from tests.portal.deal_data import API as DEALS
from tests.portal.deal_data import make_catalog, register_via_api
from tests.portal.forms import Client, csrf_token
from tests.security.connect import Peer
from tests.security.factories import API

CONNECTIONS = f"{API}/connect/connections"
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"outbox_max_attempts": 1, "peer_max_attempts": 1}  # the first failed delivery is a dead letter


async def post_form(
    client: Client, path: str, fields: dict[str, Any], *, page: str, any_form: bool = False
) -> httpx.Response:
    """What a browser does: load the page, send the form whose action is `path` with the token
    that form carries (`any_form`: the page no longer offers it; send it as a stale tab would)."""
    if any_form:
        token = await csrf_token(client, page)
    else:
        token = form_token((await client.get(page)).text, path)
    return await client.post(path, data={"_csrf_token": token, **fields})


def form_token(page: str, action: str) -> str:
    for form in re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page, re.S):
        if form[0] == action:
            found = re.search(r'name="_csrf_token" value="([^"]+)"', form[1])
            assert found, f"the form {action} carries no CSRF token"
            return found.group(1)
    raise AssertionError(f"no form posts to {action}")


def field_error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>', page)
    assert found, f"no error next to {field_id}"
    assert re.search(rf'id="{re.escape(field_id)}"[^>]*aria-describedby="[^"]*{re.escape(field_id)}-error"', page), (
        f"{field_id} does not point at its error"
    )
    return html.unescape(found.group(1))


def status_of(page: str, share_or_connection_id: str) -> str:
    row = re.search(rf'id="(?:share|connection)-{share_or_connection_id}".*?data-status="(\w+)"', page, re.S)
    assert row, f"{share_or_connection_id} is not listed"
    return row.group(1)


async def invited_by_peer(client: Client, world: World) -> Peer:
    """A peer instance invites this one (its message through the real, signed inbox)."""
    peer = Peer()
    invitation = {
        "instance_id": peer.instance_id,
        "base_url": peer.url,
        "public_key": public_key_pem(peer.key),
        "invite_secret": "secret-" + peer.instance_id,
        "contact_email": "owner@peer.example",
    }
    await peer.send(client, world, "invite", invitation)
    reply = await client.get(CONNECTIONS, headers=world.admin.headers)
    peer.ours = next(c["id"] for c in reply.json()["items"] if c["peer_instance_id"] == peer.instance_id)
    return peer


async def accepted_peer(client: Client, world: World, sign_in: SignIn) -> Peer:
    peer = await invited_by_peer(client, world)
    await sign_in(world.admin)
    page = f"/connect/{peer.ours}"
    accepted = await post_form(client, f"{page}/accept", {"owner_id": str(world.admin.user_id)}, page=page)
    assert accepted.status_code == 303, accepted.text
    return peer


# Connections -----------------------------------------------------------------------------------


async def test_only_vendor_admins_get_the_connect_pages_and_the_nav_link(sign_in: SignIn, world: World) -> None:
    client = await sign_in(world.admin)
    home = await client.get("/")
    assert 'href="/connect"' in home.text
    listing = await client.get("/connect")
    assert listing.status_code == 200
    assert "No connections yet" in listing.text
    for actor in (world.cm_a, world.leader, world.pa_admin):
        await sign_in(actor)
        assert 'href="/connect"' not in (await client.get("/")).text
        for path in ("/connect", "/connect/dead-letters", "/connect/records"):
            assert (await client.get(path)).status_code == 403, (actor.email, path)


async def test_invite_shows_each_problem_next_to_its_field_and_writes_nothing(sign_in: SignIn, world: World) -> None:
    client = await sign_in(world.admin)
    empty = await post_form(
        client, "/connect/invite", {"peer_url": "", "contact_email": "x@y.example"}, page="/connect"
    )
    assert empty.status_code == 400
    assert "base URL" in field_error(empty.text, "peer_url")
    bad_mail = await post_form(
        client, "/connect/invite", {"peer_url": UNREACHABLE, "contact_email": "nobody"}, page="/connect"
    )
    assert bad_mail.status_code == 400
    assert "valid email" in field_error(bad_mail.text, "contact_email")
    assert f'value="{UNREACHABLE}"' in bad_mail.text  # what was typed stays
    itself = await post_form(
        client,
        "/connect/invite",
        {"peer_url": "http://127.0.0.1:8000/", "contact_email": "x@y.example"},
        page="/connect",
    )
    assert itself.status_code == 422
    assert "itself" in field_error(itself.text, "peer_url")
    listed = await client.get(CONNECTIONS, headers=world.admin.headers)
    assert listed.json()["items"] == []


async def test_invite_then_resend_then_cancel_and_a_second_invite_is_refused_at_the_url(
    sign_in: SignIn, world: World
) -> None:
    client = await sign_in(world.admin)
    fields = {"peer_url": UNREACHABLE, "contact_email": "owner@peer.example", "owner_id": str(world.admin.user_id)}
    invited = await post_form(client, "/connect/invite", fields, page="/connect")
    assert invited.status_code == 303
    location = invited.headers["location"]
    assert location.endswith("?done=invited")
    connection_id = location.split("/")[2].split("?")[0]
    page = (await client.get(location)).text
    assert "Invitation sent." in page
    assert "Resend the invitation" in page
    assert "Cancel the invitation" in page
    listing = await client.get("/connect")
    assert status_of(listing.text, connection_id) == "sent"

    again = await post_form(client, "/connect/invite", fields, page="/connect")
    assert again.status_code == 409
    assert "already" in field_error(again.text, "peer_url")

    path = f"/connect/{connection_id}"
    resent = await post_form(client, f"{path}/state", {"action": "resend"}, page=path)
    assert resent.headers["location"] == f"{path}?done=resent"
    cancelled = await post_form(client, f"{path}/state", {"action": "cancel"}, page=path)
    assert cancelled.headers["location"] == f"{path}?done=cancelled"
    page = (await client.get(path)).text
    assert "Cancel the invitation" not in page
    assert "This connection has ended" in page
    twice = await post_form(client, f"{path}/state", {"action": "cancel"}, page=path, any_form=True)
    assert twice.status_code == 409
    assert "The connection is inactive; it cannot be canceled now." in html.unescape(twice.text)
    reply = await client.get(f"{CONNECTIONS}/{connection_id}", headers=world.admin.headers)
    assert reply.json()["status"] == "inactive"


async def test_a_received_invitation_can_wait_be_declined_or_accepted_with_an_owner(
    client: Client, sign_in: SignIn, world: World
) -> None:
    later = await invited_by_peer(client, world)
    declined = await invited_by_peer(client, world)
    await sign_in(world.admin)
    listing = (await client.get("/connect")).text
    assert status_of(listing, str(later.ours)) == "received"
    page = (await client.get(f"/connect/{later.ours}")).text
    assert "Accept the invitation" in page
    assert 'href="/connect" class="cancel-link">Decide later' in page
    assert "No record is shared on this connection yet." in page
    path = f"/connect/{declined.ours}"
    reply = await post_form(client, f"{path}/state", {"action": "decline"}, page=path)
    assert reply.headers["location"] == f"{path}?done=declined"
    assert status_of((await client.get("/connect")).text, str(declined.ours)) == "declined"

    path = f"/connect/{later.ours}"
    not_vendor = await post_form(client, f"{path}/accept", {"owner_id": str(world.pa_admin.user_id)}, page=path)
    assert not_vendor.status_code == 422
    assert "vendor user" in field_error(not_vendor.text, "owner_id")
    assert status_of((await client.get("/connect")).text, str(later.ours)) == "received"  # nothing written
    accepted = await post_form(client, f"{path}/accept", {"owner_id": str(world.cm_a.user_id)}, page=path)
    assert accepted.headers["location"] == f"{path}?done=accepted"
    page = (await client.get(accepted.headers["location"])).text
    assert "Connection accepted." in page
    assert "cm.a@vendor.test" in page
    assert "Deactivate" in page
    reply = await client.get(f"{CONNECTIONS}/{later.ours}", headers=world.admin.headers)
    assert (reply.json()["status"], reply.json()["owner_id"]) == ("accepted", str(world.cm_a.user_id))


async def test_deactivating_an_accepted_connection_ends_it_on_the_page(
    client: Client, sign_in: SignIn, world: World
) -> None:
    peer = await accepted_peer(client, world, sign_in)
    path = f"/connect/{peer.ours}"
    reply = await post_form(client, f"{path}/state", {"action": "deactivate"}, page=path)
    assert reply.headers["location"] == f"{path}?done=deactivated"
    page = (await client.get(reply.headers["location"])).text
    assert "Connection deactivated" in page
    assert "This connection has ended" in page
    assert 'id="publish-title"' not in page  # nothing to publish on an ended connection
    assert status_of((await client.get("/connect")).text, str(peer.ours)) == "inactive"


# Publish and subscribe -------------------------------------------------------------------------


async def test_publishing_ticks_the_s2s_defaults_and_refuses_no_fields(
    client: Client, sign_in: SignIn, world: World
) -> None:
    peer = await accepted_peer(client, world, sign_in)
    path = f"/connect/{peer.ours}"
    page = (await client.get(path)).text
    lead_form = page.split('id="publish-lead"', 1)[1].split("</form>", 1)[0]
    assert re.findall(r'value="(\w+)" checked', lead_form) == ["last_name", "company"]
    empty = await post_form(client, f"{path}/publish", {"object": "lead"}, page=path)
    assert empty.status_code == 400
    assert "at least one" in empty.text
    published = await post_form(
        client, f"{path}/publish", {"object": "account", "fields": ["name", "country"]}, page=path
    )
    assert published.headers["location"] == f"{path}?done=published"
    reply = await client.get(f"{CONNECTIONS}/{peer.ours}/publications", headers=world.admin.headers)
    assert [(p["object"], p["fields"], p["peer_subscribed"]) for p in reply.json()] == [
        ("account", ["name", "country"], False)
    ]
    await peer.send(client, world, "subscribe", {"object": "account", "fields": ["name"]})
    page = (await client.get(path)).text
    assert "peer subscribed" in page.split('id="publish-account"', 1)[1].split("</form>", 1)[0]
    unpublished = await post_form(client, f"{path}/unpublish", {"object": "account"}, page=path)
    assert unpublished.headers["location"] == f"{path}?done=unpublished"


async def test_subscribing_auto_maps_by_name_and_shows_a_type_error_next_to_the_field(
    client: Client, sign_in: SignIn, world: World
) -> None:
    peer = await accepted_peer(client, world, sign_in)
    fields = {"name": "text", "close_date": "date", "stage": "stage"}
    await peer.send(client, world, "publish", {"object": "opportunity", "fields": fields})
    path = f"/connect/{peer.ours}"
    page = (await client.get(path)).text
    assert page.count("Auto-mapped by name") == 3
    assert re.search(r'id="map-opportunity-close_date".*?value="close_date" selected', page, re.S)

    wrong = {"object": "opportunity", "map.name": "name", "map.close_date": "name", "map.stage": "stage"}
    refused = await post_form(client, f"{path}/subscribe", wrong, page=path)
    assert refused.status_code == 422
    assert "types must match" in field_error(refused.text, "map-opportunity-close_date")
    assert re.search(r'id="map-opportunity-close_date".*?value="name" selected', refused.text, re.S)  # kept
    reply = await client.get(f"{CONNECTIONS}/{peer.ours}/subscriptions", headers=world.admin.headers)
    assert reply.json()[0]["subscribed"] is False

    right = {
        "object": "opportunity",
        "map.name": "name",
        "map.close_date": "close_date",
        "map.stage": "",
        "auto_accept": "on",
    }
    saved = await post_form(client, f"{path}/subscribe", right, page=path)
    assert saved.headers["location"] == f"{path}?done=subscribed"
    reply = await client.get(f"{CONNECTIONS}/{peer.ours}/subscriptions", headers=world.admin.headers)
    subscription = reply.json()[0]
    assert subscription["field_map"] == {"name": "name", "close_date": "close_date"}
    assert subscription["auto_accept"] is True
    page = (await client.get(path)).text
    assert "Auto-mapped by name" not in page  # the saved map is shown now
    assert "Unsubscribe from opportunities" in page


# Records: external sharing and the share action --------------------------------------------------


async def _subscribed_by_peer(client: Client, world: World, peer: Peer, *objects: str) -> None:
    path = f"/connect/{peer.ours}"
    for object_name in objects:
        reply = await post_form(client, f"{path}/publish", {"object": object_name, "fields": ["name"]}, page=path)
        assert reply.status_code == 303, reply.text
        await peer.send(client, world, "subscribe", {"object": object_name, "fields": ["name"]})


async def _deal(client: Client, world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    headers = world.admin.headers
    account = (await client.post(f"{API}/accounts", json={"name": "Wingtip Corp"}, headers=headers)).json()
    await client.post(
        f"{API}/contacts", json={"account_id": account["id"], "first_name": "A", "last_name": "B"}, headers=headers
    )
    body = {"name": "Wingtip deal", "account_id": account["id"], "amount_minor": 100, "currency": "EUR"}
    opportunity = (await client.post(f"{API}/opportunities", json=body, headers=headers)).json()
    return account, opportunity


async def test_sharing_an_opportunity_with_its_account_shows_pending_then_active_in_external_sharing(
    client: Client, sign_in: SignIn, world: World
) -> None:
    peer = await accepted_peer(client, world, sign_in)
    await _subscribed_by_peer(client, world, peer, "account", "opportunity")
    account, opportunity = await _deal(client, world)
    listing = (await client.get("/connect/records?kind=opportunities")).text
    assert f'href="/connect/records/opportunities/{opportunity["id"]}">Wingtip deal' in listing
    path = f"/connect/records/opportunities/{opportunity['id']}"
    page = (await client.get(path)).text
    assert "Not shared with any connection." in page
    assert f'value="{peer.ours}"' in page

    none_chosen = await post_form(client, f"{path}/share", {"include_account": "on"}, page=path)
    assert none_chosen.status_code == 400
    assert "at least one connection" in none_chosen.text
    with_contacts = {"connection_ids": peer.ours, "include_account": "on", "include_contacts": "on"}
    refused = await post_form(client, f"{path}/share", with_contacts, page=path)
    assert refused.status_code == 422
    assert "not subscribed to contact" in field_error(refused.text, "include_contacts")
    alone = await post_form(client, f"{path}/share", {"connection_ids": peer.ours}, page=path)
    assert alone.status_code == 422
    assert "parent" in alone.text
    shared = await post_form(client, f"{path}/share", {"connection_ids": peer.ours, "include_account": "on"}, page=path)
    assert shared.headers["location"] == f"{path}?done=shared"
    page = (await client.get(shared.headers["location"])).text
    assert "Shared." in page
    panel = page.split('id="sharing-title"', 1)[1]
    assert 'data-status="pending_sent"' in panel
    assert peer.url in panel

    copy = str(uuid.uuid4())
    await peer.send(
        client, world, "accepted", {"object": "opportunity", "origin_id": opportunity["id"], "partner_record_id": copy}
    )
    panel = (await client.get(path)).text.split('id="sharing-title"', 1)[1]
    assert 'data-status="active_sent"' in panel
    assert copy in panel
    account_page = (await client.get(f"/connect/records/accounts/{account['id']}")).text
    assert 'data-status="pending_sent"' in account_page

    share_id = re.search(r'id="share-([0-9a-f-]{36})"', panel)
    assert share_id
    stopped = await post_form(client, f"/connect/shares/{share_id.group(1)}/stop", {"back": path}, page=path)
    assert stopped.headers["location"] == f"{path}?done=share_stopped"
    page = (await client.get(stopped.headers["location"])).text
    assert 'data-status="inactive"' in page.split('id="sharing-title"', 1)[1]
    again = await post_form(
        client, f"/connect/shares/{share_id.group(1)}/stop", {"back": path}, page=path, any_form=True
    )
    assert again.status_code == 409
    assert "Sharing already ended (inactive)." in again.text


async def test_a_record_the_peer_shared_waits_on_the_connection_page_until_accepted(
    client: Client, sign_in: SignIn, world: World
) -> None:
    peer = await accepted_peer(client, world, sign_in)
    await peer.send(client, world, "publish", {"object": "account", "fields": {"name": "text"}})
    path = f"/connect/{peer.ours}"
    reply = await post_form(client, f"{path}/subscribe", {"object": "account", "map.name": "name"}, page=path)
    assert reply.status_code == 303
    origin = str(uuid.uuid4())
    item = {"object": "account", "origin_id": origin, "origin": "sender", "parent_origin_id": None,
            "values": {"name": "Globex From Afar"}, "stamps": {"name": [1, peer.instance_id]}, "seq": 1}  # fmt: skip
    await peer.send(client, world, "records", {"items": [item]})
    page = (await client.get(path)).text
    assert 'data-status="pending_received"' in page
    share_id = re.search(r'<form method="post" action="/connect/shares/([0-9a-f-]{36})/accept"', page)
    assert share_id
    assert 'aria-label="Accept account Globex From Afar"' in page
    accepted = await post_form(client, f"/connect/shares/{share_id.group(1)}/accept", {"back": path}, page=path)
    assert accepted.headers["location"] == f"{path}?done=share_accepted"
    page = (await client.get(path)).text
    assert 'data-status="active_received"' in page
    local = re.search(r'href="/connect/records/accounts/([0-9a-f-]{36})"', page)
    assert local
    record = (await client.get(f"/connect/records/accounts/{local.group(1)}")).text
    assert "<h1>Globex From Afar</h1>" in record
    assert origin in record  # the partner record id


# Dead letters ----------------------------------------------------------------------------------


async def test_a_message_the_peer_never_took_is_a_dead_letter_with_its_reason_and_replays(
    app: Litestar, sign_in: SignIn, world: World
) -> None:
    client = await sign_in(world.admin)
    fields = {"peer_url": UNREACHABLE, "contact_email": "owner@peer.example"}
    invited = await post_form(client, "/connect/invite", fields, page="/connect")
    assert invited.status_code == 303
    connection_id = invited.headers["location"].split("/")[2].split("?")[0]
    assert await app.state.runtime.outbox.run_once() >= 1  # connection refused: dead at once here

    page = (await client.get("/connect/dead-letters")).text
    row = re.search(r'<tr id="dead-([0-9a-f-]{36})">(.*?)</tr>', page, re.S)
    assert row, page
    assert "connect.invite" in row.group(2)
    assert UNREACHABLE in row.group(2)
    assert f'href="/connect/{connection_id}"' in row.group(2)
    assert "Dead letters (1)" in (await client.get("/connect")).text
    assert "1 message to this peer could not be delivered" in (await client.get(f"/connect/{connection_id}")).text

    replayed = await post_form(client, f"/connect/dead-letters/{row.group(1)}/replay", {}, page="/connect/dead-letters")
    assert replayed.headers["location"] == "/connect/dead-letters?done=replayed"
    page = (await client.get(replayed.headers["location"])).text
    assert "put back in line" in page
    assert "No dead letters" in page
    message = await client.get(f"{API}/outbox/{row.group(1)}", headers=world.admin.headers)
    assert message.json()["status"] == "pending"
    unknown = await post_form(
        client, f"/connect/dead-letters/{uuid.uuid4()}/replay", {}, page="/connect", any_form=True
    )
    assert unknown.status_code == 404


# The panel on the lead console and on a registration's review page ------------------------------


async def test_the_lead_page_shows_external_sharing_to_vendor_admins_and_a_shared_lead_in_it(
    client: Client, sign_in: SignIn, world: World
) -> None:
    peer = await accepted_peer(client, world, sign_in)
    body = {"first_name": "Lee", "last_name": "Ead", "company": "Contoso", "source": "web"}
    lead = (await client.post(f"{API}/leads", json=body, headers=world.admin.headers)).json()
    page = (await client.get(f"/lead-queue/{lead['id']}")).text
    panel = page.split('id="external-title"', 1)[1]
    assert "Not shared with any connection." in panel
    assert f'href="/connect/records/leads/{lead["id"]}">Share this lead with a connection' in panel

    path = f"/connect/records/leads/{lead['id']}"
    await post_form(client, f"/connect/{peer.ours}/publish", {"object": "lead", "fields": ["last_name", "company"]},
                    page=f"/connect/{peer.ours}")  # fmt: skip
    refused = await post_form(client, f"{path}/share", {"connection_ids": peer.ours}, page=path)
    assert refused.status_code == 422
    assert "not subscribed to lead" in refused.text
    await peer.send(client, world, "subscribe", {"object": "lead", "fields": ["last_name", "company"]})
    shared = await post_form(client, f"{path}/share", {"connection_ids": peer.ours}, page=path)
    assert shared.status_code == 303, shared.text
    panel = (await client.get(f"/lead-queue/{lead['id']}")).text.split('id="external-title"', 1)[1]
    assert 'data-status="pending_sent"' in panel
    assert f'href="/connect/{peer.ours}">{peer.url}' in panel

    await sign_in(world.cm_a)
    assert 'id="external-title"' not in (await client.get(f"/lead-queue/{lead['id']}")).text


async def test_an_approved_registrations_review_page_shows_its_opportunitys_external_sharing(
    client: Client, sign_in: SignIn, world: World
) -> None:
    catalog = await make_catalog(client, world.admin)
    registration = await register_via_api(client, world.pa_admin, catalog)
    approved = await client.post(
        f"{DEALS}/{registration['id']}/approve",
        json={"expected_version": registration["version"]},
        headers=world.admin.headers,
    )
    assert approved.status_code == 200, approved.text
    opportunity_id = approved.json()["opportunity_id"]
    await sign_in(world.admin)
    page = (await client.get(f"/reviews/{registration['id']}")).text
    panel = page.split('id="external-title"', 1)[1]
    assert "Not shared with any connection." in panel
    assert f'href="/connect/records/opportunities/{opportunity_id}">Share its opportunity' in panel
    await sign_in(world.cm_a)
    assert 'id="external-title"' not in (await client.get(f"/reviews/{registration['id']}")).text
