"""Leads through HTTP: staff create them, partners see only the ones assigned to their organisation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import update

from prm.crm.models import Lead, LeadStatus
from tests.conftest import Actor, World

Client = httpx.AsyncClient
URL = "/api/v1/leads"


async def _lead(client: Client, actor: Actor, **extra: Any) -> dict[str, Any]:
    body = {"first_name": "Bill", "last_name": "Lumbergh", "company": "Initech", "source": "web"} | extra
    reply = await client.post(URL, json=body, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def _assign(world: World, lead_id: str, partner_id: uuid.UUID) -> None:
    """Routing a lead to a partner belongs to lead distribution; the test only arranges the state."""
    async with world.db.unit_of_work() as session:
        await session.execute(
            update(Lead).where(Lead.id == uuid.UUID(lead_id)).values(partner_id=partner_id, version=Lead.version + 1)
        )


async def _set_status(world: World, lead_id: str, status: LeadStatus) -> None:
    """Statuses move through lead distribution's services; the test only arranges the state."""
    async with world.db.unit_of_work() as session:
        await session.execute(
            update(Lead).where(Lead.id == uuid.UUID(lead_id)).values(status=status, version=Lead.version + 1)
        )


async def test_staff_create_unassigned_leads_partners_cannot(client: Client, world: World) -> None:
    lead = await _lead(client, world.cm_a, email="Bill@Initech.example", country="US", source="referral")
    assert lead["status"] == "new"
    assert lead["partner_id"] is None
    assert lead["email"] == "bill@initech.example"
    assert lead["source"] == "referral"
    body = {"first_name": "A", "last_name": "B", "company": "C", "source": "web"}
    for actor in (world.pa_admin, world.pa_user, world.leader):
        assert (await client.post(URL, json=body, headers=actor.headers)).status_code == 403, actor.email
    assert (await client.get(f"{URL}/{lead['id']}", headers=world.leader.headers)).status_code == 200
    # Unassigned vendor leads are invisible to every partner.
    assert (await client.get(f"{URL}/{lead['id']}", headers=world.pa_admin.headers)).status_code == 404


async def test_partners_see_only_leads_assigned_to_them(client: Client, world: World) -> None:
    to_a = await _lead(client, world.admin, company="For A")
    to_b = await _lead(client, world.admin, company="For B")
    await _lead(client, world.admin, company="Unassigned")
    await _assign(world, to_a["id"], world.partner_a)
    await _assign(world, to_b["id"], world.partner_b)

    async def companies(actor: Actor) -> list[str]:
        reply = await client.get(URL, params={"sort": "company"}, headers=actor.headers)
        assert reply.status_code == 200, reply.text
        return [lead["company"] for lead in reply.json()["items"]]

    assert await companies(world.pa_user) == ["For A"]
    assert await companies(world.pb_admin) == ["For B"]
    assert await companies(world.cm_a) == ["For A", "Unassigned"]
    assert await companies(world.leader) == ["For A", "For B", "Unassigned"]
    url = f"{URL}/{to_a['id']}"
    for actor in (world.pb_user, world.pb_admin, world.cm_b):
        assert (await client.get(url, headers=actor.headers)).status_code == 404, actor.email
        assert (await client.get(f"{url}/history", headers=actor.headers)).status_code == 404
        patched = await client.patch(url, json={"expected_version": 2, "title": "Buyer"}, headers=actor.headers)
        assert patched.status_code == 404


async def test_assigned_partner_works_the_lead_with_versions_and_history(client: Client, world: World) -> None:
    lead = await _lead(client, world.admin)
    await _assign(world, lead["id"], world.partner_a)
    url = f"{URL}/{lead['id']}"
    working = await client.patch(
        url,
        json={"expected_version": 2, "title": "Buyer", "owner_id": str(world.pa_user.user_id)},
        headers=world.pa_admin.headers,
    )
    assert working.status_code == 200, working.text
    assert working.json()["owner_id"] == str(world.pa_user.user_id)
    stale = await client.patch(url, json={"expected_version": 2, "title": "Head buyer"}, headers=world.pa_user.headers)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 3
    other_org = await client.patch(
        url, json={"expected_version": 3, "owner_id": str(world.pb_user.user_id)}, headers=world.pa_admin.headers
    )
    assert other_org.status_code == 422
    assert other_org.json()["errors"][0]["field"] == "owner_id"
    vendor_owner = await client.patch(
        url, json={"expected_version": 3, "owner_id": str(world.cm_a.user_id)}, headers=world.admin.headers
    )
    assert vendor_owner.status_code == 422
    assert vendor_owner.json()["errors"][0]["field"] == "owner_id"

    history = (await client.get(f"{url}/history?sort=at", headers=world.pa_user.headers)).json()["items"]
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[1]["changes"] == {
        "title": [None, "Buyer"],
        "owner_id": [None, str(world.pa_user.user_id)],
    }
    assert history[1]["actor_id"] == str(world.pa_admin.user_id)


