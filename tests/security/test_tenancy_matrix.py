"""No actor reaches a record it may not see: the role x route matrix, driven by the app's own routes.

For every resource in RESOURCES a record is made through the API (owned by partner A, or by the
vendor), then every operation on its id is tried by each of the eight actors of the `world`:

- the actors an operation allows get 2xx (so the matrix can fail: a wrong path or body shows up);
- everyone else is refused, never 2xx: 403 or 404 (someone who may see the record may also get 409
  or 422 for its state); and a refused write changes nothing the vendor admin can read about it;
- for outsiders (by default partner B's admin and user, and cm_b, the channel manager who does not
  manage A) the id must be indistinguishable from one that does not exist: the same status and the
  same body. So a 404 is the only answer where their role may use the route, and a 403 only comes
  from a role guard that refuses a random id just the same;
- no listing endpoint of the API (found from the app's routes, also filtered by partner A's id) nor
  a resource's `peeks` shows an outsider the record's ids or its unique name anywhere in the reply.

An operation that needs the record in some state (approve needs a submitted registration) names a
`setup` that makes one, afresh for each actor allowed to do it.

`test_every_id_route_is_in_the_matrix` fails when an API route taking a path parameter is not in
RESOURCES, so a new route cannot skip these checks: adding it is an `Op` line (and, for a new kind of
record, a `Resource` entry and a factory).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import update

from prm.crm.models import Lead
from tests.conftest import World
from tests.security.connect import (
    CONNECTIONS,
    make_accepted_connection,
    make_peer_publishing_connection,
    make_pending_share,
    make_published_connection,
    make_received_connection,
    make_sent_connection,
    make_subscribed_connection,
)
from tests.security.distribution import (
    DIST,
    make_application,
    make_certification,
    make_decision_for_a,
    make_duplicate_pair,
    make_group,
    make_import,
    make_invitation,
    make_lead_of_a,
    make_lead_program,
    make_new_lead,
    make_offer_to_a,
    make_queued_lead,
    make_referral,
    make_referral_program,
    make_rule,
    make_scoring_criterion,
    make_shark_tank_offer,
    make_web_form,
    web_lead_form,
)
from tests.security.factories import (
    API,
    DEALS,
    Client,
    Made,
    Make,
    Multipart,
    actor_headers,
    close_won_form,
    created,
    credit_factory,
    deal_details,
    make_account,
    make_assigned_lead,
    make_campaign_with_member,
    make_catalog,
    make_contact,
    make_gold_program,
    make_opportunity,
    make_outbox_message,
    make_partner,
    make_possible_duplicate,
    make_product,
    make_registration_with_extension,
    make_user,
    make_vendor_lead,
    make_webhook,
    make_webhook_with_delivery,
    marker,
    new_vendor_lead,
    register,
    registration_factory,
)

ACTORS = ("admin", "leader", "cm_a", "cm_b", "pa_admin", "pa_user", "pb_admin", "pb_user")
# Partner B's people and the channel manager who does not manage partner A.
B_SIDE = ("cm_b", "pb_admin", "pb_user")
NOT_VENDOR_ADMIN = tuple(a for a in ACTORS if a != "admin")
A_READERS = ("admin", "leader", "cm_a", "pa_admin", "pa_user")
A_WRITERS = ("admin", "cm_a", "pa_admin", "pa_user")
ADMIN = ("admin",)
STAFF = ("admin", "cm_a", "cm_b")
STAFF_OF_A = ("admin", "cm_a")
PEOPLE_OF_A = ("pa_admin", "pa_user")
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
PLACEHOLDER = re.compile(r"\{[^}]*\}")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Ctx:
    """What a request body is built from."""

    client: Client
    world: World
    resource: Resource
    made: Made

    async def record(self) -> dict[str, Any]:
        """The record as the vendor admin reads it now."""
        return await record_of(self.client, self.world, self.resource, self.made)


Body = Callable[[Ctx], Awaitable[Any]]


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # with {id} (and any other key of Made.ids) in place of the path parameters
    allowed: tuple[str, ...]  # the actors that must get 2xx
    body: Body | None = None
    # A record in the state this operation needs (e.g. a submitted registration to approve), made
    # afresh for the refused attempts and for each allowed actor; else the resource's one record.
    setup: Make | None = None

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass(frozen=True)
class Resource:
    name: str
    make: Make
    listing: str | None  # the list the record appears in (None: the API has none)
    listers: tuple[str, ...]  # find the record in `listing`
    ops: tuple[Op, ...]
    outsiders: tuple[str, ...] = B_SIDE
    readable_by_id: bool = True  # False: the vendor admin finds it in `listing` (no GET by id)
    item: str | None = None  # where the vendor admin reads the record; `listing`/{id} unless given
    # GET paths (ids from Made.ids) an outsider may well read, which must still not show the record.
    peeks: tuple[str, ...] = ()


# --- request bodies -----------------------------------------------------------------------------


def change(**changes: Any) -> Body:
    """A PATCH body: the version the caller read, and a change that leaves the unique name alone."""

    async def body(ctx: Ctx) -> dict[str, Any]:
        return {"expected_version": (await ctx.record())["version"], **changes}

    return body


async def keep_cm_a(ctx: Ctx) -> dict[str, Any]:
    return {"channel_manager_ids": [str(ctx.world.cm_a.user_id)]}


async def another_member(ctx: Ctx) -> dict[str, Any]:
    return {"lead_id": (await new_vendor_lead(ctx.client, ctx.world))["id"]}


async def member_responded(ctx: Ctx) -> dict[str, Any]:
    path = f"{API}/campaigns/{ctx.made.ids['id']}/members"
    members = (await ctx.client.get(path, headers=ctx.world.admin.headers)).json()["items"]
    member = next(m for m in members if m["id"] == ctx.made.ids["member"])
    status = "Sent" if member["status"] == "Responded" else "Responded"
    return {"expected_version": member["version"], "status": status}


async def resubmission(ctx: Ctx) -> dict[str, Any]:
    record = await ctx.record()
    return {**deal_details(record["customer_name"], "Pat Lee"), "products": record["products"]}


async def duplicate_of_original(ctx: Ctx) -> dict[str, Any]:
    version = (await ctx.record())["version"]
    return {"expected_version": version, "duplicate_of_id": ctx.made.ids["original"], "explanation": "Same deal."}


async def approve_extension(_: Ctx) -> dict[str, Any]:
    return {"approve": True}


async def proof_of_performance(ctx: Ctx) -> Multipart:
    return close_won_form((await ctx.record())["version"])


def weight(value: int) -> Body:
    async def body(_: Ctx) -> dict[str, Any]:
        return {"weight": value}

    return body


async def same_certifications(ctx: Ctx) -> dict[str, Any]:
    return {"product_ids": (await ctx.record())["product_ids"]}


async def only_partner_a(ctx: Ctx) -> dict[str, Any]:
    return {"partner_ids": [str(ctx.world.partner_a)]}


async def web_lead(ctx: Ctx) -> Multipart:
    return Multipart(data=web_lead_form(ctx.made.ids["key"]))


async def merge_duplicate(ctx: Ctx) -> dict[str, Any]:
    duplicate = ctx.made.ids["duplicate"]
    reply = await ctx.client.get(f"{DIST}/leads/{duplicate}", headers=ctx.world.admin.headers)
    version = (await ctx.record())["version"]
    return {"expected_version": version, "duplicate_id": duplicate, "duplicate_version": reply.json()["version"]}


async def to_internal_rep(ctx: Ctx) -> dict[str, Any]:
    version = (await ctx.record())["version"]
    return {"expected_version": version, "target_kind": "internal_rep", "user_id": str(ctx.world.cm_a.user_id)}


async def no_capacity(_: Ctx) -> dict[str, Any]:
    return {"reason": "no_capacity"}


async def invite_a(ctx: Ctx) -> dict[str, Any]:
    return {"partner_id": str(ctx.world.partner_a)}


async def empty(_: Ctx) -> dict[str, Any]:
    return {}


async def publish_accounts(_: Ctx) -> dict[str, Any]:
    return {"object": "account"}


async def make_lone_contact(client: Client, world: World) -> Made:
    """Partner A's contact that nothing else refers to (so it can be deleted)."""
    account = await make_account(client, world)
    name = marker()
    body = {"account_id": account.ids["id"], "first_name": "Pat", "last_name": name}
    contact = await created(client, world, "pa_user", f"{API}/contacts", body)
    return Made(ids={"id": contact["id"], "account": account.ids["id"]}, hidden={contact["id"], name})


