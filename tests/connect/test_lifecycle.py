"""A connection's and a share's life between two in-process apps (see conftest.py): suspension
while the peer is unreachable, last error and last sync per share, deactivation, tombstones and
conversion, ordering, paging and history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.connect.conftest import CONNECTIONS, SUSPEND_AFTER, Linked, a_settings

API = "/api/v1"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return a_settings()


async def _shared_account(linked: Linked, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An account of A's, shared with B and auto-accepted there: (A's account, B's copy)."""
    account = await linked.a.call("POST", f"{API}/accounts", {"name": name}, expect=201)
    body = {"connection_ids": [linked.a_connection], "records": [{"object": "account", "id": account["id"]}]}
    await linked.a.call("POST", f"{API}/connect/shares", body, expect=201)
    await linked.deliver()
    share = await linked.b_share("account", account["id"])
    assert share["status"] == "active_received", share
    return account, await linked.b.get(f"{API}/accounts/{share['local_id']}")


async def _rename(side: Any, path: str, name: str) -> dict[str, Any]:
    current = await side.get(path)
    return dict(await side.call("PATCH", path, {"expected_version": current["version"], "name": name}))


async def test_an_unreachable_peer_suspends_the_connection_until_a_delivery_succeeds(linked: Linked) -> None:
    account, copy = await _shared_account(linked, "Contoso")
    a_path, a_conn = f"{API}/accounts/{account['id']}", f"{CONNECTIONS}/{linked.a_connection}"
    linked.network.down.add("b.test")
    await _rename(linked.a, a_path, "Contoso while B is down")
    await linked.deliver()
    connection = await linked.a.get(a_conn)
    assert connection["status"] == "accepted"  # unreachable, but not for long yet
    assert connection["unreachable_since"]
    assert "ConnectError" in connection["last_error"]
    sharing = await linked.a.get(f"{API}/connect/records/accounts/{account['id']}/sharing")
    assert "ConnectError" in sharing[0]["last_error"]
    synced_before = sharing[0]["last_sync_at"]

    linked.clock.advance(SUSPEND_AFTER + timedelta(minutes=1))
    await _rename(linked.a, a_path, "Contoso still queued")  # changes still queue while suspended
    await linked.deliver()
    assert (await linked.a.get(a_conn))["status"] == "suspended"

    linked.network.down.clear()
    linked.clock.advance(timedelta(hours=2))  # past the retry backoff
    await linked.deliver()
    connection = await linked.a.get(a_conn)
    assert (connection["status"], connection["unreachable_since"], connection["last_error"]) == ("accepted", None, None)
    sharing = await linked.a.get(f"{API}/connect/records/accounts/{account['id']}/sharing")
    assert sharing[0]["last_error"] is None
    assert sharing[0]["last_sync_at"] > synced_before
    assert (await linked.b.get(f"{API}/accounts/{copy['id']}"))["name"] == "Contoso still queued"
    on_b = await linked.b.get(f"{API}/connect/records/accounts/{copy['id']}/sharing")
    assert on_b[0]["last_sync_at"] == sharing[0]["last_sync_at"]
    history = await linked.a.get(f"{a_conn}/history", sort="created_at")
    actions = [h["action"] for h in history["items"]]
    assert actions == ["invited", "peer_accepted", "suspended", "resumed"]
    assert history["items"][0]["actor_id"] == str(linked.a.admin.user_id)


async def test_an_edit_made_after_seeing_the_peers_value_wins_even_on_a_clock_behind(linked: Linked) -> None:
    account, copy = await _shared_account(linked, "Hooli")
    await _rename(linked.b, f"{API}/accounts/{copy['id']}", "Hooli by B")
    await linked.deliver()
    assert (await linked.a.get(f"{API}/accounts/{account['id']}"))["name"] == "Hooli by B"
    linked.clock.advance(timedelta(seconds=-30))  # A's clock steps back (both apps share this clock)
    await _rename(linked.a, f"{API}/accounts/{account['id']}", "Hooli by A, later")
    await linked.deliver()
    assert (await linked.b.get(f"{API}/accounts/{copy['id']}"))["name"] == "Hooli by A, later"
    assert (await linked.a.get(f"{API}/accounts/{account['id']}"))["name"] == "Hooli by A, later"
