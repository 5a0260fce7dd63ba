"""Records for the security tests, made through HTTP by the actors of the `world`.

Each factory returns the ids it made and what must stay hidden from outsiders: the ids and a
unique name, searched for in every reply an outsider gets.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import update

from prm.crm.models import Lead
from tests.conftest import World

Client = httpx.AsyncClient
API = "/api/v1"


@dataclass
class Made:
    """What a factory made: `ids["id"]` is the record under test, other ids what it hangs on."""

    ids: dict[str, str]
    hidden: set[str]  # strings an outsider must never find in any reply: ids, a unique name


Make = Callable[[Client, World], Awaitable[Made]]


def marker() -> str:
    """A unique, lower-case name: searched for in replies to outsiders."""
    return f"zq{uuid.uuid4().hex[:12]}"


def actor_headers(world: World, name: str) -> dict[str, str]:
    headers: dict[str, str] = getattr(world, name).headers
    return headers


async def created(client: Client, world: World, actor: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await client.post(path, json=body, headers=actor_headers(world, actor))
    assert reply.status_code in (200, 201), (path, reply.text)
    result: dict[str, Any] = reply.json()
    return result


async def make_partner(client: Client, world: World) -> Made:
    return Made(ids={"id": str(world.partner_a)}, hidden={str(world.partner_a), "Acme Resellers"})


async def make_user(client: Client, world: World) -> Made:
    name = marker()
    body = {"email": f"{name}@acme.test", "name": name, "role": "partner_user", "password": "long enough secret"}
    user = await created(client, world, "pa_admin", f"{API}/users", body)
    return Made(ids={"id": user["id"]}, hidden={user["id"], name})


async def make_account(client: Client, world: World) -> Made:
    name = marker()
    account = await created(client, world, "pa_user", f"{API}/accounts", {"name": name})
    return Made(ids={"id": account["id"]}, hidden={account["id"], name})


async def make_campaign(client: Client, world: World) -> Made:
    name = marker()
    campaign = await created(client, world, "admin", f"{API}/campaigns", {"name": name})
    return Made(ids={"id": campaign["id"]}, hidden={campaign["id"], name})


async def add_member(client: Client, world: World, campaign: str, **who: str) -> str:
    """`cm_a` (who sees both the vendor's campaign and partner A's people) puts someone in a campaign."""
    member = await created(client, world, "cm_a", f"{API}/campaigns/{campaign}/members", who)
    return str(member["id"])


async def make_contact(client: Client, world: World) -> Made:
    """Partner A's contact, also a member of a vendor campaign that cm_b may read."""
    account = await make_account(client, world)
    name = marker()
    body = {"account_id": account.ids["id"], "first_name": "Pat", "last_name": name}
    contact = await created(client, world, "pa_user", f"{API}/contacts", body)
    campaign = await make_campaign(client, world)
    await add_member(client, world, campaign.ids["id"], contact_id=contact["id"])
    ids = {"id": contact["id"], "account": account.ids["id"], "campaign": campaign.ids["id"]}
    return Made(ids=ids, hidden={contact["id"], name} | account.hidden)


async def make_opportunity(client: Client, world: World) -> Made:
    account = await make_account(client, world)
    name = marker()
    body = {"name": name, "account_id": account.ids["id"], "amount_minor": 500_000, "currency": "USD"}
    deal = await created(client, world, "pa_user", f"{API}/opportunities", body)
    return Made(ids={"id": deal["id"], "account": account.ids["id"]}, hidden={deal["id"], name} | account.hidden)


async def new_vendor_lead(client: Client, world: World, company: str = "Initech") -> dict[str, Any]:
    body = {"first_name": "Lee", "last_name": "Dee", "company": company, "source": "web"}
    return await created(client, world, "admin", f"{API}/leads", body)


async def make_vendor_lead(client: Client, world: World) -> Made:
    """Not assigned yet: the vendor's staff (both channel managers) see it, no partner does."""
    name = marker()
    lead = await new_vendor_lead(client, world, name)
    return Made(ids={"id": lead["id"]}, hidden={lead["id"], name})


