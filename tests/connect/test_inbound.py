"""A peer's messages in-process (the app under test, a peer played by the test with its own
key): idempotent redelivery, out-of-order updates, the per-field conflict rule, and refusals."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.security.connect import CONNECTIONS, Peer, subscribed_peer
from tests.security.factories import API, Client


def _item(peer: Peer, origin: str, name: str, micros: int, seq: int) -> dict[str, Any]:
    return {"object": "account", "origin_id": origin, "origin": "sender", "parent_origin_id": None,
            "values": {"name": name}, "stamps": {"name": [micros, peer.instance_id]}, "seq": seq}  # fmt: skip


async def _share_on_app(client: Client, world: World, peer: Peer, origin: str) -> dict[str, Any]:
    reply = await client.get(f"{CONNECTIONS}/{peer.ours}/shares", headers=world.admin.headers)
    found: dict[str, Any] = next(s for s in reply.json()["items"] if s["origin_id"] == origin)
    return found


async def _account(client: Client, world: World, account_id: str) -> dict[str, Any]:
    reply = await client.get(f"{API}/accounts/{account_id}", headers=world.admin.headers)
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


async def test_a_redelivered_message_applies_once_and_an_older_update_never_overwrites_a_newer(
    client: Client, world: World
) -> None:
    peer, _ = await subscribed_peer(client, world, auto_accept=True)
    origin = str(uuid.uuid4())
    await peer.send(client, world, "records", {"items": [_item(peer, origin, "Globex", 1_000, 1)]})
    share = await _share_on_app(client, world, peer, origin)
    assert share["status"] == "active_received"
    assert (await _account(client, world, share["local_id"]))["name"] == "Globex"

    newer = {"items": [_item(peer, origin, "Globex v3", 3_000, 3)]}
    message_id = str(uuid.uuid4())
    first = await peer.post(client, world, "records", newer, message_id=message_id)
    again = await peer.post(client, world, "records", newer, message_id=message_id)  # a retry: new token
    assert (first.json()["status"], again.json()["status"]) == ("applied", "duplicate")
    await peer.send(client, world, "records", {"items": [_item(peer, origin, "Globex v2", 2_000, 2)]})  # late

    account = await _account(client, world, share["local_id"])
    assert account["name"] == "Globex v3"
    history = await client.get(f"{API}/accounts/{account['id']}/history", headers=world.admin.headers)
    updates = [h["changes"] for h in history.json()["items"] if h["action"] == "updated"]
    assert updates == [{"name": ["Globex", "Globex v3"]}]  # neither the retry nor the late v2 wrote
    assert (await _share_on_app(client, world, peer, origin))["received_count"] == 3


async def test_a_later_local_edit_beats_an_earlier_remote_one_and_keeps_it_in_history(
    client: Client, world: World, clock: ManualClock
) -> None:
    peer, _ = await subscribed_peer(client, world, auto_accept=True)
    origin = str(uuid.uuid4())
    earlier = int(clock.now().timestamp() * 1_000_000)
    await peer.send(client, world, "records", {"items": [_item(peer, origin, "Initech", earlier - 10, 1)]})
    local_id = (await _share_on_app(client, world, peer, origin))["local_id"]
    clock.advance(timedelta(seconds=5))
    account = await _account(client, world, local_id)
    reply = await client.patch(f"{API}/accounts/{local_id}", json={"expected_version": account["version"],
                               "name": "Initech (ours)"}, headers=world.admin.headers)  # fmt: skip
    assert reply.status_code == 200, reply.text
    # The peer's edit was made before ours (by its clock) but arrives after: ours stands.
    await peer.send(client, world, "records", {"items": [_item(peer, origin, "Initech (theirs)", earlier, 2)]})
    assert (await _account(client, world, local_id))["name"] == "Initech (ours)"
    history = await client.get(f"{API}/accounts/{local_id}/history", headers=world.admin.headers)
    conflicts = [h for h in history.json()["items"] if h["action"] == "connect_conflict"]
    assert [c["changes"]["name"] for c in conflicts] == [["Initech (theirs)", "Initech (ours)"]]
    # A later remote edit wins over ours.
    later = int(clock.now().timestamp() * 1_000_000) + 1
    await peer.send(client, world, "records", {"items": [_item(peer, origin, "Initech (later)", later, 3)]})
    assert (await _account(client, world, local_id))["name"] == "Initech (later)"


async def test_unsubscribed_objects_and_unknown_connections_are_refused_and_change_nothing(
    client: Client, world: World
) -> None:
    peer, _ = await subscribed_peer(client, world)
    contact = {"object": "contact", "origin_id": str(uuid.uuid4()), "origin": "sender", "parent_origin_id": None,
               "values": {"last_name": "X"}, "stamps": {"last_name": [1, peer.instance_id]}, "seq": 1}  # fmt: skip
    refused = await peer.post(client, world, "records", {"items": [contact]})
    assert refused.status_code == 409, refused.text
    stranger = Peer(ours=peer.ours, connection_id=peer.connection_id, instance_id=peer.instance_id)  # another key
    forged = await stranger.post(client, world, "records", {"items": [_item(peer, str(uuid.uuid4()), "F", 1, 1)]})
    assert forged.status_code == 401
    shares = await client.get(f"{CONNECTIONS}/{peer.ours}/shares", headers=world.admin.headers)
    assert shares.json()["items"] == []


def _stamped(peer: Peer, origin: str, name: str, micros: int, seq: int) -> dict[str, Any]:
    """An update whose stamp carries the peer's per-record sequence number."""
    item = _item(peer, origin, name, micros, seq)
    item["stamps"] = {"name": [micros, peer.instance_id, seq]}
    return item


async def test_updates_from_one_peer_apply_in_sequence_order_even_when_its_clock_stepped_back(
    client: Client, world: World
) -> None:
    peer, _ = await subscribed_peer(client, world, auto_accept=True)
    origin = str(uuid.uuid4())
    await peer.send(client, world, "records", {"items": [_stamped(peer, origin, "Umbrella", 5_000, 1)]})
    local_id = (await _share_on_app(client, world, peer, origin))["local_id"]
    # The peer's third update, made after its clock stepped back, arrives before its second.
    await peer.send(client, world, "records", {"items": [_stamped(peer, origin, "Umbrella v3", 6_000, 3)]})
    await peer.send(client, world, "records", {"items": [_stamped(peer, origin, "Umbrella v2", 9_000, 2)]})
    assert (await _account(client, world, local_id))["name"] == "Umbrella v3"
    await peer.send(client, world, "records", {"items": [_stamped(peer, origin, "Umbrella v4", 7_000, 4)]})
    assert (await _account(client, world, local_id))["name"] == "Umbrella v4"
    history = await client.get(f"{API}/accounts/{local_id}/history", headers=world.admin.headers)
    names = [h["changes"]["name"][1] for h in history.json()["items"] if h["action"] == "updated"]
    assert sorted(names) == ["Umbrella v3", "Umbrella v4"]  # v2 never written, not even for a moment
