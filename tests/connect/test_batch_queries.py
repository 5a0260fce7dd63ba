"""A received batch is applied set-based: the statements the app sends its database for a batch
of 200 records are as many as for a batch of 10 (first shared, then each updated in a message of
its own, as a sender's per-record changes arrive), and the sender forwards 200 records, and takes
the peer's 200 acceptances, with as many statements as 10. Counted with a `before_cursor_execute`
listener on the app's engine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from prm.connect.client import BATCH_INBOX_PATH, body_hash
from prm.core.db import Database
from prm.core.tokens import issue_peer_token
from tests.conftest import World
from tests.security.connect import CONNECTIONS, OUR_BASE_URL, Peer, subscribed_peer
from tests.security.factories import API, Client


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


def _item(peer: Peer, origin: str, name: str, seq: int) -> dict[str, Any]:
    return {"object": "account", "origin_id": origin, "origin": "sender", "parent_origin_id": None,
            "values": {"name": name}, "stamps": {"name": [seq * 1000, peer.instance_id, seq]}, "seq": seq}  # fmt: skip


def _envelope(peer: Peer, body: dict[str, Any]) -> dict[str, Any]:  # a records message
    return {"message_id": str(uuid.uuid4()), "type": "records", "sender_connection_id": peer.connection_id,
            "receiver_connection_id": peer.ours, "body": body}  # fmt: skip


async def _post_batch(client: Client, world: World, peer: Peer, messages: list[dict[str, Any]]) -> list[str]:
    raw = json.dumps(
        {"sender_connection_id": peer.connection_id, "receiver_connection_id": peer.ours, "messages": messages}
    ).encode()
    token = issue_peer_token(peer.key, issuer=peer.instance_id, subject=peer.connection_id,
                             audience=OUR_BASE_URL, now=world.db.clock.now().timestamp(),
                             claims={"bh": body_hash(raw)})  # fmt: skip
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    reply = await client.post(BATCH_INBOX_PATH, content=raw, headers=headers)
    assert reply.status_code == 200, reply.text
    return [r["status"] for r in reply.json()["results"]]


async def _receive(client: Client, world: World, peer: Peer, count: int) -> tuple[int, int]:
    """Statements for `count` new records in one message, then for an update of each in its own."""
    origins = [str(uuid.uuid4()) for _ in range(count)]
    shared = [_envelope(peer, {"items": [_item(peer, o, f"Acme {n}", 1) for n, o in enumerate(origins)]})]
    with statements(world.db) as on_share:
        assert await _post_batch(client, world, peer, shared) == ["applied"]
    updates = [_envelope(peer, {"items": [_item(peer, o, f"Acme {n} v2", 2)]}) for n, o in enumerate(origins)]
    with statements(world.db) as on_update:
        assert await _post_batch(client, world, peer, updates) == ["applied"] * count
    return len(on_share), len(on_update)


async def _names(client: Client, world: World, peer: Peer) -> list[str]:
    shares = await client.get(f"{CONNECTIONS}/{peer.ours}/shares", params={"limit": 200}, headers=world.admin.headers)
    names = []
    for share in shares.json()["items"]:
        assert share["status"] == "active_received"
        account = await client.get(f"{API}/accounts/{share['local_id']}", headers=world.admin.headers)
        names.append(account.json()["name"])
    return names


async def test_a_received_batch_costs_the_same_statements_for_10_records_as_for_200(
    client: Client, world: World
) -> None:
    peer, _ = await subscribed_peer(client, world, auto_accept=True)
    small = await _receive(client, world, peer, 10)
    large = await _receive(client, world, peer, 200)
    assert large == small, f"10 records: {small} statements (share, update); 200 records: {large}"
    names = await _names(client, world, peer)
    assert len(names) == 200  # the first page
    assert all(n.endswith(" v2") for n in names)


async def _accounts(client: Client, world: World, count: int) -> list[str]:
    ids = []
    for n in range(count):
        reply = await client.post(f"{API}/accounts", json={"name": f"Initech {n}"}, headers=world.admin.headers)
        assert reply.status_code == 201, reply.text
        ids.append(reply.json()["id"])
    return ids


async def test_forwarding_200_records_costs_the_same_statements_as_10(client: Client, world: World) -> None:
    peer, _ = await subscribed_peer(client, world)
    reply = await client.put(f"{CONNECTIONS}/{peer.ours}/publications", json={"object": "account"},
                             headers=world.admin.headers)  # fmt: skip
    assert reply.status_code == 200, reply.text
    await peer.send(client, world, "subscribe", {"object": "account"})
    connection = peer.ours
    counts = []
    for count in (10, 200):
        records = [{"object": "account", "id": i} for i in await _accounts(client, world, count)]
        body = {"connection_ids": [connection], "records": records}
        with statements(world.db) as on_share:
            reply = await client.post(f"{API}/connect/shares", json=body, headers=world.admin.headers)
        assert reply.status_code == 201, reply.text
        assert [s["status"] for s in reply.json()] == ["pending_sent"] * count
        accepted = [_accepted(peer, r["id"]) for r in records]  # the peer's answers, one message each
        with statements(world.db) as on_accepted:
            assert await _post_batch(client, world, peer, accepted) == ["applied"] * count
        counts.append((len(on_share), len(on_accepted)))
    assert counts[0] == counts[1], f"forwarding 10: {counts[0]} statements (share, accepted); 200: {counts[1]}"
    shares = await client.get(f"{CONNECTIONS}/{connection}/shares", params={"limit": 200}, headers=world.admin.headers)
    assert {s["status"] for s in shares.json()["items"]} == {"active_sent"}


def _accepted(peer: Peer, origin: str) -> dict[str, Any]:
    body = {"object": "account", "origin_id": origin, "partner_record_id": str(uuid.uuid4())}
    return {**_envelope(peer, {}), "type": "accepted", "body": body}


async def test_a_batch_of_parents_and_children_auto_accepted_links_each_child_to_its_parents_copy(
    client: Client, world: World
) -> None:
    peer, _ = await subscribed_peer(client, world, auto_accept=True)
    published = {
        "contact": {"last_name": "text", "email": "text"},
        "opportunity": {"name": "text", "close_date": "date", "stage": "stage"},
        "lead": {"last_name": "text", "company": "text"},
    }
    for object_name, fields in published.items():
        await peer.send(client, world, "publish", {"object": object_name, "fields": fields})
        reply = await client.put(f"{CONNECTIONS}/{peer.ours}/subscriptions/{object_name}", json={"auto_accept": True},
                                 headers=world.admin.headers)  # fmt: skip
        assert reply.status_code == 200, reply.text
    account, contact, opportunity, lead = (str(uuid.uuid4()) for _ in range(4))

    def item(object_name: str, origin: str, values: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
        stamps = {f: [1000, peer.instance_id, 1] for f in values}
        return {"object": object_name, "origin_id": origin, "origin": "sender", "parent_origin_id": parent,
                "values": values, "stamps": stamps, "seq": 1}  # fmt: skip

    items = [
        item("account", account, {"name": "Fabrikam"}),
        item("contact", contact, {"last_name": "Lovelace", "email": "ADA@Fabrikam.example"}, account),
        item(
            "opportunity",
            opportunity,
            {"name": "Fabrikam deal", "close_date": "2026-10-01", "stage": "Proposal"},
            account,
        ),
        item("lead", lead, {"last_name": "Hopper", "company": "Contoso"}),
    ]
    assert await _post_batch(client, world, peer, [_envelope(peer, {"items": items})]) == ["applied"]

    reply = await client.get(f"{CONNECTIONS}/{peer.ours}/shares", params={"limit": 200}, headers=world.admin.headers)
    shares = {s["origin_id"]: s for s in reply.json()["items"]}
    assert {shares[o]["status"] for o in (account, contact, opportunity, lead)} == {"active_received"}
    local = {o: shares[o]["local_id"] for o in (account, contact, opportunity, lead)}
    got = {}
    for path, origin in (("contacts", contact), ("opportunities", opportunity), ("leads", lead)):
        found = await client.get(f"{API}/{path}/{local[origin]}", headers=world.admin.headers)
        assert found.status_code == 200, found.text
        got[path] = found.json()
    assert got["contacts"]["account_id"] == local[account]
    assert got["contacts"]["email"] == "ada@fabrikam.example"  # normalised as any create
    assert (got["opportunities"]["account_id"], got["opportunities"]["stage"]) == (local[account], "Proposal")
    assert (got["leads"]["last_name"], got["leads"]["company"]) == ("Hopper", "Contoso")
    history = await client.get(f"{API}/contacts/{local[contact]}/history", headers=world.admin.headers)
    assert [h["action"] for h in history.json()["items"]] == ["created"]