async def make_assigned_lead(client: Client, world: World) -> Made:
    """A lead assigned to partner A, and a member of a vendor campaign that cm_b may read."""
    made = await make_vendor_lead(client, world)
    # Assigning is lead distribution's work, which has no route yet: set the owner in the database.
    async with world.db.unit_of_work() as session:
        await session.execute(
            update(Lead).where(Lead.id == uuid.UUID(made.ids["id"])).values(partner_id=world.partner_a)
        )
    campaign = await make_campaign(client, world)
    await add_member(client, world, campaign.ids["id"], lead_id=made.ids["id"])
    return Made(ids=made.ids | {"campaign": campaign.ids["id"]}, hidden=made.hidden)


async def make_campaign_with_member(client: Client, world: World) -> Made:
    made = await make_campaign(client, world)
    lead = await new_vendor_lead(client, world)
    member = await add_member(client, world, made.ids["id"], lead_id=lead["id"])
    return Made(ids=made.ids | {"member": member}, hidden=made.hidden | {member})


async def make_product(client: Client, world: World) -> Made:
    name = marker()
    body = {"sku": name, "name": name, "list_price_minor": 1000, "currency": "EUR"}
    product = await created(client, world, "admin", f"{API}/products", body)
    return Made(ids={"id": product["id"]}, hidden={product["id"], name})


async def make_webhook(client: Client, world: World) -> Made:
    name = marker()
    hook = await created(client, world, "admin", f"{API}/webhooks", {"url": f"https://{name}.test/hook"})
    return Made(ids={"id": hook["id"]}, hidden={hook["id"], name, hook["secret"]})


async def make_outbox_message(client: Client, world: World) -> Made:
    """A webhook event about partner A's new account: the payload carries A's data."""
    hook = await make_webhook(client, world)
    account = await make_account(client, world)
    reply = await client.get(f"{API}/outbox", params={"limit": 200}, headers=world.admin.headers)
    messages = [m for m in reply.json()["items"] if m["payload"]["data"].get("id") == account.ids["id"]]
    assert len(messages) == 1, reply.text
    return Made(ids={"id": messages[0]["id"], "webhook": hook.ids["id"]}, hidden={messages[0]["id"]})


async def make_webhook_with_delivery(client: Client, world: World) -> Made:
    """A webhook endpoint (`id`) with one delivery queued for it (`delivery`)."""
    message = await make_outbox_message(client, world)
    webhook, delivery = message.ids["webhook"], message.ids["id"]
    return Made(ids={"id": webhook, "delivery": delivery}, hidden={webhook, delivery})


# --- deal registration ----------------------------------------------------------------------------

DEALS = f"{API}/deal-registrations"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass(frozen=True)
class Multipart:
    """A form body (httpx's `data`), multipart when it carries `files`."""

    data: dict[str, str]
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)


async def make_program(client: Client, world: World, tiers: tuple[str, ...] = ("gold", "silver")) -> Made:
    name = marker()
    body = {"name": name, "margin_bps": 500, "currency": "USD", "eligible_tiers": list(tiers)}
    program = await created(client, world, "admin", f"{API}/deal-programs", body)
    return Made(ids={"id": program["id"]}, hidden={program["id"], name})


async def make_gold_program(client: Client, world: World) -> Made:
    """Partner A is gold, partner B silver: B may not see this program at all."""
    return await make_program(client, world, tiers=("gold",))


def deal_details(customer: str, contact: str) -> dict[str, Any]:
    return {
        "customer_name": customer,
        "customer_country": "US",
        "contact_name": contact,
        "estimated_amount_minor": 48_000_00,
        "currency": "USD",
        "expected_close_date": "2026-06-30",
    }


async def make_catalog(client: Client, world: World) -> tuple[str, str]:
    """A program (for gold and silver partners) and a product: what a registration names."""
    return (await make_program(client, world)).ids["id"], (await make_product(client, world)).ids["id"]


