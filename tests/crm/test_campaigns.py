"""Campaigns and their members through HTTP: vendor data, parent campaigns without cycles."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from prm.core.clock import ManualClock
from tests.conftest import Actor, World

Client = httpx.AsyncClient
URL = "/api/v1/campaigns"


async def _campaign(client: Client, actor: Actor, name: str = "Spring launch", **extra: Any) -> dict[str, Any]:
    reply = await client.post(URL, json={"name": name, **extra}, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def _lead(client: Client, actor: Actor, company: str = "Initech") -> str:
    body = {"first_name": "Bill", "last_name": "Lumbergh", "company": company, "source": "campaign"}
    reply = await client.post("/api/v1/leads", json=body, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def _contact(client: Client, actor: Actor) -> str:
    account = await client.post("/api/v1/accounts", json={"name": "Initrode"}, headers=actor.headers)
    body = {"account_id": account.json()["id"], "first_name": "Peter", "last_name": "Gibbons"}
    reply = await client.post("/api/v1/contacts", json=body, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def test_staff_create_leadership_reads_partners_are_turned_away(client: Client, world: World) -> None:
    parent = await _campaign(
        client, world.admin, type="webinar", start_date="2026-04-01", budget_minor=500_000, currency="EUR"
    )
    assert parent["status"] == "planned"
    child = await _campaign(client, world.cm_a, "Spring webinar DE", parent_id=parent["id"])
    assert child["parent_id"] == parent["id"]
    assert (await client.get(f"{URL}/{child['id']}", headers=world.leader.headers)).status_code == 200
    assert (await client.post(URL, json={"name": "X"}, headers=world.leader.headers)).status_code == 403
    for actor in (world.pa_admin, world.pa_user, world.pb_user):
        assert (await client.get(URL, headers=actor.headers)).status_code == 403, actor.email
        assert (await client.get(f"{URL}/{parent['id']}", headers=actor.headers)).status_code in (403, 404)
        assert (await client.post(URL, json={"name": "X"}, headers=actor.headers)).status_code == 403
        assert (await client.get(f"{URL}/{parent['id']}/members", headers=actor.headers)).status_code in (403, 404)

    children = await client.get(URL, params={"parent_id": parent["id"]}, headers=world.admin.headers)
    assert [c["name"] for c in children.json()["items"]] == ["Spring webinar DE"]
    webinars = await client.get(URL, params={"type": "webinar"}, headers=world.admin.headers)
    assert [c["name"] for c in webinars.json()["items"]] == ["Spring launch"]


async def test_parent_must_exist_and_cycles_are_refused(client: Client, world: World) -> None:
    missing = await client.post(
        URL, json={"name": "Orphan", "parent_id": str(uuid.uuid4())}, headers=world.admin.headers
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "parent_id"
    top = await _campaign(client, world.admin, "Top")
    middle = await _campaign(client, world.admin, "Middle", parent_id=top["id"])
    bottom = await _campaign(client, world.admin, "Bottom", parent_id=middle["id"])
    for new_parent in (bottom["id"], middle["id"], top["id"]):
        reply = await client.patch(
            f"{URL}/{top['id']}", json={"expected_version": 1, "parent_id": new_parent}, headers=world.admin.headers
        )
        assert reply.status_code == 422, (new_parent, reply.text)
        assert reply.json()["errors"][0]["field"] == "parent_id"
    moved = await client.patch(
        f"{URL}/{bottom['id']}", json={"expected_version": 1, "parent_id": top["id"]}, headers=world.admin.headers
    )
    assert moved.status_code == 200, moved.text
    detached = await client.patch(
        f"{URL}/{bottom['id']}", json={"expected_version": 2, "parent_id": None}, headers=world.admin.headers
    )
    assert detached.json()["parent_id"] is None


async def test_dates_and_budget_rules_name_the_field(client: Client, world: World) -> None:
    backwards = await client.post(
        URL, json={"name": "X", "start_date": "2026-05-01", "end_date": "2026-04-01"}, headers=world.admin.headers
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "end_date"
    no_currency = await client.post(URL, json={"name": "X", "budget_minor": 100}, headers=world.admin.headers)
    assert no_currency.status_code == 422
    assert no_currency.json()["errors"][0]["field"] == "currency"
    campaign = await _campaign(client, world.admin, start_date="2026-05-01")
    patched = await client.patch(
        f"{URL}/{campaign['id']}", json={"expected_version": 1, "end_date": "2026-04-30"}, headers=world.admin.headers
    )
    assert patched.status_code == 422
    assert (await client.get(f"{URL}/{campaign['id']}", headers=world.admin.headers)).json()["version"] == 1
    for body, field in (
        ({"name": ""}, "name"),
        ({"name": "X", "status": "live"}, "status"),
        ({"name": "X", "budget_minor": 1.5}, "budget_minor"),
    ):
        reply = await client.post(URL, json=body, headers=world.admin.headers)
        assert reply.status_code == 400, reply.text
        assert field in reply.json()["detail"]


async def test_campaign_update_versions_and_history(client: Client, world: World) -> None:
    campaign = await _campaign(client, world.admin)
    url = f"{URL}/{campaign['id']}"
    active = await client.patch(url, json={"expected_version": 1, "status": "active"}, headers=world.cm_a.headers)
    assert active.status_code == 200, active.text
    stale = await client.patch(url, json={"expected_version": 1, "status": "aborted"}, headers=world.admin.headers)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    history = (await client.get(f"{url}/history?sort=at", headers=world.leader.headers)).json()["items"]
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[1]["changes"] == {"status": ["planned", "active"]}
    assert history[1]["actor_id"] == str(world.cm_a.user_id)


async def test_members_sent_then_responded_from_the_clock(client: Client, world: World, clock: ManualClock) -> None:
    campaign = await _campaign(client, world.admin)
    members_url = f"{URL}/{campaign['id']}/members"
    lead_id = await _lead(client, world.admin)
    contact_id = await _contact(client, world.admin)
    sent = await client.post(members_url, json={"lead_id": lead_id}, headers=world.admin.headers)
    assert sent.status_code == 201, sent.text
    assert sent.json()["status"] == "Sent"
    assert sent.json()["responded_at"] is None
    contact_member = await client.post(
        members_url, json={"contact_id": contact_id, "status": "Responded"}, headers=world.cm_a.headers
    )
    assert contact_member.status_code == 201
    assert contact_member.json()["responded_at"].startswith("2026-03-02T09:00:00")

    clock.advance(timedelta(minutes=10))
    member_url = f"{members_url}/{sent.json()['id']}"
    responded = await client.patch(
        member_url, json={"expected_version": 1, "status": "Responded"}, headers=world.admin.headers
    )
    assert responded.status_code == 200, responded.text
    assert responded.json()["responded_at"].startswith("2026-03-02T09:10:00")
    assert responded.json()["version"] == 2
    stale = await client.patch(member_url, json={"expected_version": 1, "status": "Sent"}, headers=world.admin.headers)
    assert stale.status_code == 409

    listed = await client.get(members_url, params={"status": "Responded"}, headers=world.leader.headers)
    assert sorted(m["id"] for m in listed.json()["items"]) == sorted([sent.json()["id"], contact_member.json()["id"]])
    history = await client.get("/api/v1/leads/" + lead_id + "/history", headers=world.admin.headers)
    assert history.status_code == 200
    elsewhere = await client.patch(
        f"{URL}/{(await _campaign(client, world.admin, 'Other'))['id']}/members/{sent.json()['id']}",
        json={"expected_version": 2, "status": "Sent"},
        headers=world.admin.headers,
    )
    assert elsewhere.status_code == 404


async def test_a_lead_or_contact_joins_a_campaign_once(client: Client, world: World) -> None:
    campaign = await _campaign(client, world.admin)
    other = await _campaign(client, world.admin, "Other")
    lead_id = await _lead(client, world.admin)
    contact_id = await _contact(client, world.admin)
    for body in ({"lead_id": lead_id}, {"contact_id": contact_id}):
        members_url = f"{URL}/{campaign['id']}/members"
        assert (await client.post(members_url, json=body, headers=world.admin.headers)).status_code == 201
        again = await client.post(members_url, json=body | {"status": "Responded"}, headers=world.admin.headers)
        assert again.status_code == 409, again.text
        assert again.json()["errors"][0]["field"] == next(iter(body))
        elsewhere = await client.post(f"{URL}/{other['id']}/members", json=body, headers=world.admin.headers)
        assert elsewhere.status_code == 201
    listed = (await client.get(f"{URL}/{campaign['id']}/members", headers=world.admin.headers)).json()["items"]
    assert len(listed) == 2


async def test_member_must_be_exactly_one_visible_lead_or_contact(client: Client, world: World) -> None:
    campaign = await _campaign(client, world.admin)
    members_url = f"{URL}/{campaign['id']}/members"
    lead_id = await _lead(client, world.admin)
    contact_id = await _contact(client, world.admin)
    neither = await client.post(members_url, json={}, headers=world.admin.headers)
    assert neither.status_code == 422
    both = await client.post(
        members_url, json={"lead_id": lead_id, "contact_id": contact_id}, headers=world.admin.headers
    )
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "lead_id"
    # A contact of partner B is not visible to partner A's channel manager: same as missing.
    b_contact = await _contact(client, world.pb_user)
    for body, field in (({"contact_id": b_contact}, "contact_id"), ({"lead_id": str(uuid.uuid4())}, "lead_id")):
        reply = await client.post(members_url, json=body, headers=world.cm_a.headers)
        assert reply.status_code == 422, reply.text
        assert reply.json()["errors"][0]["field"] == field
    bad_status = await client.post(
        members_url, json={"lead_id": lead_id, "status": "Opened"}, headers=world.admin.headers
    )
    assert bad_status.status_code == 400
    assert "status" in bad_status.json()["detail"]
    missing_campaign = await client.post(
        f"{URL}/{uuid.uuid4()}/members", json={"lead_id": lead_id}, headers=world.admin.headers
    )
    assert missing_campaign.status_code == 404
    assert (await client.get(members_url, headers=world.admin.headers)).json()["items"] == []


async def test_campaigns_and_members_page_with_cursors(client: Client, world: World) -> None:
    names = [f"Campaign {i:02d}" for i in range(11)]
    for name in names:
        await _campaign(client, world.admin, name)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4, "sort": "name"} | ({"cursor": cursor} if cursor else {})
        reply = await client.get(URL, params=params, headers=world.leader.headers)
        assert reply.status_code == 200, reply.text
        seen += [c["name"] for c in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if not cursor:
            break
    assert seen == names

    campaign = await _campaign(client, world.admin, "Big")
    members_url = f"{URL}/{campaign['id']}/members"
    added = []
    for i in range(7):
        reply = await client.post(
            members_url, json={"lead_id": await _lead(client, world.admin, f"Co {i}")}, headers=world.admin.headers
        )
        added.append(reply.json()["id"])
    member_ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, "sort": "created_at"} | ({"cursor": cursor} if cursor else {})
        reply = await client.get(members_url, params=params, headers=world.admin.headers)
        assert reply.status_code == 200, reply.text
        member_ids += [m["id"] for m in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if not cursor:
            break
    assert member_ids == added