async def make_lone_assigned_lead(client: Client, world: World) -> Made:
    """A lead assigned to partner A that nothing else refers to (so it can be deleted)."""
    made = await make_vendor_lead(client, world)
    async with world.db.unit_of_work() as session:
        await session.execute(
            update(Lead).where(Lead.id == uuid.UUID(made.ids["id"])).values(partner_id=world.partner_a)
        )
    return made


def crm_resource(
    name: str,
    make: Make,
    write: Body,
    *,
    readers: tuple[str, ...] = A_READERS,
    deletable: Make | None = None,
    **options: Any,
) -> Resource:
    """A partner-owned CRM record: partner A's people, cm_a, vendor admin and leadership see it.
    Only a vendor admin deletes one (`deletable` makes one nothing else refers to)."""
    path = f"{API}/{name}"
    writers = tuple(a for a in readers if a != "leader")
    return Resource(
        name=options.pop("label", name),
        make=make,
        listing=path,
        listers=readers,
        ops=(
            Op("GET", f"{path}/{{id}}", readers),
            Op("GET", f"{path}/{{id}}/history", readers),
            Op("PATCH", f"{path}/{{id}}", writers, write),
            Op("DELETE", f"{path}/{{id}}", ADMIN, setup=deletable or make),
            Op("GET", f"{API}/connect/records/{name}/{{id}}/sharing", readers),
        ),
        **options,
    )


MEMBERS = f"{API}/campaigns/{{campaign}}/members"
VENDOR_STAFF = ("admin", "leader", "cm_a", "cm_b")
PARTNER_PEOPLE = ("pa_admin", "pa_user", "pb_admin", "pb_user")

