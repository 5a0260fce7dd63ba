"""What the lead pages share: words for the enums, clocks as "3 hours left", and the choices a
channel manager routes to (partners, their reps, shark-tank groups, programs, internal reps).

Choices come from the CRM and distribution services with the viewer's principal, so a channel
manager is only offered the partners assigned to them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest
from prm.crm.models import LeadSource, LeadStatus, TimeFrame
from prm.crm.services.partners import list_partners
from prm.crm.services.products import list_products
from prm.crm.services.users import list_users
from prm.lead_distribution.models import DeclineReason, TargetKind
from prm.lead_distribution.rules import SizeBand
from prm.lead_distribution.service import setup

CHOICES_SHOWN = 200  # the paging limit; longer lists would need a search box
ENDING_SECONDS = 4 * 3600  # a response clock under four hours is shown as ending

DECLINE_REASONS: dict[str, str] = {
    DeclineReason.NO_CAPACITY.value: "No capacity to work it now",
    DeclineReason.NOT_A_FIT.value: "Not a fit for our business",
    DeclineReason.OUTSIDE_TERRITORY.value: "Outside our territory",
    DeclineReason.INSUFFICIENT_INFORMATION.value: "Not enough information",
    DeclineReason.DUPLICATE.value: "We already have this lead",
    DeclineReason.CUSTOMER_NOT_INTERESTED.value: "Customer not interested",
    DeclineReason.EXISTING_ENGAGEMENT.value: "Customer already engaged with another partner",
    DeclineReason.OTHER.value: "Other (say why)",
}
# Anything the enum gains later still gets a readable label.
for _reason in DeclineReason:
    DECLINE_REASONS.setdefault(_reason.value, _reason.value.replace("_", " ").capitalize())

STATUS_LABELS = {s.value: s.value.replace("_", " ") for s in LeadStatus}
TIME_FRAMES = {
    TimeFrame.IMMEDIATE.value: "Immediately",
    TimeFrame.THIS_QUARTER.value: "This quarter",
    TimeFrame.SIX_MONTHS.value: "Within six months",
    TimeFrame.THIS_YEAR.value: "This year",
    TimeFrame.LATER.value: "Later",
    TimeFrame.UNKNOWN.value: "Unknown",
}
SIZE_BANDS = {
    SizeBand.SMALL.value: "Small (1-49)",
    SizeBand.MEDIUM.value: "Medium (50-249)",
    SizeBand.LARGE.value: "Large (250-999)",
    SizeBand.ENTERPRISE.value: "Enterprise (1,000+)",
}
SOURCES = {s.value: s.value.replace("_", " ") for s in LeadSource}
TARGET_LABELS = {
    TargetKind.PARTNER_USER.value: "Partner rep",
    TargetKind.PARTNER.value: "Partner",
    TargetKind.PROGRAM_POOL.value: "Program pool (weighted pick)",
    TargetKind.SHARK_TANK.value: "Shark-tank group",
    TargetKind.INTERNAL_REP.value: "Internal rep (direct)",
    TargetKind.NEAREST_PARTNERS.value: "Nearest partners of a program (weighted pick)",
}


def now_of(session: AsyncSession) -> datetime:
    """The injected clock's now: the same one the services stamp their changes with."""
    now: datetime = session.info["clock"].now()
    return now


def span(delta: timedelta) -> str:
    """A duration in the two largest units a person cares about: "1 day 3 hours", "12 minutes"."""
    minutes = max(0, int(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (mins, "minute")]
    shown = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n][:2]
    return " ".join(shown) or "less than a minute"


@dataclass(frozen=True)
class Clock:
    """A response or claim clock: when it ends, the words, and how urgent it looks."""

    due_at: datetime
    text: str
    status: str  # running | ending | over


def clock_of(due_at: datetime, now: datetime) -> Clock:
    left = due_at - now
    if left.total_seconds() <= 0:
        return Clock(due_at, "time is up", "over")
    status = "ending" if left.total_seconds() < ENDING_SECONDS else "running"
    return Clock(due_at, f"{span(left)} left", status)