async def register(
    client: Client,
    world: World,
    actor: str,
    customer: str,
    *,
    submit: bool = True,
    catalog: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A deal registered by `actor` (a partner user), under a fresh program and product unless given."""
    program_id, product_id = catalog or await make_catalog(client, world)
    body = {
        "program_id": program_id,
        **deal_details(customer, marker()),
        "products": [{"product_id": product_id, "quantity": 5}],
        "submit": submit,
    }
    return await created(client, world, actor, DEALS, body)


async def step(
    client: Client, world: World, actor: str, registration: dict[str, Any], action: str, **body: Any
) -> dict[str, Any]:
    """One transition of a registration, by `actor`, at the version it is at."""
    return await created(
        client,
        world,
        actor,
        f"{DEALS}/{registration['id']}/{action}",
        {"expected_version": registration["version"], **body},
    )


def close_won_form(version: int) -> Multipart:
    data = {
        "expected_version": str(version),
        "amount_minor": "4800000",
        "proof_date": "2026-05-01",
        "invoice_number": "INV-1",
    }
    return Multipart(data=data, files={"document": ("invoice.pdf", PDF, "application/pdf")})


async def close_won(client: Client, world: World, registration: dict[str, Any]) -> dict[str, Any]:
    form = close_won_form(registration["version"])
    reply = await client.post(
        f"{DEALS}/{registration['id']}/close-won", data=form.data, files=form.files, headers=world.pa_user.headers
    )
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def registration_in(client: Client, world: World, state: str) -> tuple[dict[str, Any], Made]:
    """Partner A's registration taken to `state` through the API (draft ... won)."""
    name = marker()
    registration = await register(client, world, "pa_user", f"Customer {name}", submit=state != "draft")
    if state in ("approved", "won"):
        registration = await step(client, world, "cm_a", registration, "approve")
    if state == "rejected":
        registration = await step(
            client, world, "cm_a", registration, "reject", reason="incomplete", explanation="More."
        )
    if state == "won":
        registration = await close_won(client, world, registration)
    ids = {"id": registration["id"]}
    return registration, Made(ids=ids, hidden={registration["id"], registration["number"], name})


def registration_factory(state: str) -> Make:
    async def make(client: Client, world: World) -> Made:
        return (await registration_in(client, world, state))[1]

    make.__name__ = f"make_{state}_registration"
    return make


async def make_registration_with_extension(client: Client, world: World) -> Made:
    registration, made = await registration_in(client, world, "approved")
    extension = await step(client, world, "pa_user", registration, "extensions", reason="The board meets next quarter")
    return Made(ids=made.ids | {"extension": extension["id"]}, hidden=made.hidden | {extension["id"]})


async def make_possible_duplicate(client: Client, world: World) -> Made:
    """A submitted registration, and an earlier one of A it may be marked a duplicate of."""
    original, first = await registration_in(client, world, "approved")
    _, made = await registration_in(client, world, "submitted")
    return Made(ids=made.ids | {"original": original["id"]}, hidden=made.hidden | first.hidden)


async def credit_in(client: Client, world: World, status: str) -> Made:
    """Partner A's margin credit (from a won deal whose proof was verified), taken to `status`."""
    registration, made = await registration_in(client, world, "won")
    await step(client, world, "cm_a", registration, "proof/decision", approve=True)
    reply = await client.get(f"{API}/credits", params={"limit": 200}, headers=world.admin.headers)
    credit = next(c for c in reply.json()["items"] if c["source_id"] == registration["id"])
    if status == "approved":
        credit = await created(
            client, world, "admin", f"{API}/credits/{credit['id']}/approve", {"expected_version": credit["version"]}
        )
    return Made(ids={"id": credit["id"]}, hidden=made.hidden | {credit["id"]})


def credit_factory(status: str) -> Make:
    async def make(client: Client, world: World) -> Made:
        return await credit_in(client, world, status)

    make.__name__ = f"make_{status}_credit"
    return make
