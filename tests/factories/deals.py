"""Deal registrations, their programs and credits, made through the HTTP API as users would.

`Deals` holds one program and its products; each factory takes a registration there one step
at a time as partner A's seller (`pa_user`) and its channel manager (`cm_a`) would, with
sensible defaults and keyword overrides of the registration's body. Every step asserts its
reply, so a factory that cannot reach its state fails where it stopped.

    deals = await make_deals(client, app, world, clock, protection_days=30)
    registration = await deals.approved(estimated_amount_minor=20_000_00)
    reply = await deals.act(registration, "close-lost", reason="Budget cut")
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from litestar import Litestar

from prm.core.clock import ManualClock

if TYPE_CHECKING:  # the root conftest may import these factories
    from tests.conftest import Actor, World

API = "/api/v1"
DEALS = f"{API}/deal-registrations"
PROGRAMS = f"{API}/deal-programs"
CREDITS = f"{API}/credits"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
Json = dict[str, Any]


def expect(reply: httpx.Response, *statuses: int) -> Json:
    """The reply's JSON body, once its status is one of `statuses`."""
    assert reply.status_code in statuses, (reply.request.method, reply.request.url.path, reply.text)
    body: Json = reply.json()
    return body


async def make_products(client: httpx.AsyncClient, admin: Actor, *skus: str) -> list[str]:
    ids = []
    for sku in skus or ("FW-100",):
        body = {"sku": sku, "name": sku, "list_price_minor": 500_00, "currency": "USD"}
        ids.append(expect(await client.post(f"{API}/products", json=body, headers=admin.headers), 201)["id"])
    return ids


async def make_program(client: httpx.AsyncClient, admin: Actor, **overrides: Any) -> Json:
    """A program open to every tier, 5 % margin in USD, the default clocks, unless overridden."""
    body: Json = {"name": f"Deal program {uuid.uuid4().hex[:8]}", "margin_bps": 500, "currency": "USD"}
    body.update(overrides)
    return expect(await client.post(PROGRAMS, json=body, headers=admin.headers), 201)


async def update_program(client: httpx.AsyncClient, admin: Actor, program: Json, **changes: Any) -> Json:
    body = {"expected_version": program["version"], **changes}
    return expect(await client.patch(f"{PROGRAMS}/{program['id']}", json=body, headers=admin.headers), 200)


