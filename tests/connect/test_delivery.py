"""Delivery to a peer instance, through HTTP both ways: the app under test sends to a peer played
by a small HTTP server (it answers the batch inbox as a prm instance would), and receives
batches from a peer played by the test with its own key. Time moves by the injected clock.

- Many changes travel in one signed request, in the order they were written, each once.
- A peer that is down is retried with backoff; one that comes back (reached again, or saying
  hello after a restart) gets what waits at once; after
  the attempt limit a message is dead with the reason shown to vendor admins, and replayable.
- A message the peer refuses is retried alone with its reason; the rest of its batch is delivered.
- A received batch applies in order in one request, answers per message, applies a redelivered
  message once, and changes nothing when its token is not genuine.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from litestar import Litestar

from prm.connect.client import BATCH_INBOX_PATH, INBOX_PATH, body_hash
from prm.core.clock import ManualClock
from prm.core.tokens import issue_peer_token, public_key_pem, verify_peer_token
from tests.conftest import World
from tests.security.connect import CONNECTIONS, OUR_BASE_URL, Peer, subscribed_peer
from tests.security.factories import API, Client


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"peer_max_attempts": 4, "peer_retry_max_seconds": 8.0}


@dataclass
class PeerServer:
    """What the app's requests to its peer carried; `down` answers 503, `refuse` names origin
    ids whose records messages are refused (as a prm instance refuses what breaks its rules)."""

    url: str = ""
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    down: bool = False
    refuse: set[str] = field(default_factory=set)

    def batches(self) -> list[dict[str, Any]]:
        return [json.loads(body) for path, _, body in self.requests if path == BATCH_INBOX_PATH]

    def records(self) -> list[dict[str, Any]]:
        """Every records item the peer took, in arrival order."""
        messages = [m for batch in self.batches() for m in batch["messages"] if m["type"] == "records"]
        return [item for m in messages for item in m["body"]["items"]]


@pytest.fixture
def peer_server() -> Iterator[PeerServer]:
    state = PeerServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.down:
                self.send_response(503)
                self.end_headers()
                return
            state.requests.append((self.path, dict(self.headers), body))
            reply = _peer_reply(state, self.path, body)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(reply).encode())

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def _peer_reply(state: PeerServer, path: str, body: bytes) -> dict[str, Any]:
    if path == INBOX_PATH:
        return {"status": "applied"}
    results = []
    for message in json.loads(body)["messages"]:
        origins = {item["origin_id"] for item in message["body"].get("items", [])}
        refused = bool(origins & state.refuse)
        results.append(
            {"message_id": message["message_id"], "status": "refused" if refused else "applied",
             "detail": "The account's parent has not arrived yet." if refused else None}
        )  # fmt: skip
    return {"results": results}


@dataclass
class Linked:
    peer: Peer
    connection: str
    public_key: str  # the app's key for this connection, as its acceptance told the peer


async def _linked(client: Client, world: World, app: Litestar, server: PeerServer) -> Linked:
    """The peer at `server` invited the app, the app accepted, published accounts, the peer
    subscribed; everything the app sent so far has been delivered."""
    peer = Peer(url=server.url)
    invitation = {"instance_id": peer.instance_id, "base_url": peer.url, "public_key": public_key_pem(peer.key),
                  "invite_secret": "s3cret", "contact_email": "owner@peer.example"}  # fmt: skip
    await peer.send(client, world, "invite", invitation)
    listed = await client.get(CONNECTIONS, params={"limit": 200}, headers=world.admin.headers)
    peer.ours = next(c["id"] for c in listed.json()["items"] if c["peer_instance_id"] == peer.instance_id)
    accepted = await client.post(f"{CONNECTIONS}/{peer.ours}/accept", json={}, headers=world.admin.headers)
    assert accepted.status_code == 200, accepted.text
    published = await client.put(
        f"{CONNECTIONS}/{peer.ours}/publications", json={"object": "account"}, headers=world.admin.headers
    )
    assert published.status_code == 200, published.text
    await peer.send(client, world, "subscribe", {"object": "account"})
    await app.state.runtime.outbox.run_once()
    accept = next(json.loads(body) for path, _, body in server.requests if path == INBOX_PATH)
    assert accept["type"] == "accept"
    server.requests.clear()
    return Linked(peer, peer.ours, accept["body"]["public_key"])


async def _account(client: Client, world: World, name: str) -> str:
    reply = await client.post(f"{API}/accounts", json={"name": name}, headers=world.admin.headers)
    assert reply.status_code == 201, reply.text
    account_id: str = reply.json()["id"]
    return account_id


async def _share(client: Client, world: World, linked: Linked, *account_ids: str) -> None:
    body = {"connection_ids": [linked.connection], "records": [{"object": "account", "id": i} for i in account_ids]}
    reply = await client.post(f"{API}/connect/shares", json=body, headers=world.admin.headers)
    assert reply.status_code == 201, reply.text


async def _rename(client: Client, world: World, account_id: str, name: str) -> None:
    path = f"{API}/accounts/{account_id}"
    version = (await client.get(path, headers=world.admin.headers)).json()["version"]
    reply = await client.patch(path, json={"expected_version": version, "name": name}, headers=world.admin.headers)
    assert reply.status_code == 200, reply.text


async def _peer_outbox(client: Client, world: World, status: str) -> list[dict[str, Any]]:
    reply = await client.get(
        f"{API}/outbox", params={"kind": "peer", "status": status, "limit": 100}, headers=world.admin.headers
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["items"])


async def test_many_changes_travel_in_one_signed_request_in_the_order_written(
    client: Client, world: World, app: Litestar, peer_server: PeerServer
) -> None:
    linked = await _linked(client, world, app, peer_server)
    first, second = await _account(client, world, "Alpha"), await _account(client, world, "Beta")
    await _share(client, world, linked, first, second)
    for n in range(1, 4):
        await _rename(client, world, first, f"Alpha v{n}")
        await _rename(client, world, second, f"Beta v{n}")

    assert await app.state.runtime.outbox.run_once() == 7
    assert len(peer_server.requests) == 1  # one request for the share and six updates
    path, headers, body = peer_server.requests[0]
    assert path == BATCH_INBOX_PATH
    claims = verify_peer_token(
        headers["authorization"].removeprefix("Bearer "), linked.public_key, audience=peer_server.url,
        now=world.db.clock.now().timestamp(),
    )  # fmt: skip
    assert claims["bh"] == body_hash(body)
    assert claims["sub"] == linked.connection
    items = peer_server.records()
    assert [(i["origin_id"], i["values"]["name"]) for i in items] == [
        (first, "Alpha"), (second, "Beta"),
        (first, "Alpha v1"), (second, "Beta v1"), (first, "Alpha v2"), (second, "Beta v2"),
        (first, "Alpha v3"), (second, "Beta v3"),
    ]  # fmt: skip
    assert [i["seq"] for i in items if i["origin_id"] == first] == [1, 2, 3, 4]

    assert await app.state.runtime.outbox.run_once() == 0  # delivered once, never again
    assert len(await _peer_outbox(client, world, "delivered")) == 7 + 2  # and the publication, the accept
    assert await _peer_outbox(client, world, "pending") == []


async def test_a_peer_down_is_retried_caught_up_when_back_and_dead_lettered_after_the_limit_then_replayed(
    client: Client, world: World, app: Litestar, peer_server: PeerServer, clock: ManualClock
) -> None:
    outbox = app.state.runtime.outbox
    linked = await _linked(client, world, app, peer_server)
    account = await _account(client, world, "Gamma")
    await _share(client, world, linked, account)
    await outbox.run_once()
    peer_server.requests.clear()
    peer_server.down = True

    await _rename(client, world, account, "Gamma while down")
    assert await outbox.run_once() == 1
    waiting = await _peer_outbox(client, world, "pending")
    assert (waiting[0]["attempts"], waiting[0]["last_error"][:16]) == (1, "PeerRefused: 503")
    assert await outbox.run_once() == 0  # backing off: 1 s, then 2 s, ...
    clock.advance(timedelta(seconds=1.5))
    assert await outbox.run_once() == 1
    clock.advance(timedelta(seconds=2.5))
    assert await outbox.run_once() == 1  # third failure: the next try is 4 s away

    peer_server.down = False  # back; the next change reaches it and takes the waiting one along
    await _rename(client, world, account, "Gamma when back")
    assert await outbox.run_once() == 1
    assert await outbox.run_once() == 1  # released at once, no clock moved
    assert [i["values"]["name"] for i in peer_server.records()] == ["Gamma when back", "Gamma while down"]
    assert await _peer_outbox(client, world, "pending") == []

    peer_server.down = True
    await _rename(client, world, account, "Gamma never")
    for _attempt in range(4):
        assert await outbox.run_once() == 1
        clock.advance(timedelta(seconds=9))
    assert await outbox.run_once() == 0
    dead = await _peer_outbox(client, world, "dead")
    assert len(dead) == 1
    assert dead[0]["attempts"] == 4
    assert dead[0]["last_error"].startswith(f"PeerRefused: 503 from {peer_server.url}")
    hidden = await client.get(f"{API}/outbox", params={"status": "dead"}, headers=world.pa_admin.headers)
    assert hidden.status_code == 403

    peer_server.down = False
    replayed = await client.post(f"{API}/outbox/{dead[0]['id']}/retry", headers=world.admin.headers)
    assert replayed.status_code == 200, replayed.text
    assert await outbox.run_once() == 1
    assert peer_server.records()[-1]["values"]["name"] == "Gamma never"
    assert await _peer_outbox(client, world, "dead") == []


async def test_a_message_the_peer_refuses_waits_with_its_reason_and_the_rest_is_delivered(
    client: Client, world: World, app: Litestar, peer_server: PeerServer, clock: ManualClock
) -> None:
    outbox = app.state.runtime.outbox
    linked = await _linked(client, world, app, peer_server)
    kept, refused = await _account(client, world, "Kept"), await _account(client, world, "Refused")
    await _share(client, world, linked, kept)
    await _share(client, world, linked, refused)
    peer_server.refuse = {refused}
    assert await outbox.run_once() == 2
    assert len(peer_server.requests) == 1
    waiting = await _peer_outbox(client, world, "pending")
    assert len(waiting) == 1
    assert waiting[0]["last_error"] == "refused: The account's parent has not arrived yet."

    await _rename(client, world, kept, "Kept v2")  # the peer takes this; the refused one keeps waiting
    assert await outbox.run_once() == 1
    assert await outbox.run_once() == 0
    peer_server.refuse = set()
    clock.advance(timedelta(seconds=1.5))
    assert await outbox.run_once() == 1
    assert [i["values"]["name"] for i in peer_server.records()] == ["Kept", "Refused", "Kept v2", "Refused"]
    assert await _peer_outbox(client, world, "pending") == []


async def test_a_peer_that_restarts_says_hello_and_gets_what_waits_for_it_at_once(
    client: Client, world: World, app: Litestar, peer_server: PeerServer, clock: ManualClock
) -> None:
    outbox = app.state.runtime.outbox
    linked = await _linked(client, world, app, peer_server)
    account = await _account(client, world, "Delta")
    peer_server.down = True
    await _share(client, world, linked, account)
    for wait in (0, 1.5, 2.5):
        clock.advance(timedelta(seconds=wait))
        assert await outbox.run_once() == 1  # three failures: the next try is 4 s away
    peer_server.down = False
    assert await outbox.run_once() == 0

    await linked.peer.send(client, world, "hello", {})  # what a restarted prm sends first
    assert await outbox.run_once() == 1
    assert [i["values"]["name"] for i in peer_server.records()] == ["Delta"]


# The app receiving a batch


def _item(peer: Peer, origin: str, name: str, seq: int, object_name: str = "account") -> dict[str, Any]:
    return {"object": object_name, "origin_id": origin, "origin": "sender", "parent_origin_id": None,
            "values": {"name": name}, "stamps": {"name": [seq * 1000, peer.instance_id]}, "seq": seq}  # fmt: skip


def _envelope(peer: Peer, kind: str, body: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    return {"message_id": message_id or str(uuid.uuid4()), "type": kind, "sender_connection_id": peer.connection_id,
            "receiver_connection_id": peer.ours, "body": body}  # fmt: skip


async def _post_batch(
    client: Client, world: World, peer: Peer, messages: list[dict[str, Any]], *, key: str | None = None
) -> httpx.Response:
    raw = json.dumps(
        {"sender_connection_id": peer.connection_id, "receiver_connection_id": peer.ours, "messages": messages}
    ).encode()
    token = issue_peer_token(key or peer.key, issuer=peer.instance_id, subject=peer.connection_id,
                             audience=OUR_BASE_URL, now=world.db.clock.now().timestamp(),
                             claims={"bh": body_hash(raw)})  # fmt: skip
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    return await client.post(BATCH_INBOX_PATH, content=raw, headers=headers)


async def _received_share(client: Client, world: World, peer: Peer, origin: str) -> dict[str, Any] | None:
    reply = await client.get(f"{CONNECTIONS}/{peer.ours}/shares", headers=world.admin.headers)
    return next((s for s in reply.json()["items"] if s["origin_id"] == origin), None)


async def test_a_received_batch_applies_in_order_answers_per_message_and_applies_a_redelivery_once(
    client: Client, world: World
) -> None:
    peer, _ = await subscribed_peer(client, world, auto_accept=True)
    origin, stray = str(uuid.uuid4()), str(uuid.uuid4())
    shared = _envelope(peer, "records", {"items": [_item(peer, origin, "Northwind", 1)]})
    messages = [
        shared,
        _envelope(peer, "records", {"items": [_item(peer, origin, "Northwind v2", 2)]}),
        _envelope(peer, "records", {"items": [_item(peer, stray, "Stray", 1, "contact")]}),  # not subscribed
        _envelope(peer, "records", {"items": [_item(peer, origin, "Northwind v3", 3)]}),
        _envelope(peer, "deactivate", {}),  # an ending message travels alone, never in a batch
        shared,  # the same message again
    ]
    reply = await _post_batch(client, world, peer, messages)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "refused", "applied", "refused", "duplicate"]
    assert "contact is not subscribed" in results[2]["detail"]
    assert [r["message_id"] for r in results] == [m["message_id"] for m in messages]

    share = await _received_share(client, world, peer, origin)
    assert share is not None
    assert (share["status"], share["received_count"]) == ("active_received", 3)
    account = await client.get(f"{API}/accounts/{share['local_id']}", headers=world.admin.headers)
    assert account.json()["name"] == "Northwind v3"
    assert await _received_share(client, world, peer, stray) is None  # the refused one left nothing
    connection = await client.get(f"{CONNECTIONS}/{peer.ours}", headers=world.admin.headers)
    assert connection.json()["status"] == "accepted"

    again = await _post_batch(client, world, peer, messages[:2])  # the sender's retry: a new token
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    share = await _received_share(client, world, peer, origin)
    assert share is not None
    assert share["received_count"] == 3


async def test_a_batch_whose_token_is_not_genuine_changes_nothing(client: Client, world: World) -> None:
    peer, _ = await subscribed_peer(client, world, auto_accept=True)
    origin = str(uuid.uuid4())
    messages = [_envelope(peer, "records", {"items": [_item(peer, origin, "Forged", 1)]})]
    forged = await _post_batch(client, world, peer, messages, key=Peer().key)
    assert forged.status_code == 401
    raw = json.dumps(
        {"sender_connection_id": peer.connection_id, "receiver_connection_id": peer.ours, "messages": messages}
    ).encode()
    token = issue_peer_token(peer.key, issuer=peer.instance_id, subject=peer.connection_id, audience=OUR_BASE_URL,
                             now=world.db.clock.now().timestamp(), claims={"bh": body_hash(raw)})  # fmt: skip
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    tampered = await client.post(BATCH_INBOX_PATH, content=raw.replace(b"Forged", b"Tampered"), headers=headers)
    assert tampered.status_code == 401
    assert await _received_share(client, world, peer, origin) is None
    genuine = await client.post(BATCH_INBOX_PATH, content=raw, headers=headers)
    assert genuine.status_code == 200, genuine.text  # the positive control
    assert await _received_share(client, world, peer, origin) is not None
    replayed = await client.post(BATCH_INBOX_PATH, content=raw, headers=headers)
    assert replayed.status_code == 401


async def test_a_received_change_that_cannot_be_applied_shows_on_the_receivers_share_until_one_applies(
    client: Client, world: World
) -> None:
    peer, _ = await subscribed_peer(client, world, auto_accept=True)
    origin = str(uuid.uuid4())
    reply = await _post_batch(
        client, world, peer, [_envelope(peer, "records", {"items": [_item(peer, origin, "Umbrella", 1)]})]
    )
    assert [r["status"] for r in reply.json()["results"]] == ["applied"]

    too_long = _envelope(peer, "records", {"items": [_item(peer, origin, "U" * 201, 2)]})  # names are at most 200
    reply = await _post_batch(client, world, peer, [too_long])
    assert [r["status"] for r in reply.json()["results"]] == ["refused"]
    share = await _received_share(client, world, peer, origin)
    assert share is not None
    assert share["last_error"] is not None
    assert share["last_error"].startswith("Not applied here: ")
    assert "name" in share["last_error"]
    account = await client.get(f"{API}/accounts/{share['local_id']}", headers=world.admin.headers)
    assert account.json()["name"] == "Umbrella"

    reply = await _post_batch(
        client, world, peer, [_envelope(peer, "records", {"items": [_item(peer, origin, "Umbrella v3", 3)]})]
    )
    assert [r["status"] for r in reply.json()["results"]] == ["applied"]
    share = await _received_share(client, world, peer, origin)
    assert share is not None
    assert share["last_error"] is None
    account = await client.get(f"{API}/accounts/{share['local_id']}", headers=world.admin.headers)
    assert account.json()["name"] == "Umbrella v3"
