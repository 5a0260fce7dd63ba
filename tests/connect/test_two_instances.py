"""Connect between two real `prm serve` processes, through HTTP only (SQLite files, or two
fresh PostgreSQL databases when PRM_TEST_DATABASE_URL is set).

The tests share one linked pair of instances and run in file order: the last one deactivates
the connection.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Thread
from typing import Any

import httpx
import pytest

from prm.connect.client import INBOX_PATH, body_hash
from prm.core.tokens import generate_private_key_pem, issue_peer_token
from tests.connect.harness import CONNECTIONS, Instance, eventually, link, local_copy, patch, received_share

pytestmark = pytest.mark.e2e


class Pair:
    def __init__(self, vendor: Instance, partner: Instance) -> None:
        self.vendor = vendor  # A: invites, shares
        self.partner = partner  # B: accepts, receives
        self.a_connection = ""
        self.b_connection = ""

    def b_share(self, object_name: str, origin_id: str) -> dict[str, Any]:
        return received_share(self.partner, self.b_connection, object_name, origin_id)

    def b_copy(self, object_name: str, origin_id: str) -> dict[str, Any]:
        return local_copy(self.partner, self.b_connection, object_name, origin_id)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    vendor = Instance("vendor", tmp_path_factory.mktemp("vendor"))
    partner = Instance("partner", tmp_path_factory.mktemp("partner"))
    try:
        for instance in (vendor, partner):
            instance.set_up()
        # Both start side by side: most of it is each process importing the app.
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda instance: instance.start(), (vendor, partner)))
        yield Pair(vendor, partner)
    finally:
        for instance in (vendor, partner):
            instance.stop()
            instance.drop_database()


@pytest.fixture(scope="module")
def linked(pair: Pair) -> Pair:
    """Invited by the vendor, accepted by the partner, accounts/contacts/opportunities published
    and subscribed (nothing auto-accepted)."""
    a, b = pair.vendor, pair.partner
    # On the vendor, the partner organisation B is (its registrations belong to it), with an admin.
    partner = a.call("POST", "/api/v1/partners", {"name": "Partner B", "tier": "gold"}, expect=201)
    b_admin = {"email": "admin@partner-b.example", "name": "B admin", "role": "partner_admin",
               "partner_id": partner["id"], "password": "correct horse battery"}  # fmt: skip
    a.call("POST", "/api/v1/users", b_admin, expect=201)
    objects = ("account", "contact", "opportunity")
    pair.a_connection, pair.b_connection = link(a, b, partner_id=partner["id"], objects=objects, auto_accept=False)
    assert b.get(f"{CONNECTIONS}/{pair.b_connection}")["peer_url"] == a.url
    return pair


def _emails(instance: Instance) -> list[dict[str, Any]]:
    return list(instance.get("/api/v1/outbox", params={"kind": "email", "limit": 100})["items"])


def test_acceptance_is_mailed_to_the_inviter_and_a_second_connection_is_refused(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    accepted = eventually(
        lambda: [m for m in _emails(a) if m["topic"] == "connect.connection_accepted"], what="the acceptance email"
    )
    assert accepted[0]["destination"] == a.admin_email
    again = a.http.post(CONNECTIONS, json={"peer_url": b.url + "/", "contact_email": "x@y.example"}, headers=a.headers)
    assert again.status_code == 409
    assert "peer_url" in again.text


def test_subscription_map_types_are_checked_when_saved(linked: Pair) -> None:
    b = linked.partner
    path = f"{CONNECTIONS}/{linked.b_connection}/subscriptions/opportunity"
    wrong_type = b.http.put(path, json={"field_map": {"close_date": "name"}}, headers=b.headers)
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["field"] == "field_map.close_date"
    no_such = b.http.put(path, json={"field_map": {"name": "colour"}}, headers=b.headers)
    assert no_such.status_code == 422
    assert no_such.json()["errors"][0]["field"] == "field_map.name"
    subscription = [
        s for s in b.get(f"{CONNECTIONS}/{linked.b_connection}/subscriptions") if s["object"] == "opportunity"
    ]
    assert subscription[0]["field_map"] == {"name": "name", "close_date": "close_date", "stage": "stage"}


def _create_deal(a: Instance, name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    account = a.call("POST", "/api/v1/accounts", {"name": f"{name} Corp"}, expect=201)
    contact = a.call(
        "POST",
        "/api/v1/contacts",
        {"account_id": account["id"], "first_name": "Ada", "last_name": f"{name}son"},
        expect=201,
    )
    opportunity = a.call(
        "POST",
        "/api/v1/opportunities",
        {"name": f"{name} deal", "account_id": account["id"], "amount_minor": 500000, "currency": "EUR",
         "close_date": "2026-06-30"},
        expect=201,
    )  # fmt: skip
    return account, contact, opportunity


def _share(pair: Pair, *records: tuple[str, dict[str, Any]], expect: int = 201) -> Any:
    body = {"connection_ids": [pair.a_connection], "records": [{"object": o, "id": r["id"]} for o, r in records]}
    return pair.vendor.call("POST", "/api/v1/connect/shares", body, expect=expect)


def _shared_deal(pair: Pair, name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    account, contact, opportunity = _create_deal(pair.vendor, name)
    _share(pair, ("account", account), ("contact", contact), ("opportunity", opportunity))
    share = eventually(lambda: pair.b_share("account", account["id"]), what="the account on B")
    pair.partner.call("POST", f"/api/v1/connect/shares/{share['id']}/accept", {})
    eventually(lambda: pair.b_copy("opportunity", opportunity["id"]), what="the opportunity accepted on B")
    return account, contact, opportunity


def test_forwarding_refuses_a_child_before_its_parent_and_unsubscribed_objects(linked: Pair) -> None:
    a = linked.vendor
    account, _contact, opportunity = _create_deal(a, "Orphan")
    body = {"connection_ids": [linked.a_connection], "records": [{"object": "opportunity", "id": opportunity["id"]}]}
    orphan = a.http.post("/api/v1/connect/shares", json=body, headers=a.headers)
    assert orphan.status_code == 422
    assert orphan.json()["errors"][0]["field"] == "records[0]"
    assert "parent" in orphan.json()["detail"]
    lead = a.call(
        "POST", "/api/v1/leads", {"first_name": "L", "last_name": "Ead", "company": "Co", "source": "web"}, expect=201
    )
    body = {"connection_ids": [linked.a_connection], "records": [{"object": "lead", "id": lead["id"]}]}
    unsubscribed = a.http.post("/api/v1/connect/shares", json=body, headers=a.headers)
    assert unsubscribed.status_code == 422
    assert unsubscribed.json()["errors"][0]["field"] == "records[0].object"
    assert "subscribed" in unsubscribed.json()["detail"]
    sharing = a.get(f"/api/v1/connect/records/accounts/{account['id']}/sharing")
    assert sharing == []


def test_a_shared_opportunity_arrives_pending_with_its_children_and_accepting_the_parent_takes_them(
    linked: Pair,
) -> None:
    a, b = linked.vendor, linked.partner
    account, contact, opportunity = _create_deal(a, "Wingtip")
    shares = _share(linked, ("account", account), ("contact", contact), ("opportunity", opportunity))
    assert [s["status"] for s in shares] == ["pending_sent"] * 3
    pending = eventually(
        lambda: (
            len(b.get(f"{CONNECTIONS}/{linked.b_connection}/shares", params={"status": "pending_received"})["items"])
            >= 3
        ),
        what="three pending records on B",
    )
    assert pending
    assert linked.b_share("opportunity", opportunity["id"])["pending_values"]["name"] == "Wingtip deal"
    b.call("POST", f"/api/v1/connect/shares/{linked.b_share('account', account['id'])['id']}/accept", {})
    copy = eventually(lambda: linked.b_copy("opportunity", opportunity["id"]), what="the opportunity on B")
    assert (copy["name"], copy["stage"], copy["close_date"]) == ("Wingtip deal", "Prospecting", "2026-06-30")
    b_account = linked.b_copy("account", account["id"])
    assert copy["account_id"] == b_account["id"]
    assert b_account["name"] == "Wingtip Corp"
    assert linked.b_copy("contact", contact["id"])["last_name"] == "Wingtipson"
    sharing = eventually(
        lambda: [s for s in a.get(f"/api/v1/connect/records/opportunities/{opportunity['id']}/sharing")
                 if s["status"] == "active_sent"],
        what="active sent on A",
    )  # fmt: skip
    assert sharing[0]["partner_record_id"] == copy["id"]
    assert sharing[0]["started_at"]
    on_b = b.get(f"/api/v1/connect/records/opportunities/{copy['id']}/sharing")
    assert on_b[0]["status"] == "active_received"
    assert on_b[0]["partner_record_id"] == opportunity["id"]


def test_edits_on_both_sides_converge(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    _account, _contact, opportunity = _shared_deal(linked, "Contoso")
    b_path = f"/api/v1/opportunities/{linked.b_copy('opportunity', opportunity['id'])['id']}"
    a_path = f"/api/v1/opportunities/{opportunity['id']}"
    patch(a, a_path, name="Contoso expansion")
    patch(b, b_path, stage="Negotiation")
    eventually(lambda: b.get(b_path)["name"] == "Contoso expansion", what="A's name on B")
    eventually(lambda: a.get(a_path)["stage"] == "Negotiation", what="B's stage on A")
    b_amount = b.get(b_path)["amount_minor"]
    patch(a, a_path, amount_minor=1, name="Contoso barrier")  # the amount is not published
    eventually(lambda: b.get(b_path)["name"] == "Contoso barrier", what="the barrier on B")
    assert b.get(b_path)["amount_minor"] == b_amount != 1


def test_concurrent_edits_resolve_the_same_on_both_sides_and_keep_the_loser(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    _account, _contact, opportunity = _shared_deal(linked, "Fabrikam")
    b_path = f"/api/v1/opportunities/{linked.b_copy('opportunity', opportunity['id'])['id']}"
    a_path = f"/api/v1/opportunities/{opportunity['id']}"
    # Concurrent: each side edits before it can see the other's edit (a restarted peer is caught
    # up at once, so each edit is made while the other side is down).
    b.kill()
    patch(a, a_path, name="Fabrikam by A")  # earlier; cannot reach B yet
    a.kill()  # its change waits in its outbox
    b.start()
    patch(b, b_path, name="Fabrikam by B")  # later: wins on both sides
    a.start()
    eventually(lambda: a.get(a_path)["name"] == "Fabrikam by B", what="B's later name on A")

    def loser_kept() -> list[dict[str, Any]]:
        history = b.get(f"{b_path}/history", params={"limit": 100})["items"]
        return [h for h in history if h["action"] == "connect_conflict"]

    conflict = eventually(loser_kept, within=60, what="A's losing value in B's history")
    assert conflict[0]["changes"]["name"] == ["Fabrikam by A", "Fabrikam by B"]
    assert b.get(b_path)["name"] == a.get(a_path)["name"] == "Fabrikam by B"


def test_receiver_killed_during_1000_updates_applies_each_exactly_once(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    _account, _contact, opportunity = _shared_deal(linked, "Northwind")
    a_path = f"/api/v1/opportunities/{opportunity['id']}"
    version = a.get(a_path)["version"]
    restart = Thread(target=b.start)
    for n in range(1, 1001):
        if n == 400:
            b.kill()
        if n == 600:
            restart.start()  # B comes back while the updates go on
        version = a.call("PATCH", a_path, {"expected_version": version, "name": f"Northwind v{n}"})["version"]
    restart.join()
    eventually(
        lambda: linked.b_copy("opportunity", opportunity["id"])["name"] == "Northwind v1000", within=120,
        what="the last update on B",
    )  # fmt: skip
    # Every message arrived and was counted once, retries included: the share, then 1,000 updates.
    eventually(lambda: linked.b_share("opportunity", opportunity["id"])["received_count"] >= 1001, within=60,
               what="1,001 messages received")  # fmt: skip
    assert linked.b_share("opportunity", opportunity["id"])["received_count"] == 1001
    eventually(lambda: not _peer_outbox(a), what="nothing left to deliver on A")
    assert linked.b_copy("opportunity", opportunity["id"])["name"] == a.get(a_path)["name"] == "Northwind v1000"


def _peer_outbox(instance: Instance) -> list[dict[str, Any]]:
    return list(instance.get("/api/v1/outbox", params={"kind": "peer", "status": "pending", "limit": 100})["items"])


def test_sender_killed_after_commit_before_delivery_loses_nothing(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    _account, _contact, opportunity = _shared_deal(linked, "Litware")
    a_path = f"/api/v1/opportunities/{opportunity['id']}"
    b.kill()
    patch(a, a_path, name="Litware committed")
    # The change committed with its message; the first attempt failed (B is down).
    eventually(lambda: [m for m in _peer_outbox(a) if m["last_error"]], what="a failed first attempt")
    a.kill()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda instance: instance.start(), (b, a)))
    eventually(lambda: linked.b_copy("opportunity", opportunity["id"])["name"] == "Litware committed", within=60,
               what="the committed change on B")  # fmt: skip


def _signed_post(
    pair: Pair, envelope: dict[str, Any], *, key: str, audience: str, now: float | None = None
) -> httpx.Response:
    body = json.dumps(envelope).encode()
    peer_instance = pair.partner.get(f"{CONNECTIONS}/{pair.b_connection}")["peer_instance_id"]
    token = issue_peer_token(
        key,
        issuer=peer_instance,
        subject=pair.a_connection,
        audience=audience,
        now=time.time() if now is None else now,
        claims={"bh": body_hash(body)},
    )
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    return httpx.post(pair.partner.url + INBOX_PATH, content=body, headers=headers, timeout=30)


def test_forged_expired_or_replayed_peer_tokens_change_nothing(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    _account, _contact, opportunity = _shared_deal(linked, "Tailspin")
    b_copy = linked.b_copy("opportunity", opportunity["id"])
    share = linked.b_share("opportunity", opportunity["id"])

    def envelope(name: str) -> dict[str, Any]:
        stamp = [int(time.time() * 1_000_000) + 10**9, share["partner_record_id"]]
        item = {"object": "opportunity", "origin_id": opportunity["id"], "origin": "sender", "parent_origin_id": None,
                "values": {"name": name}, "stamps": {"name": stamp}, "seq": 99}  # fmt: skip
        return {"message_id": str(uuid.uuid4()), "type": "records",
                "sender_connection_id": linked.a_connection, "receiver_connection_id": linked.b_connection,
                "body": {"items": [item]}}  # fmt: skip

    real_key = a.connection_key(linked.a_connection)
    forged = _signed_post(linked, envelope("forged"), key=generate_private_key_pem(), audience=b.url)
    assert forged.status_code == 401
    wrong_audience = _signed_post(linked, envelope("elsewhere"), key=real_key, audience=a.url)
    assert wrong_audience.status_code == 401
    expired = _signed_post(linked, envelope("expired"), key=real_key, audience=b.url, now=time.time() - 3600)
    assert expired.status_code == 401
    genuine = envelope("genuine")
    body = json.dumps(genuine).encode()
    peer_instance = b.get(f"{CONNECTIONS}/{linked.b_connection}")["peer_instance_id"]
    token = issue_peer_token(real_key, issuer=peer_instance, subject=linked.a_connection, audience=b.url,
                             now=time.time(), claims={"bh": body_hash(body)})  # fmt: skip
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    tampered = httpx.post(b.url + INBOX_PATH, content=body.replace(b"genuine", b"tampered"), headers=headers)
    assert tampered.status_code == 401
    assert b.get(f"/api/v1/opportunities/{b_copy['id']}")["name"] == "Tailspin deal"
    first = httpx.post(b.url + INBOX_PATH, content=body, headers=headers)
    assert first.status_code == 200  # the positive control: a genuinely signed message applies
    assert b.get(f"/api/v1/opportunities/{b_copy['id']}")["name"] == "genuine"
    patch(b, f"/api/v1/opportunities/{b_copy['id']}", name="after")
    replayed = httpx.post(b.url + INBOX_PATH, content=body, headers=headers)
    assert replayed.status_code == 401
    assert b.get(f"/api/v1/opportunities/{b_copy['id']}")["name"] == "after"


def test_stop_sharing_keeps_both_copies_and_ends_updates(linked: Pair) -> None:
    a, _b = linked.vendor, linked.partner
    _account, _contact, opportunity = _shared_deal(linked, "Adatum")
    a_path = f"/api/v1/opportunities/{opportunity['id']}"
    sharing = a.get(f"/api/v1/connect/records/opportunities/{opportunity['id']}/sharing")
    stopped = a.call("POST", f"/api/v1/connect/shares/{sharing[0]['id']}/stop", {})
    assert stopped["status"] == "inactive"
    assert stopped["ended_at"]
    eventually(lambda: linked.b_share("opportunity", opportunity["id"])["status"] == "inactive", what="stopped on B")
    patch(a, a_path, name="Adatum after stop")
    marker = patch(a, f"/api/v1/accounts/{_account['id']}", name="Adatum Corp renamed")
    assert marker
    eventually(lambda: linked.b_copy("account", _account["id"])["name"] == "Adatum Corp renamed", what="account sync")
    assert linked.b_copy("opportunity", opportunity["id"])["name"] == "Adatum deal"


def test_a_deleted_record_sends_a_tombstone_and_a_deleted_copy_shows_on_the_sender(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    gone, _c, _o = _create_deal(a, "Gone")
    kept, _c2, _o2 = _create_deal(a, "Kept")
    _share(linked, ("account", gone), ("account", kept))
    for account in (gone, kept):
        share = eventually(lambda account=account: linked.b_share("account", account["id"]), what="the account on B")
        b.call("POST", f"/api/v1/connect/shares/{share['id']}/accept", {})
    eventually(lambda: linked.b_copy("account", kept["id"]), what="accepted on B")
    a.call("DELETE", f"/api/v1/contacts/{_c['id']}", expect=204)
    a.call("DELETE", f"/api/v1/opportunities/{_o['id']}", expect=204)
    a.call("DELETE", f"/api/v1/accounts/{gone['id']}", expect=204)
    eventually(lambda: linked.b_share("account", gone["id"])["status"] == "inactive_deleted", what="tombstone on B")
    assert linked.b_copy("account", gone["id"])["name"] == "Gone Corp"  # marked deleted, kept
    copy = linked.b_copy("account", kept["id"])
    b.call("DELETE", f"/api/v1/accounts/{copy['id']}", expect=204)
    eventually(
        lambda: a.get(f"/api/v1/connect/records/accounts/{kept['id']}/sharing")[0]["status"] == "inactive_deleted",
        what="inactive (deleted) on A",
    )


def test_a_deal_registered_from_the_partners_instance_round_trips(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    program = a.call("POST", "/api/v1/deal-programs", {"name": "Via Connect", "margin_bps": 500, "currency": "EUR",
                     "eligible_tiers": ["gold"], "required_fields": []}, expect=201)  # fmt: skip
    account = b.call("POST", "/api/v1/accounts", {"name": "Skynet Systems"}, expect=201)
    opportunity = b.call("POST", "/api/v1/opportunities", {"name": "Skynet rollout", "account_id": account["id"],
                         "amount_minor": 900_000, "currency": "EUR"}, expect=201)  # fmt: skip
    body = {"connection_id": linked.b_connection, "opportunity_id": opportunity["id"], "program_id": program["id"]}
    b.call("POST", "/api/v1/connect/deal-registrations", body, expect=201)
    sharing = f"/api/v1/connect/records/opportunities/{opportunity['id']}/sharing"

    def registration_state() -> str | None:
        return (b.get(sharing)[0].get("registration") or {}).get("state")

    eventually(lambda: registration_state() == "submitted", what="the submitted registration on B")
    told = b.get(sharing)
    registration = a.get(f"/api/v1/deal-registrations/{told[0]['partner_record_id']}")
    assert (registration["state"], registration["customer_name"]) == ("submitted", "Skynet Systems")
    a.call(
        "POST",
        f"/api/v1/deal-registrations/{registration['id']}/approve",
        {"expected_version": registration["version"]},
    )
    eventually(lambda: registration_state() == "approved", what="the approval on B")
    assert b.get(sharing)[0]["registration"]["expires_at"]


def test_deactivation_ends_sync_and_removes_pending_records_on_the_other_side(linked: Pair) -> None:
    a, b = linked.vendor, linked.partner
    _account, _contact, opportunity = _shared_deal(linked, "Proseware")
    pending_account, _c, _o = _create_deal(a, "Pending")
    _share(linked, ("account", pending_account))
    eventually(lambda: linked.b_share("account", pending_account["id"]), what="a pending record on B")
    b.call("POST", f"{CONNECTIONS}/{linked.b_connection}/deactivate", {})
    eventually(lambda: a.get(f"{CONNECTIONS}/{linked.a_connection}")["status"] == "inactive", what="inactive on A")
    pending = b.get(f"{CONNECTIONS}/{linked.b_connection}/shares", params={"status": "pending_received"})
    assert pending["items"] == []
    b_path = f"/api/v1/opportunities/{linked.b_copy('opportunity', opportunity['id'])['id']}"
    patch(a, f"/api/v1/opportunities/{opportunity['id']}", name="Proseware after the end")
    assert b.get(b_path)["name"] == "Proseware deal"  # accepted copies stay
    sharing = a.get(f"/api/v1/connect/records/opportunities/{opportunity['id']}/sharing")
    assert sharing[0]["status"] == "inactive"
    assert sharing[0]["ended_at"]
