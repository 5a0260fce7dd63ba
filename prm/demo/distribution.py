"""Demo lead distribution: a lead program, routing rules, a shark tank, routed leads, referrals.

The demo's CRM leads from the EMEA webinar go to Globex by rule; an American one goes to the
shark tank, where Acme and Globex may claim it; one waits, marketing-qualified, in the queue.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.crm.models import Lead, Product, TimeFrame
from prm.crm.models import Partner as PartnerRecord
from prm.lead_distribution.models import TargetKind
from prm.lead_distribution.schemas import (
    GroupCreate,
    Invitation,
    MemberPut,
    ProgramCreate,
    QualificationStage,
    Qualify,
    ReferralProgramCreate,
    RuleCreate,
)
from prm.lead_distribution.service import qualification, referrals, routing, routing_rules, setup

EMEA = ["DE", "FR", "GB", "IT", "CZ", "SE"]
# (partner slug, weight, territories, certified SKUs)
MEMBERS = [
    ("acme", 100, ["US", "CA"], ["NW-PLAT-STD", "NW-PLAT-ENT", "NW-ANALYTICS"]),
    ("globex", 100, [*EMEA, "US"], ["NW-PLAT-STD", "NW-PLAT-ENT", "NW-SECURITY"]),
]
# (lead's email, stage it reaches, routed by the rules)
QUALIFIED = [
    ("ben@cohowinery.example", QualificationStage.SALES_QUALIFIED, True),
    ("hugo@treyresearch.example", QualificationStage.SALES_QUALIFIED, True),
    ("ada@blueyonderairlines.example", QualificationStage.SALES_QUALIFIED, True),
    ("gia@alpineskihouse.example", QualificationStage.MARKETING_QUALIFIED, False),
]


async def seed_lead_distribution(
    session: AsyncSession, *, admin: Principal, partners: dict[str, PartnerRecord]
) -> None:
    program = await setup.create_program(
        session,
        principal=admin,
        data=ProgramCreate(name="Northwind Leads", description="Vendor leads for gold and silver partners."),
    )
    product_ids = dict((await session.execute(select(Product.sku, Product.id))).tuples().all())
    for slug, weight, territories, skus in MEMBERS:
        partner_id = partners[slug].id
        member = MemberPut(weight=weight, territories=territories)
        await setup.put_member(session, principal=admin, program_id=program.id, partner_id=partner_id, data=member)
        certified = [product_ids[sku] for sku in skus]
        await setup.set_certifications(session, principal=admin, partner_id=partner_id, product_ids=certified)
    tank = await setup.create_group(
        session,
        principal=admin,
        data=GroupCreate(
            name="Americas shark tank",
            partner_ids=[partners["acme"].id, partners["globex"].id],
            program_id=program.id,
        ),
    )
    for rule in (
        RuleCreate(
            name="EMEA to Globex",
            target_kind=TargetKind.PARTNER,
            countries=EMEA,
            target_partner_id=partners["globex"].id,
            program_id=program.id,
        ),
        RuleCreate(
            name="Everything else to the shark tank",
            target_kind=TargetKind.SHARK_TANK,
            target_group_id=tank.id,
            program_id=program.id,
        ),
    ):
        await routing_rules.create_rule(session, principal=admin, data=rule)
    await _qualify_and_route(session, admin)
    await _referrals(session, admin, partners["initech"])


async def _qualify_and_route(session: AsyncSession, admin: Principal) -> None:
    for email, stage, routed in QUALIFIED:
        lead = (await session.scalars(select(Lead).where(Lead.email == email))).one()  # a demo lead, always there
        facts = Qualify(
            expected_version=lead.version,
            stage=stage,
            current_situation="Asked for a demo after the launch webinar.",
            time_frame=TimeFrame.THIS_QUARTER,
        )
        lead = await qualification.qualify(session, principal=admin, lead_id=lead.id, data=facts)
        if routed:
            await routing.route_by_rules(session, principal=admin, lead_id=lead.id, expected_version=lead.version)


async def _referrals(session: AsyncSession, admin: Principal, referrer: PartnerRecord) -> None:
    program = await referrals.create_program(
        session,
        principal=admin,
        data=ReferralProgramCreate(
            name="Northwind referrals",
            terms="Introduce a customer; when the deal is won you earn 10% of its first-year value.",
            currency="USD",
            fee_bps=1000,
        ),
    )
    invitation = Invitation(partner_id=referrer.id, note="Your referral partners know our buyers.")
    await referrals.invite(session, principal=admin, program_id=program.id, data=invitation)
