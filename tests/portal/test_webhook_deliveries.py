"""An endpoint's deliveries on its page and in the API: by status, its dead letters, and replay
(one delivery, or every dead letter), through a real HTTP receiver and the real outbox."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.core.test_outbox import Receiver
from tests.portal.conftest import SignIn
from tests.portal.forms import Client
from tests.portal.test_connect_pages import post_form
from tests.security.factories import API


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"outbox_max_attempts": 2}


@pytest.fixture
def receiver() -> Iterator[str]:
    from http.server import ThreadingHTTPServer
    from threading import Thread

    Receiver.received = []
    Receiver.fail_next = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


async def _dead_letter(client: Client, world: World, app: Litestar, clock: ManualClock, url: str) -> tuple[str, str]:
    """An endpoint whose one delivery failed every attempt: (endpoint id, delivery id)."""
    made = await client.post(
        f"{API}/webhooks", json={"url": url, "event_types": ["account.created"]}, headers=world.admin.headers
    )
    assert made.status_code == 201, made.text
    Receiver.fail_next = 10
    account = await client.post(f"{API}/accounts", json={"name": "Hooked"}, headers=world.pa_user.headers)
    assert account.status_code == 201, account.text
    outbox = app.state.runtime.outbox
    assert await outbox.run_once() == 1
    clock.advance(timedelta(seconds=11))
    assert await outbox.run_once() == 1
    webhook_id = made.json()["id"]
    dead = await client.get(f"{API}/webhooks/{webhook_id}/deliveries?status=dead", headers=world.admin.headers)
    assert dead.status_code == 200, dead.text
    [letter] = dead.json()["items"]
    assert letter["attempts"] == 2
    assert "503" in letter["last_error"]
    return webhook_id, letter["id"]


async def test_dead_letters_are_shown_and_sent_again_from_the_page(
    sign_in: SignIn, world: World, client: Client, app: Litestar, clock: ManualClock, receiver: str
) -> None:
    webhook_id, delivery_id = await _dead_letter(client, world, app, clock, receiver)
    await sign_in(world.admin)
    listing = (await client.get("/webhooks")).text
    assert f'<a href="/webhooks/{webhook_id}?status=dead">1</a>' in listing

    page = f"/webhooks/{webhook_id}"
    dead_page = (await client.get(f"{page}?status=dead")).text
    assert f'id="delivery-{delivery_id}"' in dead_page
    assert "dead letter" in dead_page
    assert "503" in dead_page
    assert "Send all 1 dead letter again" in dead_page
    assert "No pending deliveries." in (await client.get(f"{page}?status=pending")).text

    Receiver.fail_next = 0
    replayed = await post_form(client, f"{page}/dead-letters/replay", {}, page=page)
    assert replayed.status_code == 303
    assert replayed.headers["location"] == f"{page}?done=replayed-dead"
    assert "Every dead letter is back in line" in (await client.get(replayed.headers["location"])).text
    assert await app.state.runtime.outbox.run_once() == 1
    [(headers, body)] = Receiver.received
    assert headers["X-PRM-Delivery"] == delivery_id == json.loads(body)["id"]

    delivered = (await client.get(f"{page}?status=delivered")).text
    assert f'id="delivery-{delivery_id}"' in delivered
    assert "Send all" not in delivered  # no dead letters left
    nothing = await post_form(client, f"{page}/dead-letters/replay", {}, page=page, any_form=True)
    assert nothing.headers["location"] == f"{page}?done=no-dead"

    # A delivered event sent again keeps its id, so the receiver can tell it is the same event.
    again = await post_form(client, f"{page}/deliveries/{delivery_id}/replay", {}, page=page)
    assert again.headers["location"] == f"{page}?done=replayed"
    assert await app.state.runtime.outbox.run_once() == 1
    assert [h["X-PRM-Delivery"] for h, _ in Receiver.received] == [delivery_id, delivery_id]

    history_reply = await client.get(f"{API}/webhooks/{webhook_id}/history?sort=at", headers=world.admin.headers)
    assert history_reply.status_code == 200, history_reply.text
    history = history_reply.json()
    actions = [entry["action"] for entry in history["items"]]
    assert actions == ["created", "dead_letters_replayed", "delivery_replayed"]


async def test_replay_through_the_api_names_only_this_endpoints_deliveries(
    world: World, client: Client, app: Litestar, clock: ManualClock, receiver: str
) -> None:
    webhook_id, delivery_id = await _dead_letter(client, world, app, clock, receiver)
    other_hook = {"url": receiver, "event_types": ["account.created"]}  # its own delivery of the same event
    other = await client.post(f"{API}/webhooks", json=other_hook, headers=world.admin.headers)
    other_id = other.json()["id"]

    wrong_endpoint = await client.post(
        f"{API}/webhooks/{other_id}/deliveries/{delivery_id}/replay", headers=world.admin.headers
    )
    assert wrong_endpoint.status_code == 404
    assert wrong_endpoint.json()["status"] == 404

    Receiver.fail_next = 0
    replay = await client.post(f"{API}/webhooks/{webhook_id}/dead-letters/replay", headers=world.admin.headers)
    assert replay.json() == {"replayed": 1}
    pending = await client.get(f"{API}/webhooks/{webhook_id}/deliveries?status=pending", headers=world.admin.headers)
    assert [(m["id"], m["attempts"]) for m in pending.json()["items"]] == [(delivery_id, 0)]
    assert await app.state.runtime.outbox.run_once() == 1
    assert len(Receiver.received) == 1


async def test_only_vendor_admins_see_deliveries(
    sign_in: SignIn, world: World, client: Client, app: Litestar, clock: ManualClock, receiver: str
) -> None:
    webhook_id, delivery_id = await _dead_letter(client, world, app, clock, receiver)
    for actor in (world.pa_admin, world.cm_a, world.leader):
        api = await client.get(f"{API}/webhooks/{webhook_id}/deliveries", headers=actor.headers)
        assert api.status_code == 403
        replay = await client.post(f"{API}/webhooks/{webhook_id}/dead-letters/replay", headers=actor.headers)
        assert replay.status_code == 403
        await sign_in(actor)
        shown = await client.get(f"/webhooks/{webhook_id}")
        assert shown.status_code == 403
        assert delivery_id not in shown.text
    assert not re.search("replayed", str(Receiver.received))
