"""A connection's and a share's life between two in-process apps (see conftest.py): suspension
while the peer is unreachable, last error and last sync per share, deactivation, tombstones and
conversion, ordering, paging and history."""

from __future__ import annotations

from datetime import datetime, timedelta
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


async def test_deleting_a_shared_record_sends_a_tombstone_and_the_peer_marks_its_copy(linked: Linked) -> None:
    account, copy = await _shared_account(linked, "Initech")
    pending = await linked.a.call("POST", f"{API}/accounts", {"name": "Initech pending"}, expect=201)
    await linked.a.call("DELETE", f"{API}/accounts/{account['id']}", expect=204, params={"expected_version": 1})
    gone = await linked.a.client.get(f"{API}/accounts/{account['id']}", headers=linked.a.admin.headers)
    assert gone.status_code == 404
    await linked.deliver()
    assert (await linked.a_share("account", account["id"]))["status"] == "inactive_deleted"
    on_b = await linked.b.get(f"{API}/connect/records/accounts/{copy['id']}/sharing")
    assert (on_b[0]["status"], bool(on_b[0]["ended_at"])) == ("inactive_deleted", True)
    assert (await linked.b.get(f"{API}/accounts/{copy['id']}"))["name"] == "Initech"  # marked, kept
    history = await linked.b.get(f"{API}/accounts/{copy['id']}/history")
    assert "connect_origin_deleted" in [h["action"] for h in history["items"]]
    assert pending  # an unrelated record is untouched
    again = await linked.a.client.delete(f"{API}/accounts/{account['id']}", headers=linked.a.admin.headers)
    assert again.status_code == 404


@pytest.mark.parametrize("b_accepts", [{"delete_on_tombstone": True}])
async def test_a_tombstone_deletes_the_copy_when_the_connection_says_so(linked: Linked) -> None:
    account, copy = await _shared_account(linked, "Vandelay")
    await linked.a.call("DELETE", f"{API}/accounts/{account['id']}", expect=204)
    await linked.deliver()
    gone = await linked.b.client.get(f"{API}/accounts/{copy['id']}", headers=linked.b.admin.headers)
    assert gone.status_code == 404
    assert (await linked.b_share("account", account["id"]))["status"] == "inactive_deleted"


async def test_a_record_deleted_before_the_peer_accepted_it_leaves_the_peers_inbox(linked: Linked) -> None:
    await linked.b.call("PUT", f"{CONNECTIONS}/{linked.b_connection}/subscriptions/account", {"auto_accept": False})
    await linked.deliver()
    account = await linked.a.call("POST", f"{API}/accounts", {"name": "Pendant"}, expect=201)
    body = {"connection_ids": [linked.a_connection], "records": [{"object": "account", "id": account["id"]}]}
    await linked.a.call("POST", f"{API}/connect/shares", body, expect=201)
    await linked.deliver()
    assert (await linked.b_share("account", account["id"]))["status"] == "pending_received"
    await linked.a.call("DELETE", f"{API}/accounts/{account['id']}", expect=204)
    await linked.deliver()
    inbox = await linked.b.get(f"{CONNECTIONS}/{linked.b_connection}/shares", status="pending_received")
    assert inbox["items"] == []


async def test_the_receiver_deleting_its_copy_shows_inactive_deleted_on_the_sender(linked: Linked) -> None:
    account, copy = await _shared_account(linked, "Soylent")
    await linked.b.call("DELETE", f"{API}/accounts/{copy['id']}", expect=204)
    await linked.deliver()
    sharing = await linked.a.get(f"{API}/connect/records/accounts/{account['id']}/sharing")
    assert (sharing[0]["status"], bool(sharing[0]["ended_at"])) == ("inactive_deleted", True)
    await _rename(linked.a, f"{API}/accounts/{account['id']}", "Soylent after")  # nothing more is sent
    await linked.deliver()
    assert (await linked.a.get(f"{API}/accounts/{account['id']}"))["name"] == "Soylent after"
    peer_messages = await linked.a.get(f"{API}/outbox", kind="peer", limit=100)
    assert [m["topic"] for m in peer_messages["items"]].count("connect.records") == 1  # the first share only


