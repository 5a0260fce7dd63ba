"""Factories for the tenancy matrix's connect resources: connections in each state, reached
through the API and through signed messages from a peer instance this test plays."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from prm.connect.client import INBOX_PATH, body_hash
from prm.core.tokens import generate_private_key_pem, issue_peer_token, public_key_pem
from tests.conftest import World
from tests.security.factories import API, Client, Made, created, make_account, marker

CONNECTIONS = f"{API}/connect/connections"
OUR_BASE_URL = "http://127.0.0.1:8000"  # the settings' default: the audience of peer tokens


@dataclass
class Peer:
    """Another prm instance, as far as the app under test can tell."""

    url: str = field(default_factory=lambda: f"http://{marker()}.test")
    key: str = field(default_factory=generate_private_key_pem)
    instance_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    ours: str | None = None  # the app's id for this connection

    async def send(self, client: Client, world: World, kind: str, body: dict[str, Any]) -> None:
        reply = await self.post(client, world, kind, body)
        assert reply.status_code == 200, reply.text

    async def post(
        self, client: Client, world: World, kind: str, body: dict[str, Any], *, message_id: str | None = None
    ) -> httpx.Response:
        envelope = {
            "message_id": message_id or str(uuid.uuid4()),
            "type": kind,
            "sender_connection_id": self.connection_id,
            "receiver_connection_id": self.ours,
            "body": body,
        }
        raw = json.dumps(envelope).encode()
        token = issue_peer_token(
            self.key,
            issuer=self.instance_id,
            subject=self.connection_id,
            audience=OUR_BASE_URL,
            now=world.db.clock.now().timestamp(),
            claims={"bh": body_hash(raw)},
        )
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        return await client.post(INBOX_PATH, content=raw, headers=headers)


async def _received(client: Client, world: World) -> tuple[Peer, Made]:
    peer = Peer()
    invitation = {
        "instance_id": peer.instance_id,
        "base_url": peer.url,
        "public_key": public_key_pem(peer.key),
        "invite_secret": marker(),
        "contact_email": "owner@peer.example",
    }
    await peer.send(client, world, "invite", invitation)
    reply = await client.get(CONNECTIONS, params={"limit": 200}, headers=world.admin.headers)
    peer.ours = next(c["id"] for c in reply.json()["items"] if c["peer_instance_id"] == peer.instance_id)
    return peer, Made(ids={"id": peer.ours, "object": "account"}, hidden={peer.ours, peer.url})


async def make_received_connection(client: Client, world: World) -> Made:
    return (await _received(client, world))[1]


async def make_sent_connection(client: Client, world: World) -> Made:
    url = f"http://{marker()}.test"
    connection = await created(client, world, "admin", CONNECTIONS, {"peer_url": url, "contact_email": "o@p.example"})
    return Made(ids={"id": connection["id"], "object": "account"}, hidden={connection["id"], url})


async def _accepted(client: Client, world: World) -> tuple[Peer, Made]:
    peer, made = await _received(client, world)
    await created(client, world, "admin", f"{CONNECTIONS}/{peer.ours}/accept", {})
    return peer, made


async def make_accepted_connection(client: Client, world: World) -> Made:
    return (await _accepted(client, world))[1]


async def make_published_connection(client: Client, world: World) -> Made:
    made = await make_accepted_connection(client, world)
    reply = await client.put(f"{CONNECTIONS}/{made.ids['id']}/publications", json={"object": "account"},
                             headers=world.admin.headers)  # fmt: skip
    assert reply.status_code == 200, reply.text
    return made


async def _peer_publishing(client: Client, world: World) -> tuple[Peer, Made]:
    peer, made = await _accepted(client, world)
    await peer.send(client, world, "publish", {"object": "account", "fields": {"name": "text"}})
    return peer, made


async def make_peer_publishing_connection(client: Client, world: World) -> Made:
    return (await _peer_publishing(client, world))[1]


async def subscribed_peer(client: Client, world: World, *, auto_accept: bool = False) -> tuple[Peer, Made]:
    """A peer that publishes accounts' names, which the app subscribed to."""
    peer, made = await _peer_publishing(client, world)
    reply = await client.put(f"{CONNECTIONS}/{made.ids['id']}/subscriptions/account",
                             json={"auto_accept": auto_accept}, headers=world.admin.headers)  # fmt: skip
    assert reply.status_code == 200, reply.text
    return peer, made


async def make_subscribed_connection(client: Client, world: World) -> Made:
    return (await subscribed_peer(client, world))[1]


async def make_pending_share(client: Client, world: World) -> Made:
    """An account the peer shared, waiting for the vendor admin to accept it."""
    peer, connection = await subscribed_peer(client, world)
    name = marker()
    origin = str(uuid.uuid4())
    item = {"object": "account", "origin_id": origin, "origin": "sender", "parent_origin_id": None,
            "values": {"name": name}, "stamps": {"name": [1, peer.instance_id]}, "seq": 1}  # fmt: skip
    await peer.send(client, world, "records", {"items": [item]})
    reply = await client.get(f"{CONNECTIONS}/{peer.ours}/shares", headers=world.admin.headers)
    share = next(s for s in reply.json()["items"] if s["origin_id"] == origin)
    ids = {"id": share["id"], "connection": connection.ids["id"]}
    return Made(ids=ids, hidden={share["id"], origin, name, *connection.hidden})


async def make_account_of_a(client: Client, world: World) -> Made:
    return await make_account(client, world)
