"""Demo data for `make run` (idempotent: a second run finds it and only prints the logins).

The CRM core is seeded here; deal registration (`deal_registration`) and lead distribution (`distribution`)
stand on it: a program with registrations in each review state, routing rules with routed
leads and a shark tank, a referral program.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.clock import SystemClock
from prm.core.db import Database
from prm.crm.models import CampaignStatus, LeadSource, MemberStatus, OpportunityStage, Partner, PartnerTier, User
from prm.crm.schemas import (
    AccountCreate,
    CampaignCreate,
    CampaignMemberCreate,
    ContactCreate,
    LeadCreate,
    OpportunityCreate,
    PartnerCreate,
    ProductCreate,
    UserCreate,
)
from prm.crm.services import accounts, campaigns, contacts, leads, opportunities, partners, products, users
from prm.demo.deal_registration import seed_deal_registration
from prm.demo.distribution import seed_lead_distribution
from prm.demo.history import seed_history
from prm.settings import Settings

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - printed for the demo on purpose
ADMIN_EMAIL = "admin@northwind.example"


@dataclass(frozen=True)
class DemoPartner:
    name: str
    tier: PartnerTier
    country: str
    slug: str
    city: str  # geocoded offline, so geographic routing has places to compare


PARTNERS = [
    DemoPartner("Acme Resellers", PartnerTier.GOLD, "US", "acme", "Austin"),
    DemoPartner("Globex Integrators", PartnerTier.SILVER, "DE", "globex", "Munich"),
    DemoPartner("Initech Referrals", PartnerTier.REGISTERED, "GB", "initech", "London"),
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
    sellers: dict[str, Principal] = {}
    for demo in PARTNERS:
        partner = await partners.create_partner(
            session,
            principal=actor,
            data=PartnerCreate(name=demo.name, tier=demo.tier, country=demo.country, city=demo.city),
        )
        created[demo.slug] = partner
        await _user(session, actor, f"admin@{demo.slug}.example", f"{demo.name} Admin", Role.PARTNER_ADMIN, partner.id)
        seller = await _user(
            session, actor, f"seller@{demo.slug}.example", f"{demo.name} Seller", Role.PARTNER_USER, partner.id
        )
        sellers[demo.slug] = users.principal_of(seller)
    alex, sam = staff["cm.alex@northwind.example"].id, staff["cm.sam@northwind.example"].id
    for slug, manager in (("acme", alex), ("globex", alex), ("initech", sam)):
        await partners.assign_channel_managers(
            session, principal=actor, partner_id=created[slug].id, manager_ids=[manager]
        )
    account_ids: dict[str, uuid.UUID] = {}
    for name, domain, partner_slug in (
        ("Contoso Pharmaceuticals", "contoso.example", None),
        ("Fabrikam Logistics", "fabrikam.example", "acme"),
        ("Tailspin Toys", "tailspin.example", "globex"),
        ("Wingtip Hotels", "wingtip.example", None),
        ("Adventure Works", "adventure-works.example", "acme"),
        ("Proseware", "proseware.example", "globex"),
        ("Litware Labs", "litware.example", "initech"),
    ):
        partner_id = created[partner_slug].id if partner_slug else None
        account = await accounts.create_account(
            session, principal=actor, data=AccountCreate(name=name, domain=domain, partner_id=partner_id)
        )
        account_ids[name] = account.id
    await _seed_crm(session, actor, sellers, account_ids)
    alex_principal = users.principal_of(staff["cm.alex@northwind.example"])
    await seed_deal_registration(session, admin=actor, manager=alex_principal, sellers=sellers)
    await seed_lead_distribution(session, admin=actor, partners=created)
    await seed_history(session, admin=actor, sellers=sellers, partners=created, account_ids=account_ids)


# (sku, name, family, list price in cents)
PRODUCTS = [
    ("NW-PLAT-STD", "Northwind Platform Standard", "Platform", 1_200_000),
    ("NW-PLAT-ENT", "Northwind Platform Enterprise", "Platform", 4_800_000),
    ("NW-ANALYTICS", "Analytics Add-on", "Add-on", 350_000),
    ("NW-SECURITY", "Security Pack", "Add-on", 500_000),
    ("NW-SUPPORT-PREM", "Premium Support (1 year)", "Services", 900_000),
    ("NW-ONBOARDING", "Onboarding Services", "Services", 250_000),
]
# (name, account, partner slug or None for direct, stage, amount in cents, close date in days from today)
OPPORTUNITIES = [
    ("Contoso platform renewal", "Contoso Pharmaceuticals", None, OpportunityStage.CLOSED_WON, 4_800_000, -75),
    ("Contoso security upgrade", "Contoso Pharmaceuticals", None, OpportunityStage.CLOSED_LOST, 500_000, -20),
    ("Wingtip analytics pilot", "Wingtip Hotels", None, OpportunityStage.PROPOSAL, 350_000, 30),
    ("Wingtip guest platform", "Wingtip Hotels", None, OpportunityStage.CLOSED_WON, 1_200_000, -10),
    ("Fabrikam fleet rollout", "Fabrikam Logistics", "acme", OpportunityStage.CLOSED_WON, 6_000_000, -40),
    ("Fabrikam support renewal", "Fabrikam Logistics", "acme", OpportunityStage.NEGOTIATION, 900_000, 21),
    ("Adventure Works platform", "Adventure Works", "acme", OpportunityStage.CLOSED_WON, 1_200_000, -5),
    ("Tailspin store analytics", "Tailspin Toys", "globex", OpportunityStage.CLOSED_WON, 2_450_000, -100),
    ("Tailspin onboarding", "Tailspin Toys", "globex", OpportunityStage.PRESENTATION, 250_000, 45),
    ("Proseware enterprise", "Proseware", "globex", OpportunityStage.PROSPECTING, 4_800_000, 90),
    ("Litware referral", "Litware Labs", "initech", OpportunityStage.CLOSED_WON, 1_200_000, -60),
    ("Litware security pack", "Litware Labs", "initech", OpportunityStage.CLOSED_LOST, 500_000, -15),
]
# (first name, last name, company, source, country, joins the campaign as: None, Sent or Responded)
LEADS = [
    ("Ada", "Park", "Blue Yonder Airlines", LeadSource.WEB, "US", None),
    ("Ben", "Okafor", "Coho Winery", LeadSource.CAMPAIGN, "DE", MemberStatus.RESPONDED),
    ("Chloe", "Martin", "Fourth Coffee", LeadSource.CAMPAIGN, "FR", MemberStatus.SENT),
    ("Dev", "Raman", "Graphic Design Institute", LeadSource.CAMPAIGN, "GB", MemberStatus.RESPONDED),
    ("Eva", "Novak", "Lucerne Publishing", LeadSource.IMPORT, "CZ", None),
    ("Finn", "Berg", "Margie's Travel", LeadSource.REFERRAL, "SE", None),
    ("Gia", "Rossi", "Alpine Ski House", LeadSource.EXISTING_CUSTOMER, "IT", None),
    ("Hugo", "Lang", "Trey Research", LeadSource.PARTNER, "DE", MemberStatus.SENT),
]


async def _seed_crm(
    session: AsyncSession, admin: Principal, sellers: dict[str, Principal], account_ids: dict[str, uuid.UUID]
) -> None:
    """The CRM core the later features stand on: a price list, deals both ways, leads, a campaign."""
    for sku, name, family, price in PRODUCTS:
        data = ProductCreate(sku=sku, name=name, family=family, list_price_minor=price, currency="USD")
        await products.create_product(session, principal=admin, data=data)
    await _seed_opportunities(session, admin, sellers, account_ids)
    await _seed_campaign(session, admin, account_ids["Contoso Pharmaceuticals"])


async def _seed_opportunities(
    session: AsyncSession, admin: Principal, sellers: dict[str, Principal], account_ids: dict[str, uuid.UUID]
) -> None:
    """Indirect deals are registered by the partner's own seller; direct ones by the vendor."""
    today = session.info["clock"].now().date()
    for name, account, slug, stage, amount, close_in_days in OPPORTUNITIES:
        data = OpportunityCreate(
            name=name,
            account_id=account_ids[account],
            amount_minor=amount,
            currency="USD",
            stage=stage,
            close_date=today + timedelta(days=close_in_days),
            lead_source="partner" if slug else "direct",
        )
        principal = sellers[slug] if slug else admin
        await opportunities.create_opportunity(session, principal=principal, data=data)