async def test_converting_a_received_lead_shows_inactive_converted_on_the_sender(linked: Linked) -> None:
    lead = await linked.a.call("POST", f"{API}/leads", {"first_name": "Lee", "last_name": "Ead", "company": "Wonka",
                                                       "source": "web"}, expect=201)  # fmt: skip
    body = {"connection_ids": [linked.a_connection], "records": [{"object": "lead", "id": lead["id"]}]}
    await linked.a.call("POST", f"{API}/connect/shares", body, expect=201)
    await linked.deliver()
    copy_id = (await linked.b_share("lead", lead["id"]))["local_id"]
    leads = f"{API}/distribution/leads/{copy_id}"
    copy = await linked.b.get(leads)
    qualified = {"expected_version": copy["version"], "stage": "sales_qualified"}
    copy = await linked.b.call("POST", f"{leads}/qualify", qualified)
    routed = {"expected_version": copy["version"], "target_kind": "internal_rep",
              "user_id": str(linked.b.admin.user_id)}  # fmt: skip
    await linked.b.call("POST", f"{leads}/route", routed)
    copy = await linked.b.get(leads)
    await linked.b.call("POST", f"{leads}/convert", {"expected_version": copy["version"], "currency": "USD"})
    await linked.deliver()
    sharing = await linked.a.get(f"{API}/connect/records/leads/{lead['id']}/sharing")
    assert sharing[0]["status"] == "inactive_converted"
    assert (await linked.b_share("lead", lead["id"]))["status"] == "inactive_converted"


async def test_deactivation_stops_changes_both_ways_removes_unaccepted_records_and_keeps_accepted_copies(
    linked: Linked,
) -> None:
    account, copy = await _shared_account(linked, "Stark")
    await linked.b.call("PUT", f"{CONNECTIONS}/{linked.b_connection}/subscriptions/account", {"auto_accept": False})
    await linked.deliver()
    pending = await linked.a.call("POST", f"{API}/accounts", {"name": "Stark pending"}, expect=201)
    body = {"connection_ids": [linked.a_connection], "records": [{"object": "account", "id": pending["id"]}]}
    await linked.a.call("POST", f"{API}/connect/shares", body, expect=201)
    await linked.deliver()
    await linked.a.call("POST", f"{CONNECTIONS}/{linked.a_connection}/deactivate", {})
    await linked.deliver()
    assert (await linked.b.get(f"{CONNECTIONS}/{linked.b_connection}"))["status"] == "inactive"
    inbox = await linked.b.get(f"{CONNECTIONS}/{linked.b_connection}/shares", status="pending_received")
    assert inbox["items"] == []  # sent, never accepted: removed
    assert (await linked.b.get(f"{API}/accounts/{copy['id']}"))["name"] == "Stark"  # accepted copy stays
    on_b = await linked.b.get(f"{API}/connect/records/accounts/{copy['id']}/sharing")
    assert (on_b[0]["status"], bool(on_b[0]["ended_at"])) == ("inactive", True)

    await _rename(linked.a, f"{API}/accounts/{account['id']}", "Stark by A after")
    await _rename(linked.b, f"{API}/accounts/{copy['id']}", "Stark by B after")
    await linked.deliver()
    assert (await linked.b.get(f"{API}/accounts/{copy['id']}"))["name"] == "Stark by B after"
    assert (await linked.a.get(f"{API}/accounts/{account['id']}"))["name"] == "Stark by A after"
    b_sent = await linked.b.get(f"{API}/outbox", kind="peer", limit=100)
    assert [m["topic"] for m in b_sent["items"] if m["topic"] == "connect.records"] == []
    history = await linked.b.get(f"{CONNECTIONS}/{linked.b_connection}/history", sort="created_at")
    assert [h["action"] for h in history["items"]][-1] == "peer_ended"


async def _registered_from_b(linked: Linked) -> tuple[dict[str, Any], dict[str, Any]]:
    """A deal registered from B (the partner's instance) and approved on A: (A's registration, B's opportunity)."""
    a, b = linked.a, linked.b
    program = {"name": "Partner deals", "margin_bps": 500, "currency": "USD", "eligible_tiers": ["gold"],
               "required_fields": []}  # fmt: skip
    program_id = (await a.call("POST", f"{API}/deal-programs", program, expect=201))["id"]
    account = await b.call("POST", f"{API}/accounts", {"name": "Tyrell", "website": "https://tyrell.example"},
                           expect=201)  # fmt: skip
    opportunity = await b.call("POST", f"{API}/opportunities", {"name": "Tyrell rollout",
                               "account_id": account["id"], "amount_minor": 1_500_000, "currency": "USD",
                               "close_date": "2026-09-30"}, expect=201)  # fmt: skip
    body = {"connection_id": linked.b_connection, "opportunity_id": opportunity["id"], "program_id": program_id}
    await b.call("POST", f"{API}/connect/deal-registrations", body, expect=201)
    await linked.deliver()
    [registration] = (await a.get(f"{API}/deal-registrations", limit=10))["items"]
    decision = {"expected_version": registration["version"], "note": "Go"}
    approved = await a.call("POST", f"{API}/deal-registrations/{registration['id']}/approve", decision)
    await linked.deliver()
    return dict(approved), dict(opportunity)