RESOURCES: tuple[Resource, ...] = (
    Resource(
        name="partners",
        make=make_partner,
        listing=f"{API}/partners",
        listers=A_READERS,
        ops=(
            Op("GET", f"{API}/partners/{{id}}", A_READERS),
            Op("GET", f"{API}/partners/{{id}}/history", A_READERS),
            Op("GET", f"{API}/partners/{{id}}/channel-managers", ("admin", "leader", "cm_a")),
            Op("GET", f"{API}/scorecards/partners/{{id}}", A_READERS),
            Op("PATCH", f"{API}/partners/{{id}}", ADMIN, change(region="West")),
            Op("PUT", f"{API}/partners/{{id}}/channel-managers", ADMIN, keep_cm_a),
        ),
    ),
    Resource(
        name="users",
        make=make_user,
        listing=f"{API}/users",
        listers=A_READERS,
        ops=(
            Op("GET", f"{API}/users/{{id}}", A_READERS),
            Op("GET", f"{API}/users/{{id}}/history", A_READERS),
            # A partner user changes only their own profile; a channel manager manages no users.
            Op("PATCH", f"{API}/users/{{id}}", ("admin", "pa_admin"), change(name="Renamed")),
            Op("POST", f"{API}/users/{{id}}/sign-out", ("admin", "pa_admin")),
        ),
    ),
    crm_resource("accounts", make_account, change(industry="Retail")),
    crm_resource("contacts", make_contact, change(title="CTO"), peeks=(MEMBERS,), deletable=make_lone_contact),
    crm_resource("opportunities", make_opportunity, change(amount_minor=600_000)),
    crm_resource(
        "leads",
        make_vendor_lead,
        change(title="Buyer"),
        label="leads of the vendor",
        readers=VENDOR_STAFF,
        outsiders=PARTNER_PEOPLE,
    ),
    crm_resource(
        "leads",
        make_assigned_lead,
        change(title="Buyer"),
        label="leads of partner A",
        peeks=(MEMBERS,),
        deletable=make_lone_assigned_lead,
    ),
    Resource(
        name="campaigns",
        make=make_campaign_with_member,
        listing=f"{API}/campaigns",
        listers=VENDOR_STAFF,
        # The vendor's marketing: partners are refused by role, whatever the id.
        outsiders=PARTNER_PEOPLE,
        ops=(
            Op("GET", f"{API}/campaigns/{{id}}", VENDOR_STAFF),
            Op("GET", f"{API}/campaigns/{{id}}/history", VENDOR_STAFF),
            Op("GET", f"{API}/campaigns/{{id}}/members", VENDOR_STAFF),
            Op("PATCH", f"{API}/campaigns/{{id}}", STAFF, change(type="webinar")),
            Op("POST", f"{API}/campaigns/{{id}}/members", STAFF, another_member),
            Op("PATCH", f"{API}/campaigns/{{id}}/members/{{member}}", STAFF, member_responded),
        ),
    ),
    Resource(
        name="deal programs",
        make=make_gold_program,
        listing=f"{API}/deal-programs",
        listers=(*VENDOR_STAFF, *PEOPLE_OF_A),
        # Staff see every program; partner B is silver, and this program is for gold partners only.
        outsiders=("pb_admin", "pb_user"),
        ops=(
            Op("GET", f"{API}/deal-programs/{{id}}", (*VENDOR_STAFF, *PEOPLE_OF_A)),
            Op("GET", f"{API}/deal-programs/{{id}}/history", (*VENDOR_STAFF, *PEOPLE_OF_A)),
            Op("PATCH", f"{API}/deal-programs/{{id}}", ADMIN, change(description="Now with more margin")),
            # The rules are the vendor's: channel managers read them, vendor admins set them.
            Op("GET", f"{API}/deal-programs/{{id}}/approval-rules", STAFF),
            Op(
                "PUT",
                f"{API}/deal-programs/{{id}}/approval-rules",
                ADMIN,
                change(second_approval={"above_minor": 1_000}),
            ),
        ),
    ),
    Resource(
        name="deal registrations",
        make=registration_factory("submitted"),
        listing=DEALS,
        listers=A_READERS,
        ops=(
            Op("GET", f"{DEALS}/{{id}}", A_READERS),
            Op("GET", f"{DEALS}/{{id}}/history", A_READERS),
            Op("GET", f"{DEALS}/{{id}}/extensions", A_READERS),
            Op("GET", f"{DEALS}/{{id}}/proof/document", A_READERS, setup=registration_factory("won")),
            Op("PATCH", f"{DEALS}/{{id}}", PEOPLE_OF_A, change(contact_title="Buyer"), registration_factory("draft")),
            Op("POST", f"{DEALS}/{{id}}/submit", PEOPLE_OF_A, change(), registration_factory("draft")),
            Op(
                "POST",
                f"{DEALS}/{{id}}/cancel",
                PEOPLE_OF_A,
                change(reason="Gone quiet"),
                registration_factory("draft"),
            ),
            Op("POST", f"{DEALS}/{{id}}/resubmit", PEOPLE_OF_A, resubmission, registration_factory("rejected")),
            Op("POST", f"{DEALS}/{{id}}/approve", STAFF_OF_A, change(), registration_factory("submitted")),
            Op(
                "POST",
                f"{DEALS}/{{id}}/reject",
                STAFF_OF_A,
                change(reason="incomplete", explanation="Needs the contact."),
                registration_factory("submitted"),
            ),
            Op("POST", f"{DEALS}/{{id}}/mark-duplicate", STAFF_OF_A, duplicate_of_original, make_possible_duplicate),
            Op(
                "POST",
                f"{DEALS}/{{id}}/extensions",
                PEOPLE_OF_A,
                change(reason="The board meets next quarter"),
                registration_factory("approved"),
            ),
            Op(
                "POST",
                f"{DEALS}/{{id}}/extensions/{{extension}}/decision",
                STAFF_OF_A,
                approve_extension,
                make_registration_with_extension,
            ),
            Op(
                "POST", f"{DEALS}/{{id}}/close-won", PEOPLE_OF_A, proof_of_performance, registration_factory("approved")
            ),
            Op(
                "POST",
                f"{DEALS}/{{id}}/close-lost",
                PEOPLE_OF_A,
                change(reason="Budget cut"),
                registration_factory("approved"),
            ),
            Op("POST", f"{DEALS}/{{id}}/proof/decision", STAFF_OF_A, change(approve=True), registration_factory("won")),
        ),
    ),
    Resource(
        name="credits",
        make=credit_factory("pending"),
        listing=f"{API}/credits",
        listers=A_READERS,
        ops=(
            Op("GET", f"{API}/credits/{{id}}", A_READERS),
            Op("GET", f"{API}/credits/{{id}}/history", A_READERS),
            Op("POST", f"{API}/credits/{{id}}/approve", ADMIN, change(), credit_factory("pending")),
            Op("POST", f"{API}/credits/{{id}}/pay", ADMIN, change(), credit_factory("approved")),
        ),
    ),
    Resource(
        name="scoring criteria",
        make=make_scoring_criterion,
        listing=f"{DIST}/scoring-criteria",
        listers=VENDOR_STAFF,
        outsiders=PARTNER_PEOPLE,
        readable_by_id=False,
        ops=(Op("PATCH", f"{DIST}/scoring-criteria/{{id}}", ADMIN, change(points=5)),),
    ),
    Resource(
        name="lead programs",
        make=make_lead_program,
        listing=f"{DIST}/programs",
        listers=VENDOR_STAFF,
        outsiders=PARTNER_PEOPLE,
        ops=(
            Op("GET", f"{DIST}/programs/{{id}}", VENDOR_STAFF),
            Op("GET", f"{DIST}/programs/{{id}}/history", VENDOR_STAFF),
            Op("GET", f"{DIST}/programs/{{id}}/members", VENDOR_STAFF),
            Op("PATCH", f"{DIST}/programs/{{id}}", ADMIN, change(description="Hot leads first")),
            Op("PUT", f"{DIST}/programs/{{id}}/members/{{partner}}", ADMIN, weight(200)),
            Op("DELETE", f"{DIST}/programs/{{id}}/members/{{partner}}", ADMIN, setup=make_lead_program),
        ),
    ),
    Resource(
        name="certified products",
        make=make_certification,
        listing=None,
        listers=(),
        item=f"{DIST}/partners/{{id}}/certified-products",
        ops=(
            # Partner A's certifications: what its channel manager sees, not the other one.
            Op("GET", f"{DIST}/partners/{{id}}/certified-products", ("admin", "leader", "cm_a")),
            Op("PUT", f"{DIST}/partners/{{id}}/certified-products", ADMIN, same_certifications),
        ),
    ),
    Resource(
        name="shark-tank groups",
        make=make_group,
        listing=f"{DIST}/groups",
        listers=VENDOR_STAFF,
        outsiders=PARTNER_PEOPLE,
        ops=(
            Op("GET", f"{DIST}/groups/{{id}}", VENDOR_STAFF),
            Op("GET", f"{DIST}/groups/{{id}}/history", VENDOR_STAFF),
            Op("PATCH", f"{DIST}/groups/{{id}}", ADMIN, change(max_open_claims_per_partner=5)),
            Op("PUT", f"{DIST}/groups/{{id}}/members", ADMIN, only_partner_a),
        ),
    ),
    Resource(
        name="routing rules",
        make=make_rule,
        listing=f"{DIST}/routing-rules",
        listers=VENDOR_STAFF,
        outsiders=PARTNER_PEOPLE,
        ops=(
            Op("GET", f"{DIST}/routing-rules/{{id}}", VENDOR_STAFF),
            Op("GET", f"{DIST}/routing-rules/{{id}}/history", VENDOR_STAFF),
            Op("PATCH", f"{DIST}/routing-rules/{{id}}", ADMIN, change(regions=["Texas"])),
        ),
    ),
    Resource(
        name="web-to-lead forms",
        make=make_web_form,
        listing=f"{DIST}/web-forms",
        listers=STAFF,
        outsiders=PARTNER_PEOPLE,
        ops=(
            Op("GET", f"{DIST}/web-forms/{{id}}", STAFF),
            Op("GET", f"{DIST}/web-forms/{{id}}/history", STAFF),
            Op("PATCH", f"{DIST}/web-forms/{{id}}", STAFF, change(auto_response_subject="Thanks!")),
            # The public form post: no token needed, anyone may send it.
            Op("POST", f"{DIST}/web-to-lead/{{key}}", ACTORS, web_lead),
        ),
    ),
    Resource(
        name="lead imports",
        make=make_import,
        listing=None,
        listers=(),
        outsiders=PARTNER_PEOPLE,
        item=f"{DIST}/imports/{{id}}",
        ops=(Op("GET", f"{DIST}/imports/{{id}}", STAFF),),
    ),
    Resource(
        name="queued leads",
        make=make_queued_lead,
        listing=f"{DIST}/leads",
        listers=VENDOR_STAFF,
        # Not routed yet: the vendor's alone.
        outsiders=PARTNER_PEOPLE,
        ops=(
            Op("GET", f"{DIST}/leads/{{id}}", VENDOR_STAFF),
            Op("GET", f"{DIST}/leads/{{id}}/history", VENDOR_STAFF),
            Op("GET", f"{DIST}/leads/{{id}}/decisions", VENDOR_STAFF),
            Op("POST", f"{DIST}/leads/{{id}}/qualify", STAFF, change(stage="marketing_qualified"), make_new_lead),
            Op("POST", f"{DIST}/leads/{{id}}/disqualify", STAFF, change(reason="spam"), make_queued_lead),
            Op("POST", f"{DIST}/leads/{{id}}/merge", STAFF, merge_duplicate, make_duplicate_pair),
            Op("POST", f"{DIST}/leads/{{id}}/route", STAFF, to_internal_rep, make_queued_lead),
            Op("POST", f"{DIST}/leads/{{id}}/auto-route", STAFF, change(), make_queued_lead),
        ),
    ),
    Resource(
        name="leads partner A accepted",
        make=make_lead_of_a,
        listing=None,
        listers=(),
        item=f"{DIST}/leads/{{id}}",
        ops=(
            Op("GET", f"{DIST}/leads/{{id}}", A_READERS),
            Op("GET", f"{DIST}/leads/{{id}}/history", A_READERS),
            Op("POST", f"{DIST}/leads/{{id}}/convert", PEOPLE_OF_A, change(currency="USD"), make_lead_of_a),
        ),
    ),
    Resource(
        name="lead offers",
        make=make_offer_to_a,
        listing=f"{DIST}/offers",
        listers=A_READERS,
        ops=(
            Op("GET", f"{DIST}/offers/{{id}}", A_READERS),
            Op("POST", f"{DIST}/offers/{{id}}/accept", PEOPLE_OF_A, setup=make_offer_to_a),
            Op("POST", f"{DIST}/offers/{{id}}/decline", PEOPLE_OF_A, no_capacity, make_offer_to_a),
            Op("POST", f"{DIST}/offers/{{id}}/claim", PEOPLE_OF_A, setup=make_shark_tank_offer),
        ),
    ),
    Resource(
        name="routing decisions",
        make=make_decision_for_a,
        listing=None,
        listers=(),
        ops=(
            Op("GET", f"{DIST}/decisions/{{id}}", ("admin", "leader", "cm_a")),
            Op("GET", f"{DIST}/decisions/{{id}}/replay", ("admin", "leader", "cm_a")),
        ),
        item=f"{DIST}/decisions/{{id}}",
    ),
    Resource(
        name="referral programs",
        make=make_referral_program,
        listing=f"{DIST}/referral-programs",
        listers=ACTORS,
        # Active programs are open to every partner: nobody is an outsider.
        outsiders=(),
        ops=(
            Op("GET", f"{DIST}/referral-programs/{{id}}", ACTORS),
            Op("GET", f"{DIST}/referral-programs/{{id}}/history", ACTORS),
            Op("PATCH", f"{DIST}/referral-programs/{{id}}", ADMIN, change(terms="New terms")),
            Op("POST", f"{DIST}/referral-programs/{{id}}/invitations", STAFF_OF_A, invite_a, make_referral_program),
            Op("POST", f"{DIST}/referral-programs/{{id}}/applications", PARTNER_PEOPLE, empty, make_referral_program),
        ),
    ),
    Resource(
        name="referral memberships",
        make=make_application,
        listing=f"{DIST}/referral-memberships",
        listers=A_READERS,
        readable_by_id=False,
        ops=(
            Op(
                "POST",
                f"{DIST}/referral-memberships/{{id}}/decision",
                STAFF_OF_A,
                change(approve=True),
                make_application,
            ),
            Op(
                "POST", f"{DIST}/referral-memberships/{{id}}/answer", PEOPLE_OF_A, change(approve=True), make_invitation
            ),
        ),
    ),
    Resource(
        name="referrals",
        make=make_referral,
        listing=f"{DIST}/referrals",
        listers=A_READERS,
        ops=(
            Op("GET", f"{DIST}/referrals/{{id}}", A_READERS),
            Op("GET", f"{DIST}/referrals/{{id}}/history", A_READERS),
            Op("POST", f"{DIST}/referrals/{{id}}/decision", STAFF_OF_A, change(accept=True), make_referral),
        ),
    ),
    Resource(
        name="products",
        make=make_product,
        listing=f"{API}/products",
        listers=ACTORS,
        # The price list is the same for everyone; only the vendor admin changes it.
        outsiders=(),
        ops=(
            Op("GET", f"{API}/products/{{id}}", ACTORS),
            Op("GET", f"{API}/products/{{id}}/history", ACTORS),
            Op("PATCH", f"{API}/products/{{id}}", ADMIN, change(family="Hardware")),
        ),
    ),
    Resource(
        name="outbox",
        make=make_outbox_message,
        listing=f"{API}/outbox",
        listers=ADMIN,
        outsiders=NOT_VENDOR_ADMIN,
        ops=(
            Op("GET", f"{API}/outbox/{{id}}", ADMIN),
            Op("POST", f"{API}/outbox/{{id}}/retry", ADMIN),
        ),
    ),
    Resource(
        name="webhooks",
        make=make_webhook_with_delivery,
        listing=f"{API}/webhooks",
        listers=ADMIN,
        outsiders=NOT_VENDOR_ADMIN,
        readable_by_id=False,
        ops=(
            Op("PATCH", f"{API}/webhooks/{{id}}", ADMIN, change(description="rotated")),
            Op("DELETE", f"{API}/webhooks/{{id}}", ADMIN, setup=make_webhook),
            Op("GET", f"{API}/webhooks/{{id}}/history", ADMIN),
            Op("GET", f"{API}/webhooks/{{id}}/deliveries", ADMIN),
            Op("POST", f"{API}/webhooks/{{id}}/deliveries/{{delivery}}/replay", ADMIN),
            Op("POST", f"{API}/webhooks/{{id}}/dead-letters/replay", ADMIN),
        ),
    ),
    Resource(
        name="connect connections",
        make=make_accepted_connection,
        listing=CONNECTIONS,
        listers=ADMIN,
        outsiders=NOT_VENDOR_ADMIN,
        ops=(
            Op("GET", f"{CONNECTIONS}/{{id}}", ADMIN),
            Op("POST", f"{CONNECTIONS}/{{id}}/accept", ADMIN, empty, make_received_connection),
            Op("POST", f"{CONNECTIONS}/{{id}}/decline", ADMIN, setup=make_received_connection),
            Op("POST", f"{CONNECTIONS}/{{id}}/cancel", ADMIN, setup=make_sent_connection),
            Op("POST", f"{CONNECTIONS}/{{id}}/resend", ADMIN, setup=make_sent_connection),
            Op("POST", f"{CONNECTIONS}/{{id}}/deactivate", ADMIN, setup=make_accepted_connection),
            Op("GET", f"{CONNECTIONS}/{{id}}/publications", ADMIN),
            Op("PUT", f"{CONNECTIONS}/{{id}}/publications", ADMIN, publish_accounts),
            Op("DELETE", f"{CONNECTIONS}/{{id}}/publications/{{object}}", ADMIN, setup=make_published_connection),
            Op("GET", f"{CONNECTIONS}/{{id}}/subscriptions", ADMIN),
            Op("PUT", f"{CONNECTIONS}/{{id}}/subscriptions/{{object}}", ADMIN, empty, make_peer_publishing_connection),
            Op("DELETE", f"{CONNECTIONS}/{{id}}/subscriptions/{{object}}", ADMIN, setup=make_subscribed_connection),
            Op("GET", f"{CONNECTIONS}/{{id}}/shares", ADMIN),
            Op("GET", f"{CONNECTIONS}/{{id}}/history", ADMIN),
        ),
    ),
    Resource(
        name="connect shares",
        make=make_pending_share,
        listing=None,
        listers=(),
        outsiders=NOT_VENDOR_ADMIN,
        item=f"{CONNECTIONS}/{{connection}}",
        ops=(
            Op("POST", f"{API}/connect/shares/{{id}}/accept", ADMIN, setup=make_pending_share),
            Op("POST", f"{API}/connect/shares/{{id}}/stop", ADMIN, setup=make_pending_share),
        ),
        peeks=(f"{CONNECTIONS}/{{connection}}/shares",),
    ),
)


