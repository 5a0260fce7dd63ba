"""What the home page shows each role: cheap facts from the repositories, and where to go next.

Links may point at pages later work adds (deal registration, leads, the dashboard); the
home page only needs their addresses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.errors import NotFound
from prm.core.outbox import OutboxKind, OutboxMessage, OutboxStatus
from prm.core.pagination import PageRequest
from prm.core.repository import count_rows
from prm.core.webhooks import WebhookEndpoint
from prm.crm.repository import AccountRepository, OpportunityRepository, PartnerRepository
from prm.crm.services.partners import get_partner, list_partners

MANAGED_PARTNERS_SHOWN = 50


@dataclass(frozen=True)
class Link:
    label: str
    href: str
    hint: str = ""


@dataclass(frozen=True)
class Fact:
    label: str
    value: int
    href: str | None = None


@dataclass
class Home:
    heading: str
    facts: list[Fact] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


async def home_for(session: AsyncSession, principal: Principal) -> Home:
    if principal.is_partner and principal.partner_id is not None:
        return await _partner_home(session, principal, principal.partner_id)
    if principal.role is Role.CHANNEL_MANAGER:
        return await _channel_manager_home(session, principal)
    if principal.role is Role.VENDOR_ADMIN:
        return await _vendor_admin_home(session, principal)
    if principal.role is Role.LEADERSHIP:
        return await _leadership_home(session, principal)
    raise NotFound("There is no home page for this account.")  # a partner role without a partner


async def _partner_home(session: AsyncSession, principal: Principal, partner_id: uuid.UUID) -> Home:
    partner = await get_partner(session, principal=principal, partner_id=partner_id)
    return Home(
        heading=partner.name,
        facts=[
            Fact("Accounts", await AccountRepository(session, principal).count()),
            Fact("Opportunities", await OpportunityRepository(session, principal).count()),
        ],
        links=[
            Link("Register a deal", "/deals/new", "Protect an opportunity you sourced."),
            Link("My registrations", "/deals", "Status and protection clocks of your deals."),
            Link("Leads inbox", "/leads", "Leads routed to your organisation."),
            *(
                [Link("Users", "/users", "Your organisation's users and their roles.")]
                if principal.role is Role.PARTNER_ADMIN
                else []
            ),
        ],
        extra={"partner": partner},
    )


async def _channel_manager_home(session: AsyncSession, principal: Principal) -> Home:
    partners, more = await list_partners(
        session, principal=principal, page=PageRequest(limit=MANAGED_PARTNERS_SHOWN, sort="name")
    )
    return Home(
        heading="Channel manager",
        facts=[Fact("Opportunities", await OpportunityRepository(session, principal).count())],
        links=[Link("Review queue", "/reviews", "Deal registrations waiting for your decision.")],
        extra={"partners": partners, "more_partners": more is not None},
    )


async def _vendor_admin_home(session: AsyncSession, principal: Principal) -> Home:
    emails = await count_rows(session, OutboxMessage, OutboxMessage.kind == OutboxKind.EMAIL)
    dead = await count_rows(session, OutboxMessage, OutboxMessage.status == OutboxStatus.DEAD)
    return Home(
        heading="Vendor administration",
        facts=[
            Fact("Partners", await PartnerRepository(session, principal).count(), "/partners"),
            Fact("Emails in the mailbox", emails, "/mailbox"),
            Fact("Outbox dead letters", dead, "/outbox/dead"),
            Fact("Webhook endpoints", await count_rows(session, WebhookEndpoint), "/webhooks"),
        ],
        links=[
            Link("Partners", "/partners", "Organisations, tiers and where they are."),
            Link("Deal programs", "/programs", "Terms, protection days and approval rules."),
            Link("Lead programs", "/lead-programs", "Response clocks and the bands that qualify by themselves."),
            Link("Users", "/users", "Vendor and partner users, their roles, deactivation."),
            Link("Shark-tank groups", "/shark-tank", "Partners that claim the same leads."),
            Link("Mailbox", "/mailbox", "What the service has emailed partners and managers."),
            Link("Outbox dead letters", "/outbox/dead", "Emails and webhooks that could not be delivered."),
            Link("Webhooks", "/webhooks", "Endpoints that receive events."),
        ],
    )


async def _leadership_home(session: AsyncSession, principal: Principal) -> Home:
    return Home(
        heading="Leadership",
        facts=[
            Fact("Partners", await PartnerRepository(session, principal).count()),
            Fact("Opportunities", await OpportunityRepository(session, principal).count()),
        ],
        links=[Link("Dashboard", "/dashboard", "Indirect versus direct sales, top partners, scorecards.")],
    )