async def test_a_registration_the_expiry_timer_ends_is_told_to_the_partners_instance(linked: Linked) -> None:
    approved, opportunity = await _registered_from_b(linked)
    sharing = f"{API}/connect/records/opportunities/{opportunity['id']}/sharing"
    assert (await linked.b.get(sharing))[0]["registration"]["state"] == "approved"

    linked.clock.advance(datetime.fromisoformat(approved["expires_at"]) - linked.clock.now() + timedelta(minutes=1))
    ran = await linked.a.app.state.runtime.jobs.run_all()
    assert ran["deal_registration.expire_registrations"] == 1  # one UPDATE for every due registration
    await linked.deliver()
    assert (await linked.b.get(sharing))[0]["registration"]["state"] == "expired"
    history = await linked.b.get(f"{API}/opportunities/{opportunity['id']}/history", sort="created_at")
    steps = [h["changes"]["registration_state"] for h in history["items"] if h["action"] == "connect_registration"]
    assert steps == [[None, "submitted"], ["submitted", "approved"], ["approved", "expired"]]


async def test_a_deal_registered_from_the_partners_instance_round_trips(linked: Linked) -> None:
    a, b = linked.a, linked.b
    program = {"name": "Partner deals", "margin_bps": 500, "currency": "USD", "eligible_tiers": ["gold"],
               "required_fields": []}  # fmt: skip
    program_id = (await a.call("POST", f"{API}/deal-programs", program, expect=201))["id"]
    # On B (the partner's own instance): its account and opportunity, registered with the vendor.
    account = await b.call("POST", f"{API}/accounts", {"name": "Cyberdyne", "website": "https://cyberdyne.example"},
                           expect=201)  # fmt: skip
    opportunity = await b.call("POST", f"{API}/opportunities", {"name": "Cyberdyne rollout",
                               "account_id": account["id"], "amount_minor": 4_200_000, "currency": "USD",
                               "close_date": "2026-09-30"}, expect=201)  # fmt: skip
    body = {"connection_id": linked.b_connection, "opportunity_id": opportunity["id"], "program_id": program_id}
    sent = await b.call("POST", f"{API}/connect/deal-registrations", body, expect=201)
    assert sent["status"] == "pending_sent"
    await linked.deliver()

    registrations = await a.get(f"{API}/deal-registrations", limit=10)
    [registration] = registrations["items"]
    assert (registration["state"], registration["customer_name"]) == ("submitted", "Cyberdyne")
    assert registration["partner_id"] == str(linked.partner_id)
    assert registration["estimated_amount_minor"] == 4_200_000
    emails = await a.get(f"{API}/outbox", kind="email", limit=100)
    assert any("deal" in m["topic"] for m in emails["items"])  # the usual auto-response
    sharing = await b.get(f"{API}/connect/records/opportunities/{opportunity['id']}/sharing")
    told = sharing[0]["registration"]
    assert (sharing[0]["status"], told["state"], told["number"]) == ("active_sent", "submitted", registration["number"])
    assert sharing[0]["partner_record_id"] == registration["id"]

    decision = {"expected_version": registration["version"], "note": "Go"}
    approved = await a.call("POST", f"{API}/deal-registrations/{registration['id']}/approve", decision)
    await linked.deliver()
    told = (await b.get(f"{API}/connect/records/opportunities/{opportunity['id']}/sharing"))[0]["registration"]
    assert (told["state"], told["decision_note"]) == ("approved", "Go")
    assert datetime.fromisoformat(told["expires_at"]) == datetime.fromisoformat(approved["expires_at"])
    assert told["approved_at"]
    history = await b.get(f"{API}/opportunities/{opportunity['id']}/history", sort="created_at")
    steps = [h["changes"]["registration_state"] for h in history["items"] if h["action"] == "connect_registration"]
    assert steps == [[None, "submitted"], ["submitted", "approved"]]
    again = await b.client.post(f"{API}/connect/deal-registrations", json=body, headers=b.admin.headers)
    assert again.status_code == 409
