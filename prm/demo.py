"""Demo data for `make run` (idempotent: a second run finds it and only prints the logins)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.clock import SystemClock
from prm.core.db import Database
from prm.crm.models import Partner, PartnerTier, User
from prm.crm.schemas import AccountCreate, PartnerCreate, UserCreate
from prm.crm.services import accounts, partners, users
from prm.settings import Settings

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - printed for the demo on purpose
ADMIN_EMAIL = "admin@northwind.example"


@dataclass(frozen=True)
class DemoPartner:
    name: str
    tier: PartnerTier
    country: str
    slug: str


PARTNERS = [
    DemoPartner("Acme Resellers", PartnerTier.GOLD, "US", "acme"),
    DemoPartner("Globex Integrators", PartnerTier.SILVER, "DE", "globex"),
    DemoPartner("Initech Referrals", PartnerTier.REGISTERED, "GB", "initech"),
]
STAFF = [
    ("cm.alex@northwind.example", "Alex Channel", Role.CHANNEL_MANAGER),
    ("cm.sam@northwind.example", "Sam Channel", Role.CHANNEL_MANAGER),
    ("ceo@northwind.example", "Lee Leadership", Role.LEADERSHIP),
]


async def _user(
    session: AsyncSession,
    actor: Principal | None,
    email: str,
    name: str,
    role: Role,
    partner_id: uuid.UUID | None = None,
) -> User:
    data = UserCreate(email=email, name=name, role=role, password=DEMO_PASSWORD, partner_id=partner_id)
    return await users.create_user(session, principal=actor, data=data)


async def _seed(session: AsyncSession) -> None:
    admin = await _user(session, None, ADMIN_EMAIL, "Vera Vendor", Role.VENDOR_ADMIN)
    actor = users.principal_of(admin)
    staff = {email: await _user(session, actor, email, name, role) for email, name, role in STAFF}
    created: dict[str, Partner] = {}
    for demo in PARTNERS:
        partner = await partners.create_partner(
            session, principal=actor, data=PartnerCreate(name=demo.name, tier=demo.tier, country=demo.country)
        )
        created[demo.slug] = partner
        await _user(session, actor, f"admin@{demo.slug}.example", f"{demo.name} Admin", Role.PARTNER_ADMIN, partner.id)
        await _user(session, actor, f"seller@{demo.slug}.example", f"{demo.name} Seller", Role.PARTNER_USER, partner.id)
    alex, sam = staff["cm.alex@northwind.example"].id, staff["cm.sam@northwind.example"].id
    for slug, manager in (("acme", alex), ("globex", alex), ("initech", sam)):
        await partners.assign_channel_managers(
            session, principal=actor, partner_id=created[slug].id, manager_ids=[manager]
        )
    for name, domain, partner_slug in (
        ("Contoso Pharmaceuticals", "contoso.example", None),
        ("Fabrikam Logistics", "fabrikam.example", "acme"),
        ("Tailspin Toys", "tailspin.example", "globex"),
        ("Wingtip Hotels", "wingtip.example", None),
    ):
        partner_id = created[partner_slug].id if partner_slug else None
        await accounts.create_account(
            session, principal=actor, data=AccountCreate(name=name, domain=domain, partner_id=partner_id)
        )


def _print_logins() -> None:
    print(f"prm demo logins (password for all: {DEMO_PASSWORD})")
    print(f"  vendor admin      {ADMIN_EMAIL}")
    for email, _, role in STAFF:
        print(f"  {role.value:<17} {email}")
    for demo in PARTNERS:
        print(f"  partner admin     admin@{demo.slug}.example   ({demo.name}, {demo.tier.value})")
        print(f"  partner user      seller@{demo.slug}.example  ({demo.name})")


async def load_demo(settings: Settings) -> None:
    db = Database(settings.database_url, clock=SystemClock())
    try:
        async with db.unit_of_work() as session:
            exists = await session.scalar(select(User.id).where(User.email == ADMIN_EMAIL))
            if exists is None:
                await _seed(session)
                print("prm: demo data loaded")
            else:
                print("prm: demo data already present")
    finally:
        await db.dispose()
    _print_logins()


async def create_operator_user(
    settings: Settings, email: str, name: str, role: str, password: str, partner_name: str | None
) -> None:
    db = Database(settings.database_url, clock=SystemClock())
    try:
        async with db.unit_of_work() as session:
            partner_id = None
            if partner_name:
                partner_id = await session.scalar(select(Partner.id).where(Partner.name == partner_name))
                if partner_id is None:
                    raise SystemExit(f"prm: no partner named {partner_name!r}")
            data = UserCreate(email=email, name=name, role=Role(role), password=password, partner_id=partner_id)
            user = await users.create_user(session, principal=None, data=data)
        print(f"prm: created {user.role.value} {user.email} ({user.id})")
    finally:
        await db.dispose()