# --- the route census: every route with an id must be in RESOURCES ----------------------------------


def normalized(path: str) -> str:
    return PLACEHOLDER.sub("{}", path)


def id_operations(app: Litestar) -> set[tuple[str, str]]:
    """(method, path) of every API route that takes a path parameter."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(f"{API}/") and route.path_parameters:
            found |= {(method, normalized(route.path)) for method in route.methods - {"OPTIONS", "HEAD"}}
    return found


def listing_paths(app: Litestar) -> list[str]:
    """Every API route an actor can GET without naming an id: lists, `me`, reports."""
    return sorted(
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute)
        and route.path.startswith(f"{API}/")
        and not route.path_parameters
        and "GET" in route.methods
    )


def test_every_id_route_is_in_the_matrix(app: Litestar) -> None:
    covered = {(op.method, normalized(op.path)) for resource in RESOURCES for op in resource.ops}
    routes = id_operations(app)
    missing = sorted(routes - covered)
    assert not missing, f"routes taking an id that the tenancy matrix does not cover (add them to RESOURCES): {missing}"
    stale = sorted(covered - routes)
    assert not stale, f"matrix entries for routes the app does not have: {stale}"


# --- the matrix ---------------------------------------------------------------------------------


def same_shape(reply: httpx.Response) -> tuple[int, str, str]:
    """Status, content type and body with every id blanked: what an outsider can learn from a reply."""
    content_type = reply.headers.get("content-type", "")
    return reply.status_code, content_type, UUID_TEXT.sub("<id>", reply.text)


def items_of(reply: httpx.Response) -> list[dict[str, Any]]:
    """The records of a list reply: a page's items, or a plain list."""
    body = reply.json()
    items: list[dict[str, Any]] = body if isinstance(body, list) else body["items"]
    return items


