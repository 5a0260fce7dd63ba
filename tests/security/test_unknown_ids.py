"""Every id in every write body that names no record the caller may see is a 404 or 422 naming
the field, never a 500 from a foreign key.

Found by hand: PATCH a routing rule with a `target_user_id` that does not exist was a 500. The
walker reads the served OpenAPI document, finds every write operation (POST, PUT, PATCH under
/api/v1) and every uuid-formatted property of its JSON body, nested arrays included
(`products[0].product_id`), and sends, for each one, a body that is valid but for that id, which
names a record that does not exist. The recipes below only say how to reach an operation (its
actor, the records in its path, a valid body); which ids to try comes from the document, so a new
route or id field is walked the day it appears, and one without a recipe fails the test.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from prm.connect.models import ConnectionStatus, Publication
from prm.connect.service.connections import received_invitation
from prm.core.tokens import generate_private_key_pem, public_key_pem
from tests.conftest import World
from tests.security.distribution import (
    DIST,
    make_application,
    make_group,
    make_lead_of_a,
    make_lead_program,
    make_queued_lead,
    make_referral_program,
    make_rule,
    make_web_form,
)
from tests.security.factories import (
    API,
    created,
    deal_details,
    make_account,
    make_campaign,
    make_catalog,
    make_contact,
    make_opportunity,
    make_product,
    make_vendor_lead,
    marker,
    registration_in,
)

Client = httpx.AsyncClient
UNKNOWN = "0190e5a2-dead-7bad-8bad-00000000f00d"
Recipe = Callable[[Client, World], Awaitable[tuple[str, str, dict[str, Any]]]]  # actor, path, valid body
WRITES = ("post", "put", "patch")


# --- what the document says ---------------------------------------------------------------------


def uuid_fields(schema: dict[str, Any], components: dict[str, Any], path: str = "") -> list[str]:
    """The paths of the uuid-formatted properties of a body schema: `a`, `b[0].c`."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    found = [f for alt in schema.get("oneOf", []) + schema.get("anyOf", []) for f in uuid_fields(alt, components, path)]
    if schema.get("format") == "uuid":
        found.append(path)
    for name, sub in (schema.get("properties") or {}).items():
        found += uuid_fields(sub, components, f"{path}.{name}" if path else name)
    if "items" in schema:
        found += uuid_fields(schema["items"], components, f"{path}[0]")
    return sorted(set(found))


async def write_operations(client: Client) -> dict[str, list[str]]:
    """'METHOD /path' -> the uuid fields of its JSON body, for each write operation that has any."""
    document = (await client.get("/schema/openapi.json")).json()
    components = document["components"]["schemas"]
    found: dict[str, list[str]] = {}
    for path, item in document["paths"].items():
        for method in WRITES:
            body = item.get(method, {}).get("requestBody", {}).get("content", {}).get("application/json")
            if path.startswith(f"{API}/") and body and (fields := uuid_fields(body["schema"], components)):
                found[f"{method.upper()} {path}"] = fields
    return found


def with_unknown(body: dict[str, Any], field: str) -> dict[str, Any]:
    """`body` with the id at `field` (`a`, `a[0]`, `a[0].b`) replaced by one that names nothing."""
    changed = copy.deepcopy(body)
    parts = re.findall(r"[^.\[\]]+|\[0\]", field)
    target: Any = changed
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "[0]":
            if not target:
                target.append(UNKNOWN if last else {})
            if last:
                target[0] = UNKNOWN
            target = target[0]
        elif last:
            target[part] = [UNKNOWN] if parts[-1:] == [part] and isinstance(target.get(part), list) else UNKNOWN
        else:
            target = target.setdefault(part, [] if parts[index + 1] == "[0]" else {})
    return changed


# --- how to reach each operation ----------------------------------------------------------------


async def version_of(client: Client, world: World, path: str) -> int:
    reply = await client.get(path, headers=world.admin.headers)
    assert reply.status_code == 200, (path, reply.text)
    version: int = reply.json()["version"]
    return version


async def deal_registration(client: Client, world: World, state: str) -> tuple[str, dict[str, Any], str]:
    registration, _ = await registration_in(client, world, state)
    product = await make_product(client, world)
    return f"{API}/deal-registrations/{registration['id']}", registration, product.ids["id"]