@dataclass
class Deals:
    client: httpx.AsyncClient
    app: Litestar
    world: World
    clock: ManualClock
    program: Json
    product_ids: list[str]

    # -- programs ---------------------------------------------------------------------------

    async def with_program(self, **overrides: Any) -> Deals:
        """The same products under a new program with these terms."""
        program = await make_program(self.client, self.world.admin, **overrides)
        return replace(self, program=program)

    async def change_program(self, **changes: Any) -> Json:
        """The vendor admin changes the program (its current version read first)."""
        current = expect(
            await self.client.get(f"{PROGRAMS}/{self.program['id']}", headers=self.world.admin.headers), 200
        )
        self.program = await update_program(self.client, self.world.admin, current, **changes)
        return self.program

    # -- registrations ----------------------------------------------------------------------

    def details(self, **overrides: Any) -> Json:
        """What a partner tells about the deal (the body of a resubmission)."""
        today: date = self.clock.now().date()
        body: Json = {
            "customer_name": "Umbrella Corporation",
            "customer_website": "https://umbrella.example",
            "customer_country": "US",
            "contact_name": "Albert Wesker",
            "contact_email": "wesker@umbrella.example",
            "products": [{"product_id": self.product_ids[0], "quantity": 20}],
            "estimated_amount_minor": 48_000_00,
            "currency": "USD",
            "current_situation": "Replacing an end-of-life firewall fleet",
            "expected_close_date": (today + timedelta(days=120)).isoformat(),
        }
        body.update(overrides)
        return body

    def body(self, *, submit: bool = True, **overrides: Any) -> Json:
        return {"program_id": self.program["id"], "submit": submit, **self.details(**overrides)}

    async def register(self, *, submit: bool = True, seller: Actor | None = None, **overrides: Any) -> httpx.Response:
        actor = seller or self.world.pa_user
        return await self.client.post(DEALS, json=self.body(submit=submit, **overrides), headers=actor.headers)

    async def draft(self, **overrides: Any) -> Json:
        return expect(await self.register(submit=False, **overrides), 201)

    async def submitted(self, **overrides: Any) -> Json:
        registration = expect(await self.register(**overrides), 201)
        assert registration["state"] == "submitted", registration
        return registration

    async def approved(self, **overrides: Any) -> Json:
        return await self.decided(await self.submitted(**overrides), "approve")

    async def rejected(self, **overrides: Any) -> Json:
        return await self.decided(
            await self.submitted(**overrides), "reject", reason="incomplete", explanation="Name the buyer, please."
        )

    async def decided(self, registration: Json, action: str, *, reviewer: Actor | None = None, **body: Any) -> Json:
        reply = await self.act(registration, action, actor=reviewer or self.world.cm_a, **body)
        return expect(reply, 200)

    async def lost(self, **overrides: Any) -> Json:
        return expect(await self.act(await self.approved(**overrides), "close-lost", reason="Budget cut"), 200)

    async def cancelled(self, **overrides: Any) -> Json:
        return expect(await self.act(await self.submitted(**overrides), "cancel"), 200)

    async def won(self, amount_minor: int = 48_000_00, **overrides: Any) -> Json:
        """Closed won with a proof of performance waiting for verification."""
        return expect(await self.close_won(await self.approved(**overrides), amount_minor), 200)

    async def verified(self, amount_minor: int = 48_000_00, **overrides: Any) -> Json:
        """Won, and the proof verified by the channel manager: the margin credit is booked."""
        return await self.decided(await self.won(amount_minor, **overrides), "proof/decision", approve=True)

    async def proof_refused(self, amount_minor: int = 48_000_00, **overrides: Any) -> Json:
        won = await self.won(amount_minor, **overrides)
        return await self.decided(won, "proof/decision", approve=False, note="The invoice is not signed.")

    async def expired(self, **overrides: Any) -> Json:
        """Approved, then left: the clock moves to its end and the timers run."""
        registration = await self.approved(**overrides)
        self.clock.advance(at(registration["expires_at"]) - self.clock.now())
        assert (await self.run_timers())["deal_registration.expire_registrations"] == 1
        return await self.read(registration)

    async def resubmit(self, registration: Json, **overrides: Any) -> httpx.Response:
        url = f"{DEALS}/{registration['id']}/resubmit"
        return await self.client.post(url, json=self.details(**overrides), headers=self.world.pa_user.headers)

    # -- steps ------------------------------------------------------------------------------

    async def read(self, registration: Json, actor: Actor | None = None) -> Json:
        reply = await self.client.get(f"{DEALS}/{registration['id']}", headers=(actor or self.world.pa_user).headers)
        return expect(reply, 200)

    async def act(self, registration: Json, action: str, *, actor: Actor | None = None, **body: Any) -> httpx.Response:
        """POST .../{action} as `actor` (the seller unless told) at the version `registration` is at."""
        url = f"{DEALS}/{registration['id']}/{action}"
        payload = {"expected_version": registration["version"], **body}
        return await self.client.post(url, json=payload, headers=(actor or self.world.pa_user).headers)

    async def close_won(
        self,
        registration: Json,
        amount_minor: int = 48_000_00,
        *,
        document: bytes = PDF,
        invoice_number: str = "INV-2291",
        proof_date: date | None = None,
    ) -> httpx.Response:
        fields = {
            "expected_version": str(registration["version"]),
            "amount_minor": str(amount_minor),
            "proof_date": (proof_date or self.clock.now().date()).isoformat(),
            "invoice_number": invoice_number,
        }
        return await self.client.post(
            f"{DEALS}/{registration['id']}/close-won",
            data=fields,
            files={"document": ("invoice.pdf", document, "application/pdf")},
            headers=self.world.pa_user.headers,
        )

    async def request_extension(self, registration: Json, reason: str = "The board meets next quarter") -> Json:
        return expect(await self.act(registration, "extensions", reason=reason), 201)

    async def decide_extension(
        self, registration: Json, extension: Json, *, approve: bool = True, reviewer: Actor | None = None
    ) -> httpx.Response:
        url = f"{DEALS}/{registration['id']}/extensions/{extension['id']}/decision"
        actor = reviewer or self.world.cm_a
        return await self.client.post(url, json={"approve": approve}, headers=actor.headers)

    async def extended(self, registration: Json) -> Json:
        """One extension requested and approved: the registration as it reads after."""
        extension = await self.request_extension(registration)
        expect(await self.decide_extension(registration, extension), 200)
        return await self.read(registration)

    async def run_timers(self) -> dict[str, int | None]:
        return await self.app.state.runtime.jobs.run_all()  # type: ignore[no-any-return]

    # -- credits ----------------------------------------------------------------------------

    async def credits_of(self, registration: Json, actor: Actor | None = None) -> list[Json]:
        reply = await self.client.get(f"{CREDITS}?limit=200", headers=(actor or self.world.admin).headers)
        return [c for c in expect(reply, 200)["items"] if c["source_id"] == registration["id"]]

    async def advance_credit(self, credit: Json, step: str, actor: Actor | None = None) -> httpx.Response:
        """approve or pay, at the version `credit` is at."""
        url = f"{CREDITS}/{credit['id']}/{step}"
        body = {"expected_version": credit["version"]}
        return await self.client.post(url, json=body, headers=(actor or self.world.admin).headers)


def at(value: str) -> datetime:
    """A timestamp of a reply as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def make_deals(
    client: httpx.AsyncClient, app: Litestar, world: World, clock: ManualClock, **program: Any
) -> Deals:
    """Two products and a program (with these terms) made by the vendor admin."""
    products = await make_products(client, world.admin, "FW-100", "FW-200")
    return Deals(client, app, world, clock, await make_program(client, world.admin, **program), products)