async def record_of(client: Client, world: World, resource: Resource, made: Made) -> dict[str, Any]:
    if resource.readable_by_id:
        item = resource.item or f"{resource.listing}/{{id}}"
        reply = await client.get(item.format(**made.ids), headers=world.admin.headers)
        assert reply.status_code == 200, reply.text
        found: dict[str, Any] = reply.json()
        return found
    assert resource.listing is not None
    reply = await client.get(resource.listing, params={"limit": 200}, headers=world.admin.headers)
    return next(item for item in items_of(reply) if item["id"] == made.ids["id"])


async def snapshot(client: Client, world: World, resource: Resource, made: Made) -> list[Any]:
    """Everything the vendor admin can read about the record (and its list): a refused write changes none of it."""
    reads = [op for op in resource.ops if op.method == "GET" and "admin" in op.allowed and op.setup is None]
    paths = [op.path.format(**made.ids) for op in reads]
    if resource.listing is not None:
        paths.append(resource.listing)
    replies = [await client.get(path, params={"limit": 200}, headers=world.admin.headers) for path in paths]
    return [(path, reply.status_code, reply.json()) for path, reply in zip(paths, replies, strict=True)]


async def attempt(client: Client, world: World, actor: str, op: Op, ids: dict[str, str], body: Any) -> httpx.Response:
    path, headers = op.path.format(**ids), actor_headers(world, actor)
    if isinstance(body, Multipart):
        files = body.files or None
        return await client.request(op.method, path, data=body.data, files=files, headers=headers)
    return await client.request(op.method, path, json=body, headers=headers)