# Routing targets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetGroup:
    """One <optgroup> of the target picker: options are ("kind:id", label)."""

    kind: str
    label: str
    options: list[tuple[str, str]]


async def _users(
    session: AsyncSession, principal: Principal, *roles: Role
) -> list[tuple[uuid.UUID, str, uuid.UUID | None]]:
    found: list[tuple[uuid.UUID, str, uuid.UUID | None]] = []
    for role in roles:
        rows, _ = await list_users(
            session, principal=principal, page=PageRequest(limit=CHOICES_SHOWN, sort="name"), role=role
        )
        found += [(u.id, f"{u.name} <{u.email}>", u.partner_id) for u in rows if u.active]
    return found


async def routing_targets(session: AsyncSession, principal: Principal) -> list[TargetGroup]:
    """Everything the viewer may route a lead to, grouped by kind, as "kind:id" values."""
    by_name = PageRequest(limit=CHOICES_SHOWN, sort="name")
    partners, _ = await list_partners(session, principal=principal, page=by_name)
    names = {p.id: p.name for p in partners}
    reps = await _users(session, principal, Role.PARTNER_ADMIN, Role.PARTNER_USER)
    internal = await _users(session, principal, Role.CHANNEL_MANAGER, Role.VENDOR_ADMIN)
    groups, _ = await setup.list_groups(session, principal=principal, page=by_name)
    programs, _ = await setup.list_programs(session, principal=principal, page=by_name)
    kind = TargetKind
    return [
        TargetGroup(kind.PARTNER.value, "Partner", [(f"partner:{p.id}", p.name) for p in partners if p.active]),
        TargetGroup(
            kind.PARTNER_USER.value,
            "Partner rep",
            [(f"partner_user:{uid}", f"{label} · {names[pid]}") for uid, label, pid in reps if pid and pid in names],
        ),
        TargetGroup(
            kind.SHARK_TANK.value, "Shark-tank group", [(f"shark_tank:{g.id}", g.name) for g in groups if g.active]
        ),
        TargetGroup(
            kind.PROGRAM_POOL.value,
            "Program pool (weighted pick)",
            [(f"program_pool:{p.id}", p.name) for p in programs if p.active],
        ),
        TargetGroup(
            kind.NEAREST_PARTNERS.value,
            "Nearest partners of a program (weighted pick)",
            [(f"nearest_partners:{p.id}", f"Nearest to the lead in {p.name}") for p in programs if p.active],
        ),
        TargetGroup(
            kind.INTERNAL_REP.value, "Internal rep (direct)", [(f"internal_rep:{u}", t) for u, t, _ in internal]
        ),
    ]


def target_names(groups: list[TargetGroup]) -> dict[str, str]:
    """id -> the label shown for it, to name a rule's or a decision's target (a program is named
    by its pool option, not by the "nearest partners" one that names the same program)."""
    names: dict[str, str] = {}
    for group in groups:
        if group.kind == TargetKind.NEAREST_PARTNERS.value:
            continue
        for value, label in group.options:
            names.setdefault(value.split(":", 1)[1], label)
    return names


def readable(text: str, names: dict[str, str]) -> str:
    """A stored explanation with the ids the viewer can name replaced by those names."""
    for raw_id, name in names.items():
        text = text.replace(raw_id, name)
    return text


def parse_target(value: str) -> tuple[TargetKind, uuid.UUID] | None:
    """ "partner:<uuid>" -> (PARTNER, uuid); None for anything else."""
    kind, _, raw = value.partition(":")
    try:
        return TargetKind(kind), uuid.UUID(raw)
    except ValueError:
        return None


async def product_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    rows, _ = await list_products(
        session, principal=principal, page=PageRequest(limit=CHOICES_SHOWN, sort="name"), active=True
    )
    return [(str(p.id), f"{p.name} ({p.sku})") for p in rows]