def deal_body(program_id: str, product_id: str) -> dict[str, Any]:
    return {
        "program_id": program_id,
        **deal_details("Walker Inc", "Jo Walker"),
        "products": [{"product_id": product_id, "quantity": 1}],
    }


async def lead_body(client: Client, world: World) -> dict[str, Any]:
    campaign, product = await make_campaign(client, world), await make_product(client, world)
    return {
        "first_name": "Jo",
        "last_name": "Walker",
        "company": marker(),
        "email": f"{marker()}@walker.example",
        "source": "web",
        "currency": "USD",
        "campaign_id": campaign.ids["id"],
        "owner_id": str(world.cm_a.user_id),
        "product_id": product.ids["id"],
    }


async def rule_body(client: Client, world: World) -> dict[str, Any]:
    program, product = await make_lead_program(client, world), await make_product(client, world)
    return {
        "name": marker(),
        "target_kind": "partner",
        "target_partner_id": str(world.partner_a),
        "program_id": program.ids["id"],
        "product_ids": [product.ids["id"]],
    }


async def queued_lead(client: Client, world: World) -> tuple[str, int]:
    lead = await make_queued_lead(client, world)
    path = f"{DIST}/leads/{lead.ids['id']}"
    return path, await version_of(client, world, path)


async def r_channel_managers(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    body = {"channel_manager_ids": [str(world.cm_a.user_id)]}
    return "admin", f"{API}/partners/{world.partner_a}/channel-managers", body


async def r_user(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    name = marker()
    body = {"email": f"{name}@acme.test", "name": name, "role": "partner_user", "password": "long enough secret"}
    return "admin", f"{API}/users", body | {"partner_id": str(world.partner_a)}


async def r_account(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    return "admin", f"{API}/accounts", {"name": marker(), "partner_id": str(world.partner_a)}


async def r_opportunity(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    account = await make_account(client, world)
    body = {"name": marker(), "account_id": account.ids["id"], "amount_minor": 100, "currency": "USD"}
    return "admin", f"{API}/opportunities", body | {"partner_id": str(world.partner_a)}


async def r_contact(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    account = await make_account(client, world)
    body = {"first_name": "Jo", "last_name": "Walker", "email": f"{marker()}@walker.example"}
    return "admin", f"{API}/contacts", body | {"account_id": account.ids["id"]}


async def r_lead(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    return "admin", f"{API}/leads", await lead_body(client, world)


async def r_lead_patch(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    lead = await make_vendor_lead(client, world)
    path = f"{API}/leads/{lead.ids['id']}"
    return (
        "admin",
        path,
        {"expected_version": await version_of(client, world, path), "owner_id": str(world.cm_a.user_id)},
    )


async def r_campaign_member(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    campaign, contact = await make_campaign(client, world), await make_contact(client, world)
    return "admin", f"{API}/campaigns/{campaign.ids['id']}/members", {"contact_id": contact.ids["id"]}


async def r_campaign(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    parent = await make_campaign(client, world)
    return "admin", f"{API}/campaigns", {"name": marker(), "parent_id": parent.ids["id"]}


async def r_campaign_patch(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    campaign, parent = await make_campaign(client, world), await make_campaign(client, world)
    path = f"{API}/campaigns/{campaign.ids['id']}"
    return "admin", path, {"expected_version": await version_of(client, world, path), "parent_id": parent.ids["id"]}


async def r_conflict_check(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    product = await make_product(client, world)
    body = {"customer_name": "Walker Inc", "products": [{"product_id": product.ids["id"], "quantity": 1}]}
    return "pa_user", f"{API}/deal-registrations/conflict-check", body


async def r_registration(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    program_id, product_id = await make_catalog(client, world)
    return "pa_user", f"{API}/deal-registrations", deal_body(program_id, product_id)


async def r_registration_patch(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    path, registration, product_id = await deal_registration(client, world, "draft")
    body = {"expected_version": registration["version"], "products": [{"product_id": product_id, "quantity": 1}]}
    return "pa_user", path, body


async def r_mark_duplicate(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    path, registration, _ = await deal_registration(client, world, "submitted")
    original, _ = await registration_in(client, world, "approved")
    body = {"expected_version": registration["version"], "duplicate_of_id": original["id"], "explanation": "Seen."}
    return "cm_a", f"{path}/mark-duplicate", body


async def r_reject(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    path, registration, _ = await deal_registration(client, world, "submitted")
    original, _ = await registration_in(client, world, "approved")
    body = {"expected_version": registration["version"], "reason": "duplicate", "explanation": "Seen it."}
    return "cm_a", f"{path}/reject", body | {"duplicate_of_id": original["id"]}


async def r_resubmit(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    path, registration, product_id = await deal_registration(client, world, "rejected")
    body = deal_body(registration["program_id"], product_id)
    del body["program_id"]
    return "pa_user", f"{path}/resubmit", body


async def r_route_many(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    path, version = await queued_lead(client, world)
    body = {"leads": [{"id": path.rsplit("/", 1)[-1], "expected_version": version}]}
    return "admin", f"{DIST}/leads/auto-route", body


async def r_convert(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    lead = await make_lead_of_a(client, world)
    path = f"{DIST}/leads/{lead.ids['id']}"
    account = await created(client, world, "pa_user", f"{API}/accounts", {"name": marker()})
    return (
        "pa_user",
        f"{path}/convert",
        {"expected_version": await version_of(client, world, path)} | {"account_id": account["id"]},
    )


async def r_distribution_lead(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    return "admin", f"{DIST}/leads", await lead_body(client, world)


async def r_merge(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    path, version = await queued_lead(client, world)
    other, other_version = await queued_lead(client, world)
    body = {"expected_version": version, "duplicate_id": other.rsplit("/", 1)[-1], "duplicate_version": other_version}
    return "admin", f"{path}/merge", body


async def r_qualify(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    lead = await make_vendor_lead(client, world)
    path = f"{DIST}/leads/{lead.ids['id']}"
    product = await make_product(client, world)
    body = {"expected_version": await version_of(client, world, path), "stage": "marketing_qualified"}
    return "admin", f"{path}/qualify", body | {"product_id": product.ids["id"]}


async def r_route(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    path, version = await queued_lead(client, world)
    return (
        "admin",
        f"{path}/route",
        {"expected_version": version, "target_kind": "partner", "partner_id": str(world.partner_a)},
    )


# The target kind an id of a routing body is read for: without it the id does not apply.
TARGET_KINDS = {
    "partner_id": "partner",
    "target_partner_id": "partner",
    "user_id": "partner_user",
    "target_user_id": "partner_user",
    "group_id": "shark_tank",
    "target_group_id": "shark_tank",
    "program_id": "program_pool",
}


async def r_certified_products(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    product = await make_product(client, world)
    return "admin", f"{DIST}/partners/{world.partner_a}/certified-products", {"product_ids": [product.ids["id"]]}


async def r_group(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    program = await make_lead_program(client, world)
    body = {"name": marker(), "partner_ids": [str(world.partner_a)], "program_id": program.ids["id"]}
    return "admin", f"{DIST}/groups", body


async def r_group_patch(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    group, program = await make_group(client, world), await make_lead_program(client, world)
    path = f"{DIST}/groups/{group.ids['id']}"
    return "admin", path, {"expected_version": await version_of(client, world, path), "program_id": program.ids["id"]}


async def r_group_members(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    group = await make_group(client, world)
    return "admin", f"{DIST}/groups/{group.ids['id']}/members", {"partner_ids": [str(world.partner_a)]}


async def r_rule(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    return "admin", f"{DIST}/routing-rules", await rule_body(client, world)


async def r_rule_patch(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    rule = await make_rule(client, world)
    path = f"{DIST}/routing-rules/{rule.ids['id']}"
    body = await rule_body(client, world)
    del body["name"]
    return "admin", path, {"expected_version": await version_of(client, world, path)} | body


async def r_rule_order(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    await make_rule(client, world)
    rules = await client.get(f"{DIST}/routing-rules", headers=world.admin.headers)
    listed = rules.json()
    ids = [r["id"] for r in (listed["items"] if isinstance(listed, dict) else listed)]
    return "admin", f"{DIST}/routing-rules/order", {"rule_ids": ids}


async def r_web_form(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    campaign, program = await make_campaign(client, world), await make_lead_program(client, world)
    body = {"name": marker(), "campaign_id": campaign.ids["id"], "program_id": program.ids["id"]}
    return "admin", f"{DIST}/web-forms", body


async def r_web_form_patch(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    form, program = await make_web_form(client, world), await make_lead_program(client, world)
    path = f"{DIST}/web-forms/{form.ids['id']}"
    return "admin", path, {"expected_version": await version_of(client, world, path), "program_id": program.ids["id"]}


async def r_invitation(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    program = await make_referral_program(client, world)
    path = f"{DIST}/referral-programs/{program.ids['id']}/invitations"
    return "admin", path, {"partner_id": str(world.partner_a)}


async def r_referral(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    application = await make_application(client, world)
    membership = f"{DIST}/referral-memberships/{application.ids['id']}/decision"
    await created(client, world, "admin", membership, {"expected_version": 1, "approve": True})
    product = await make_product(client, world)
    body = {"program_id": application.ids["program"], "first_name": "Bill", "last_name": "Lumbergh"}
    body["company"] = marker()
    return "pa_user", f"{DIST}/referrals", body | {"product_id": product.ids["id"]}


async def received_connection(world: World, *, accepted: bool = False) -> str:
    """A connection as a peer's invitation leaves it (no peer runs here); accepted, with accounts
    published and the peer subscribed, when `accepted`."""
    body = {
        "instance_id": str(uuid.uuid4()),
        "base_url": f"http://{marker().lower()}.example",
        "contact_email": "admin@peer.example",
        "public_key": public_key_pem(generate_private_key_pem()),
        "invite_secret": marker(),
    }
    async with world.db.unit_of_work() as session:
        connection = await received_invitation(session, sender_connection_id=uuid.uuid4(), body=body)
        if accepted:
            connection.status, connection.owner_id = ConnectionStatus.ACCEPTED, world.admin.user_id
            session.add(
                Publication(connection_id=connection.id, object="account", fields=["name"], peer_subscribed=True)
            )
        return str(connection.id)


async def r_invite_peer(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    body = {"peer_url": f"http://{marker().lower()}.example", "contact_email": "admin@peer.example"}
    return "admin", f"{API}/connect/connections", body | {"owner_id": str(world.admin.user_id)}


async def r_accept_peer(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    connection = await received_connection(world)
    body = {"owner_id": str(world.admin.user_id), "partner_id": str(world.partner_a)}
    return "admin", f"{API}/connect/connections/{connection}/accept", body


async def r_share(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    connection = await received_connection(world, accepted=True)
    account = await make_account(client, world)
    body = {"connection_ids": [connection], "records": [{"object": "account", "id": account.ids["id"]}]}
    return "admin", f"{API}/connect/shares", body


async def r_register_deal(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    connection = await received_connection(world, accepted=True)
    opportunity = await make_opportunity(client, world)
    body = {"connection_id": connection, "opportunity_id": opportunity.ids["id"], "program_id": str(uuid.uuid4())}
    return "admin", f"{API}/connect/deal-registrations", body


# Ids of records on another instance, which this one cannot know: the peer refuses an unknown one
# when the message arrives (the delivery's reason shows as the share's last_error).
REMOTE_IDS = {f"POST {API}/connect/deal-registrations": {"program_id"}}


async def r_user_patch(client: Client, world: World) -> tuple[str, str, dict[str, Any]]:
    reply = await client.get(f"{API}/users/{world.pa_user.user_id}", headers=world.admin.headers)
    body = {"expected_version": reply.json()["version"], "partner_id": str(world.partner_a)}
    return "admin", f"{API}/users/{world.pa_user.user_id}", body


RECIPES: dict[str, Recipe] = {
    f"PUT {API}/partners/{{partner_id}}/channel-managers": r_channel_managers,
    f"POST {API}/users": r_user,
    f"POST {API}/accounts": r_account,
    f"POST {API}/opportunities": r_opportunity,
    f"POST {API}/contacts": r_contact,
    f"POST {API}/leads": r_lead,
    f"PATCH {API}/leads/{{lead_id}}": r_lead_patch,
    f"POST {API}/campaigns/{{campaign_id}}/members": r_campaign_member,
    f"POST {API}/campaigns": r_campaign,
    f"PATCH {API}/campaigns/{{campaign_id}}": r_campaign_patch,
    f"POST {API}/deal-registrations/conflict-check": r_conflict_check,
    f"POST {API}/deal-registrations": r_registration,
    f"PATCH {API}/deal-registrations/{{registration_id}}": r_registration_patch,
    f"POST {API}/deal-registrations/{{registration_id}}/mark-duplicate": r_mark_duplicate,
    f"POST {API}/deal-registrations/{{registration_id}}/reject": r_reject,
    f"POST {API}/deal-registrations/{{registration_id}}/resubmit": r_resubmit,
    f"POST {DIST}/leads/auto-route": r_route_many,
    f"POST {DIST}/leads/{{lead_id}}/convert": r_convert,
    f"POST {DIST}/leads": r_distribution_lead,
    f"POST {DIST}/leads/{{lead_id}}/merge": r_merge,
    f"POST {DIST}/leads/{{lead_id}}/qualify": r_qualify,
    f"POST {DIST}/leads/{{lead_id}}/route": r_route,
    f"PUT {DIST}/partners/{{partner_id}}/certified-products": r_certified_products,
    f"POST {DIST}/groups": r_group,
    f"PATCH {DIST}/groups/{{group_id}}": r_group_patch,
    f"PUT {DIST}/groups/{{group_id}}/members": r_group_members,
    f"POST {DIST}/routing-rules": r_rule,
    f"PATCH {DIST}/routing-rules/{{rule_id}}": r_rule_patch,
    f"PUT {DIST}/routing-rules/order": r_rule_order,
    f"POST {DIST}/web-forms": r_web_form,
    f"PATCH {DIST}/web-forms/{{form_id}}": r_web_form_patch,
    f"POST {DIST}/referral-programs/{{program_id}}/invitations": r_invitation,
    f"POST {DIST}/referrals": r_referral,
    f"POST {API}/connect/connections": r_invite_peer,
    f"POST {API}/connect/connections/{{connection_id}}/accept": r_accept_peer,
    f"POST {API}/connect/shares": r_share,
    f"POST {API}/connect/deal-registrations": r_register_deal,
    f"PATCH {API}/users/{{user_id}}": r_user_patch,
}


# --- the walk ------------------------------------------------------------------------------------


def names(reply: httpx.Response, field: str) -> bool:
    """The problem names the field, or the list it is the first item of (`products` for
    `products[0].product_id`)."""
    named = {str(e.get("field")) for e in reply.json().get("errors") or []}
    return field in named or field.split("[0]", 1)[0] in named


async def send(
    client: Client, world: World, method: str, actor: str, path: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=getattr(world, actor).headers)


async def test_every_write_route_has_a_recipe(client: Client, world: World) -> None:
    operations = await write_operations(client)
    assert sorted(operations) == sorted(RECIPES)


async def test_an_unknown_id_in_any_write_body_is_a_404_or_422_naming_its_field(client: Client, world: World) -> None:
    failures: list[str] = []
    walked = 0
    for operation, fields in (await write_operations(client)).items():
        recipe = RECIPES.get(operation)
        if recipe is None:
            continue  # the test above names it
        method = operation.split(" ", 1)[0]
        for field in fields:
            if field in REMOTE_IDS.get(operation, ()):
                continue
            actor, path, body = await recipe(client, world)  # fresh records: an earlier try changes nothing
            if "target_kind" in body and field in TARGET_KINDS:  # the kind that reads this id, and its id alone
                others = {k: None for k in TARGET_KINDS if k in body} if method == "PATCH" else {}
                body = {k: v for k, v in body.items() if k not in TARGET_KINDS} | others
                body["target_kind"] = TARGET_KINDS[field]
            reply = await send(client, world, method, actor, path, with_unknown(body, field))
            walked += 1
            problem = reply.headers.get("content-type", "").startswith("application/problem+json")
            if reply.status_code not in (404, 422) or not problem or not names(reply, field):
                failures.append(f"{operation} {field}: {reply.status_code} {reply.text[:300]}")
        actor, path, body = await recipe(client, world)
        control = await send(client, world, method, actor, path, body)  # the valid body itself goes through
        if control.status_code >= 300:
            failures.append(f"{operation} (valid body): {control.status_code} {control.text[:300]}")
    assert walked >= 50
    assert not failures, "\n".join(failures)