async def check_refused(
    client: Client, world: World, resource: Resource, made: Made, op: Op, actor: str, body: Any
) -> None:
    reply = await attempt(client, world, actor, op, made.ids, body)
    where = (resource.name, op.method, op.path, actor)
    # Someone who may see the record can be refused for its state or a rule (409, 422) too.
    refusals = (403, 404) if actor in resource.outsiders else (403, 404, 409, 422)
    assert reply.status_code in refusals, (*where, reply.status_code, reply.text)
    if actor in resource.outsiders:
        nowhere = {key: str(uuid.uuid4()) for key in made.ids}
        probe = await attempt(client, world, actor, op, nowhere, body)
        assert same_shape(reply) == same_shape(probe), (*where, "the reply tells the id exists", reply.text)


async def check_listings_hide(client: Client, world: World, app: Litestar, resource: Resource, made: Made) -> None:
    """Lists answer 200 or 403 (role), peeks also 404; none shows an outsider the hidden strings."""
    paths = dict.fromkeys(listing_paths(app), (200, 403))
    paths |= {peek.format(**made.ids): (200, 403, 404) for peek in resource.peeks}
    if not made.hidden:
        return
    for actor in resource.outsiders:
        for path, statuses in paths.items():
            # Asking for partner A's rows by filter must not widen what the caller sees either.
            for params in ({"limit": 200}, {"limit": 200, "partner_id": str(world.partner_a)}):
                reply = await client.get(path, params=params, headers=actor_headers(world, actor))
                # A filter naming a partner the caller may not see may also be a 404 (as an unknown one is).
                allowed = statuses if "partner_id" not in params else (*statuses, 404)
                assert reply.status_code in allowed, (path, actor, reply.text)
                leaked = {text for text in made.hidden if text in reply.text}
                assert not leaked, (resource.name, path, actor, leaked)
                if reply.status_code == 403:
                    break  # refused by role: the filter cannot change that