async def test_campaign_and_owner_must_exist(client: Client, world: World) -> None:
    body = {"first_name": "A", "last_name": "B", "company": "C", "source": "campaign"}
    no_campaign = await client.post(URL, json=body | {"campaign_id": str(uuid.uuid4())}, headers=world.admin.headers)
    assert no_campaign.status_code == 422
    assert no_campaign.json()["errors"][0]["field"] == "campaign_id"
    partner_owner = await client.post(
        URL, json=body | {"owner_id": str(world.pa_user.user_id)}, headers=world.admin.headers
    )
    assert partner_owner.status_code == 422
    assert partner_owner.json()["errors"][0]["field"] == "owner_id"
    campaign = await client.post("/api/v1/campaigns", json={"name": "Spring"}, headers=world.admin.headers)
    assert campaign.status_code == 201, campaign.text
    ok = await _lead(client, world.cm_a, campaign_id=campaign.json()["id"], owner_id=str(world.cm_a.user_id))
    assert ok["campaign_id"] == campaign.json()["id"]
    assert len((await client.get(URL, headers=world.admin.headers)).json()["items"]) == 1


async def test_pages_and_filters(client: Client, world: World) -> None:
    campaign = (await client.post("/api/v1/campaigns", json={"name": "Webinar"}, headers=world.admin.headers)).json()
    sources = ["web", "campaign", "import", "referral"]
    created = []
    for i in range(14):
        extra: dict[str, Any] = {"company": f"Company {i:02d}", "source": sources[i % 4]}
        if sources[i % 4] == "campaign":
            extra["campaign_id"] = campaign["id"]
        created.append(await _lead(client, world.admin, **extra))
    await _assign(world, created[0]["id"], world.partner_a)
    await _set_status(world, created[1]["id"], LeadStatus.DISQUALIFIED)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4, "sort": "-company"} | ({"cursor": cursor} if cursor else {})
        reply = await client.get(URL, params=params, headers=world.admin.headers)
        assert reply.status_code == 200, reply.text
        seen += [lead["company"] for lead in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [f"Company {i:02d}" for i in reversed(range(14))]

    async def count(**params: str) -> int:
        reply = await client.get(URL, params={"limit": 200, **params}, headers=world.admin.headers)
        assert reply.status_code == 200, reply.text
        return len(reply.json()["items"])

    assert await count(source="referral") == 3
    assert await count(campaign_id=campaign["id"]) == 4
    assert await count(status="disqualified") == 1
    assert await count(partner_id=str(world.partner_a)) == 1
    bad = await client.get(URL, params={"status": "hot"}, headers=world.admin.headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "status"


async def test_bad_input_names_the_field_and_writes_nothing(client: Client, world: World) -> None:
    good = {"first_name": "A", "last_name": "B", "company": "C", "source": "web"}
    cases = [
        (good | {"source": "billboard"}, "source"),
        (good | {"company": ""}, "company"),
        (good | {"email": "nope"}, "email"),
        (good | {"country": "Atlantis"}, "country"),
        (good | {"partner_id": str(world.partner_a)}, "partner_id"),
        ({k: v for k, v in good.items() if k != "source"}, "source"),
    ]
    for body, field in cases:
        reply = await client.post(URL, json=body, headers=world.admin.headers)
        assert reply.status_code == 400, (body, reply.text)
        assert field in reply.json()["detail"], reply.json()
    assert (await client.get(URL, headers=world.admin.headers)).json()["items"] == []
