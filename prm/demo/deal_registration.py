"""Demo deal registration: a program and registrations in each state a channel manager meets.

Written through the services as the partners' sellers and their channel manager would, so the
conflicts, history, emails and protected opportunities are the ones real use leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.crm.models import PartnerTier, Product
from prm.deal_registration.models import RejectionReason
from prm.deal_registration.schemas import (
    ApprovalRulesUpdate,
    Approve,
    AutoApprove,
    ProductLine,
    ProgramCreate,
    RegistrationCreate,
    Reject,
    SecondApproval,
)
from prm.deal_registration.service import programs, registrations, review, rules

PROGRAM = ProgramCreate(
    name="Northwind Deal Registration",
    margin_bps=500,
    currency="USD",
    description="Register the deals you find; approved registrations are protected from channel conflict.",
    benefits="5% additional margin on a won, protected deal; 90 days of protection, one 30-day extension.",
    required_fields=["products", "customer_country", "estimated_amount_minor", "expected_close_date"],
    eligible_tiers=[PartnerTier.GOLD, PartnerTier.SILVER, PartnerTier.PLATINUM],
)


@dataclass(frozen=True)
class DemoRegistration:
    partner: str  # the partner's slug; its seller registers the deal
    customer: str
    website: str
    country: str
    skus: tuple[str, ...]
    amount_minor: int
    situation: str
    close_in_days: int
    fate: str  # draft, submitted, approved or rejected


REGISTRATIONS = [
    # Conflicts with the vendor's own open Wingtip opportunity: the reviewer sees it flagged.
    DemoRegistration(
        "acme", "Wingtip Hotels", "https://wingtip.example", "US", ("NW-ANALYTICS",), 350_000,
        "Guest analytics pilot across 40 hotels; the CIO asked Acme for a proposal.", 45, "submitted",
    ),
    DemoRegistration(
        "globex", "Woodgrove Bank", "https://woodgrove.example", "DE", ("NW-PLAT-ENT", "NW-SECURITY"), 5_300_000,
        "Replacing a home-grown workflow platform before its support ends in Q3.", 120, "submitted",
    ),
    DemoRegistration(
        "acme", "Alpine Ski House", "https://alpineskihouse.example", "US", ("NW-PLAT-STD", "NW-ONBOARDING"),
        1_450_000, "New booking platform for the 2027 season.", 60, "approved",
    ),
    # Another partner already works this renewal: rejected with the reason said.
    DemoRegistration(
        "globex", "Fabrikam Logistics", "https://fabrikam.example", "DE", ("NW-SUPPORT-PREM",), 900_000,
        "Support renewal for the fleet platform.", 21, "rejected",
    ),
    # Globex found the same ski resort after Acme's protection began: the reviewer sees the
    # conflict on both, and approving it is refused unless overridden with a listed reason.
    DemoRegistration(
        "globex", "Alpine Ski House", "https://alpineskihouse.example", "DE", ("NW-PLAT-STD",), 1_100_000,
        "The resort's German subsidiary asked Globex for a booking platform.", 75, "submitted",
    ),
    DemoRegistration(
        "globex", "Humongous Insurance", "https://humongousinsurance.example", "DE", ("NW-PLAT-STD",), 1_200_000,
        "First meeting held; sizing the platform.", 90, "draft",
    ),
]  # fmt: skip


async def seed_deal_registration(
    session: AsyncSession, *, admin: Principal, manager: Principal, sellers: dict[str, Principal]
) -> None:
    program = await programs.create_program(session, principal=admin, data=PROGRAM)
    product_ids = dict((await session.execute(select(Product.sku, Product.id))).tuples().all())
    today = session.info["clock"].now().date()
    for demo in REGISTRATIONS:
        data = RegistrationCreate(
            program_id=program.id,
            customer_name=demo.customer,
            customer_website=demo.website,
            customer_country=demo.country,
            products=[ProductLine(product_id=product_ids[sku], quantity=1) for sku in demo.skus],
            contact_name="Jordan Buyer",
            contact_email=f"jordan@{demo.website.removeprefix('https://')}",
            estimated_amount_minor=demo.amount_minor,
            currency="USD",
            current_situation=demo.situation,
            expected_close_date=today + timedelta(days=demo.close_in_days),
            submit=demo.fate != "draft",
        )
        registered = await registrations.create_registration(session, principal=sellers[demo.partner], data=data)
        registration = registered.registration
        if demo.fate == "approved":
            decision = Approve(expected_version=registration.version, note="Welcome aboard: protected for 90 days.")
            await review.approve(session, principal=manager, registration_id=registration.id, data=decision)
        elif demo.fate == "rejected":
            rejection = Reject(
                expected_version=registration.version,
                reason=RejectionReason.OTHER,
                explanation="Another partner already works this renewal with the customer.",
            )
            await review.reject(session, principal=manager, registration_id=registration.id, data=rejection)
    # Set after the registrations above, so they keep the fates the demo gives them: from now on
    # small, clean deals of gold partners are approved at once, and large ones need a vendor admin too.
    await session.flush()
    await rules.set_rules(session, principal=admin, program_id=program.id, data=DEMO_RULES(program.version))


def DEMO_RULES(version: int) -> ApprovalRulesUpdate:  # noqa: N802 - reads as the constant it stands for
    return ApprovalRulesUpdate(
        expected_version=version,
        auto_approve=AutoApprove(tiers=[PartnerTier.GOLD, PartnerTier.PLATINUM], max_amount_minor=2_000_000),
        second_approval=SecondApproval(above_minor=5_000_000, approver="vendor_admin"),
    )