async def check_listers_see_it(client: Client, world: World, resource: Resource, made: Made) -> None:
    if resource.listing is None:
        return
    for actor in resource.listers:
        reply = await client.get(resource.listing, params={"limit": 200}, headers=actor_headers(world, actor))
        assert reply.status_code == 200, (resource.name, actor, reply.text)
        assert made.ids["id"] in {item["id"] for item in items_of(reply)}, (resource.name, actor)


async def check_operation(client: Client, world: World, resource: Resource, op: Op, made: Made) -> None:
    """Everyone the operation does not allow is refused and changes nothing; its readers read."""
    target = await op.setup(client, world) if op.setup else made
    body = await op.body(Ctx(client, world, resource, target)) if op.body else None
    before = await snapshot(client, world, resource, target)
    for actor in ACTORS:
        if actor not in op.allowed:
            await check_refused(client, world, resource, target, op, actor, body)
        elif not op.writes:
            reply = await attempt(client, world, actor, op, target.ids, body)
            assert reply.status_code == 200, (resource.name, op.path, actor, reply.text)
    after = await snapshot(client, world, resource, target)
    assert after == before, f"a refused {op.method} {op.path} changed {resource.name}"


async def check_allowed_writes(client: Client, world: World, resource: Resource, op: Op, made: Made) -> None:
    """The writes an operation allows do succeed (so the refusals were not about a bad body)."""
    for actor in op.allowed:
        target = await op.setup(client, world) if op.setup else made
        body = await op.body(Ctx(client, world, resource, target)) if op.body else None
        reply = await attempt(client, world, actor, op, target.ids, body)
        assert 200 <= reply.status_code < 300, (resource.name, op.method, op.path, actor, reply.text)


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.name)
async def test_no_actor_reaches_what_it_may_not(
    client: Client, world: World, app: Litestar, resource: Resource
) -> None:
    made = await resource.make(client, world)
    for op in resource.ops:
        await check_operation(client, world, resource, op, made)
    await check_listings_hide(client, world, app, resource, made)
    await check_listers_see_it(client, world, resource, made)
    for op in resource.ops:
        if op.writes:
            await check_allowed_writes(client, world, resource, op, made)


