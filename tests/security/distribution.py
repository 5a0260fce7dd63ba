"""Lead distribution records for the security tests, made through HTTP like the other factories."""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.security.factories import (
    API,
    Client,
    Made,
    Make,
    actor_headers,
    created,
    make_campaign,
    make_product,
    marker,
)

DIST = f"{API}/distribution"


async def replaced(client: Client, world: World, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A PUT by the vendor admin."""
    reply = await client.put(path, json=body, headers=world.admin.headers)
    assert reply.status_code == 200, (path, reply.text)
    result: dict[str, Any] = reply.json()
    return result


async def current(client: Client, world: World, path: str) -> dict[str, Any]:
    reply = await client.get(path, headers=world.admin.headers)
    assert reply.status_code == 200, (path, reply.text)
    result: dict[str, Any] = reply.json()
    return result


# --- the vendor's setup ---------------------------------------------------------------------------


async def make_scoring_criterion(client: Client, world: World) -> Made:
    name = marker()
    body = {"name": name, "attribute": "country", "operator": "present", "points": 10}
    criterion = await created(client, world, "admin", f"{DIST}/scoring-criteria", body)
    return Made(ids={"id": criterion["id"]}, hidden={criterion["id"], name})


async def make_lead_program(client: Client, world: World) -> Made:
    """A lead program with partner A enrolled."""
    name = marker()
    program = await created(client, world, "admin", f"{DIST}/programs", {"name": name})
    await replaced(client, world, f"{DIST}/programs/{program['id']}/members/{world.partner_a}", {"weight": 100})
    return Made(ids={"id": program["id"], "partner": str(world.partner_a)}, hidden={program["id"], name})


async def make_certification(client: Client, world: World) -> Made:
    """Partner A certified for a product (the record is the partner's list of certifications)."""
    product = await make_product(client, world)
    path = f"{DIST}/partners/{world.partner_a}/certified-products"
    await replaced(client, world, path, {"product_ids": [product.ids["id"]]})
    return Made(ids={"id": str(world.partner_a)}, hidden=set())


async def make_group(client: Client, world: World) -> Made:
    """A shark-tank group of partner A alone."""
    name = marker()
    group = await created(
        client, world, "admin", f"{DIST}/groups", {"name": name, "partner_ids": [str(world.partner_a)]}
    )
    return Made(ids={"id": group["id"]}, hidden={group["id"], name})


async def make_rule(client: Client, world: World) -> Made:
    name = marker()
    body = {"name": name, "target_kind": "partner", "target_partner_id": str(world.partner_a), "countries": ["US"]}
    rule = await created(client, world, "admin", f"{DIST}/routing-rules", body)
    return Made(ids={"id": rule["id"]}, hidden={rule["id"], name})


async def make_web_form(client: Client, world: World) -> Made:
    name = marker()
    campaign = await make_campaign(client, world)
    form = await created(client, world, "admin", f"{DIST}/web-forms", {"name": name, "campaign_id": campaign.ids["id"]})
    return Made(ids={"id": form["id"], "key": form["key"]}, hidden={form["id"], form["key"], name})


async def make_import(client: Client, world: World) -> Made:
    name = marker()
    csv = f"first_name,last_name,company,email\nAda,Lovelace,{name},ada@{name}.example\n".encode()
    reply = await client.post(
        f"{DIST}/imports", files={"file": ("leads.csv", csv, "text/csv")}, headers=world.admin.headers
    )
    assert reply.status_code == 201, reply.text
    return Made(ids={"id": reply.json()["import_id"]}, hidden={reply.json()["import_id"], name})


# --- leads, routing and offers ----------------------------------------------------------------------


async def new_distribution_lead(client: Client, world: World, company: str) -> dict[str, Any]:
    body = {"first_name": "Peter", "last_name": "Gibbons", "company": company, "source": "web", "country": "US"}
    body |= {"email": f"peter@{company}.example", "currency": "USD"}
    return await created(client, world, "admin", f"{DIST}/leads", body)


async def qualified(client: Client, world: World, company: str) -> dict[str, Any]:
    lead = await new_distribution_lead(client, world, company)
    body = {
        "expected_version": lead["version"],
        "stage": "sales_qualified",
        "current_situation": "Firewalls at end of life",
        "time_frame": "this_quarter",
    }
    return await created(client, world, "admin", f"{DIST}/leads/{lead['id']}/qualify", body)


async def make_new_lead(client: Client, world: World) -> Made:
    """A vendor lead just taken in, not qualified yet."""
    name = marker()
    lead = await new_distribution_lead(client, world, name)
    return Made(ids={"id": lead["id"]}, hidden={lead["id"], name})


async def make_queued_lead(client: Client, world: World) -> Made:
    """A vendor lead in the queue: staff see it, no partner does."""
    name = marker()
    lead = await qualified(client, world, name)
    return Made(ids={"id": lead["id"]}, hidden={lead["id"], name})


async def make_duplicate_pair(client: Client, world: World) -> Made:
    first, second = await make_queued_lead(client, world), await make_queued_lead(client, world)
    return Made(ids=first.ids | {"duplicate": second.ids["id"]}, hidden=first.hidden | second.hidden)


async def routed(client: Client, world: World, **target: Any) -> tuple[Made, dict[str, Any]]:
    """A qualified vendor lead routed by the vendor admin; its offer as the admin reads it."""
    made = await make_queued_lead(client, world)
    lead = await current(client, world, f"{DIST}/leads/{made.ids['id']}")
    body = {"expected_version": lead["version"], **target}
    decision = await created(client, world, "admin", f"{DIST}/leads/{made.ids['id']}/route", body)
    offers = await client.get(f"{DIST}/offers", params={"limit": 200}, headers=world.admin.headers)
    offer = next(o for o in offers.json()["items"] if o["lead_id"] == made.ids["id"])
    ids = made.ids | {"decision": decision["id"], "offer": offer["id"]}
    # The lead stays the vendor's (every channel manager sees it) until a partner accepts it.
    return Made(ids=ids, hidden={decision["id"], offer["id"]}), offer


async def make_offer_to_a(client: Client, world: World) -> Made:
    made, offer = await routed(client, world, target_kind="partner", partner_id=str(world.partner_a))
    return Made(ids=made.ids | {"id": offer["id"], "lead": made.ids["id"]}, hidden=made.hidden)


async def make_shark_tank_offer(client: Client, world: World) -> Made:
    """An open shark-tank offer to a group of partner A alone."""
    group = await make_group(client, world)
    made, offer = await routed(client, world, target_kind="shark_tank", group_id=group.ids["id"])
    return Made(ids=made.ids | {"id": offer["id"], "lead": made.ids["id"]}, hidden=made.hidden)


async def make_decision_for_a(client: Client, world: World) -> Made:
    made, _ = await routed(client, world, target_kind="partner", partner_id=str(world.partner_a))
    return Made(ids=made.ids | {"id": made.ids["decision"]}, hidden=made.hidden)


async def make_lead_of_a(client: Client, world: World) -> Made:
    """A lead partner A accepted: A holds it now (and converts it)."""
    made = await make_offer_to_a(client, world)
    accepted = await client.post(f"{DIST}/offers/{made.ids['offer']}/accept", headers=world.pa_user.headers)
    assert accepted.status_code == 200, accepted.text
    return Made(ids=made.ids | {"id": made.ids["lead"]}, hidden=made.hidden)


# --- referrals --------------------------------------------------------------------------------------


async def make_referral_program(client: Client, world: World) -> Made:
    name = marker()
    body = {"name": name, "terms": "A fee for every referral that closes", "currency": "USD", "fee_minor": 500_00}
    program = await created(client, world, "admin", f"{DIST}/referral-programs", body)
    return Made(ids={"id": program["id"]}, hidden={program["id"], name})


async def make_application(client: Client, world: World) -> Made:
    """Partner A applied to a referral program."""
    program = await make_referral_program(client, world)
    applied = await created(client, world, "pa_admin", f"{DIST}/referral-programs/{program.ids['id']}/applications", {})
    return Made(ids={"id": applied["id"], "program": program.ids["id"]}, hidden={applied["id"]})


async def make_invitation(client: Client, world: World) -> Made:
    """Partner A invited to a referral program."""
    program = await make_referral_program(client, world)
    path = f"{DIST}/referral-programs/{program.ids['id']}/invitations"
    invited = await created(client, world, "admin", path, {"partner_id": str(world.partner_a)})
    return Made(ids={"id": invited["id"], "program": program.ids["id"]}, hidden={invited["id"]})


async def make_referral(client: Client, world: World) -> Made:
    """A referral partner A submitted, once approved in the program."""
    application = await make_application(client, world)
    membership = f"{DIST}/referral-memberships/{application.ids['id']}/decision"
    await created(client, world, "admin", membership, {"expected_version": 1, "approve": True})
    name = marker()
    body = {"program_id": application.ids["program"], "first_name": "Bill", "last_name": "Lumbergh", "company": name}
    referral = await created(client, world, "pa_user", f"{DIST}/referrals", body)
    # The referred lead joins the vendor's queue (every channel manager sees it); who referred it does not show.
    return Made(ids={"id": referral["id"]}, hidden={referral["id"]})


def web_lead_form(key: str) -> dict[str, str]:
    return {"first_name": "Milton", "last_name": "Waddams", "email": f"milton@{key.lower()}.example", "company": "X"}


__all__ = ["DIST", "Make", "actor_headers"]