async def _seed_campaign(session: AsyncSession, admin: Principal, contact_account_id: uuid.UUID) -> None:
    """A launch programme with a webinar under it; campaign leads join the webinar."""
    today = session.info["clock"].now().date()
    launch = await campaigns.create_campaign(
        session,
        principal=admin,
        data=CampaignCreate(
            name="Northwind 2026 launch",
            type="program",
            status=CampaignStatus.ACTIVE,
            start_date=today - timedelta(days=30),
            budget_minor=2_500_000,
            currency="USD",
        ),
    )
    webinar = await campaigns.create_campaign(
        session,
        principal=admin,
        data=CampaignCreate(
            name="Launch webinar EMEA", type="webinar", status=CampaignStatus.COMPLETED, parent_id=launch.id
        ),
    )
    for first, last, company, source, country, membership in LEADS:
        data = LeadCreate(
            first_name=first,
            last_name=last,
            company=company,
            source=source,
            country=country,
            email=f"{first.lower()}@{''.join(c for c in company.lower() if c.isalnum())}.example",
            campaign_id=webinar.id if source is LeadSource.CAMPAIGN else None,
        )
        lead = await leads.create_lead(session, principal=admin, data=data)
        if membership is not None:
            member = CampaignMemberCreate(lead_id=lead.id, status=membership)
            await campaigns.add_member(session, principal=admin, campaign_id=webinar.id, data=member)
    contact = await contacts.create_contact(
        session,
        principal=admin,
        data=ContactCreate(account_id=contact_account_id, first_name="Dana", last_name="Whitfield", title="CIO"),
    )
    member = CampaignMemberCreate(contact_id=contact.id, status=MemberStatus.RESPONDED)
    await campaigns.add_member(session, principal=admin, campaign_id=launch.id, data=member)


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