# --- ids of others in request bodies: creating something on A's record is refused like a missing id ---


@dataclass(frozen=True)
class Reference:
    name: str
    make: Make
    path: str
    body: Callable[[str], dict[str, Any]]  # a create body naming the given id of A's record


REFERENCES: tuple[Reference, ...] = (
    Reference(
        "contact on A's account",
        make_account,
        f"{API}/contacts",
        lambda account: {"account_id": account, "first_name": "Eve", "last_name": "Intruder"},
    ),
    Reference(
        "opportunity on A's account",
        make_account,
        f"{API}/opportunities",
        lambda account: {"name": "Poach", "account_id": account, "amount_minor": 1, "currency": "USD"},
    ),
    Reference("account for partner A", make_partner, f"{API}/accounts", lambda p: {"name": "Plant", "partner_id": p}),
)


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda r: r.name)
async def test_naming_a_record_of_others_in_a_body_is_refused(
    client: Client, world: World, reference: Reference
) -> None:
    """Outsiders get the answer a missing id gets, and nothing is created; the owner succeeds."""
    target = (await reference.make(client, world)).ids["id"]
    listed_before = (await client.get(reference.path, params={"limit": 200}, headers=world.admin.headers)).json()
    for actor in B_SIDE:
        headers = actor_headers(world, actor)
        reply = await client.post(reference.path, json=reference.body(target), headers=headers)
        assert reply.status_code in (403, 404, 422), (reference.name, actor, reply.text)
        probe = await client.post(reference.path, json=reference.body(str(uuid.uuid4())), headers=headers)
        assert same_shape(reply) == same_shape(probe), (reference.name, actor, reply.text, probe.text)
    listed_after = (await client.get(reference.path, params={"limit": 200}, headers=world.admin.headers)).json()
    assert listed_after == listed_before
    owner = await client.post(reference.path, json=reference.body(target), headers=world.pa_user.headers)
    assert owner.status_code == 201, owner.text


# --- deal registration conflicts: partner B learns that one exists, never whose ---------------------


async def test_a_conflict_tells_the_other_partner_only_its_kind(client: Client, world: World) -> None:
    catalog = await make_catalog(client, world)
    ours = await register(client, world, "pa_user", "Umbrella Corporation", catalog=catalog)
    hidden = {ours["id"], ours["number"], ours["contact_name"], "Acme Resellers", str(world.partner_a)}
    theirs = await register(client, world, "pb_user", "UMBRELLA corporation", catalog=catalog)
    check = {"customer_name": "Umbrella Corporation", "products": [{"product_id": catalog[1]}]}
    for actor in ("pb_admin", "pb_user"):
        headers = actor_headers(world, actor)
        replies = [
            await client.get(f"{DEALS}/{theirs['id']}", headers=headers),
            await client.get(DEALS, params={"limit": 200}, headers=headers),
            await client.post(f"{DEALS}/conflict-check", json=check, headers=headers),
        ]
        for reply in replies:
            assert reply.status_code == 200, reply.text
            assert not {text for text in hidden if text in reply.text}, (actor, reply.request.url, reply.text)
        assert replies[0].json()["conflict_hints"], "partner B is told that its deal may conflict"
        assert replies[2].json()["possible_conflict"] is True
    # Staff see the conflict in full (so the one above was real, and the test can fail).
    seen = await client.get(f"{DEALS}/{theirs['id']}", headers=world.admin.headers)
    assert ours["id"] in {c["other_registration_id"] for c in seen.json()["conflicts"]}
