"""What lead distribution needs from the CRM lead: status moves, qualification, hand-over to the
accepting partner, duplicates, merge and bulk intake.

Lead distribution decides *whether* a move is allowed (its state machine, offers, timers); the
lead row itself is only written here, each change recorded in the lead's history and published
as a `lead.<action>` webhook event.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import plain, record_activities, record_activity
from prm.core.auth import Principal, Role
from prm.core.changes import expect_version
from prm.core.db import new_id
from prm.core.errors import Conflict
from prm.core.webhooks import publish_event, publish_events
from prm.crm.models import Lead, LeadStatus
from prm.crm.normalize import normalize_company
from prm.crm.repository import LeadStore, PartnerStanding, UserStanding

ENTITY = "lead"
K = TypeVar("K", bound=Hashable)
# What a merge may copy from the duplicate into blanks of the survivor.
MERGEABLE_FIELDS = (
    "email",
    "phone",
    "title",
    "country",
    "region",
    "employees",
    "current_situation",
    "product_id",
    "time_frame",
    "budget_minor",
    "currency",
    "campaign_id",
)


def ensure_status(lead: Lead, action: str, allowed: Collection[LeadStatus]) -> None:
    if lead.status not in allowed:
        raise Conflict(
            f"Cannot {action.replace('_', ' ')} lead {lead.id}: it is {lead.status.value}.",
            current_state=lead.status.value,
        )


async def load(session: AsyncSession, lead_id: uuid.UUID) -> Lead:
    """A lead whatever its owner: for work lead distribution has already authorised (an offer)."""
    return await LeadStore(session).get(lead_id)


async def leads_by_id(session: AsyncSession, lead_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Lead]:
    return await LeadStore(session).by_ids(lead_ids)


def _set(lead: Lead, status: LeadStatus | None, values: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Set `values` (and the status) on the lead: {field: [old, new]} of what changed."""
    wanted = dict(values or {})
    if status is not None:
        wanted["status"] = status
    changes: dict[str, list[Any]] = {}
    for name, value in wanted.items():
        old = getattr(lead, name)
        if old != value:
            setattr(lead, name, value)
            changes[name] = [plain(old), plain(value)]
    if "company" in changes:
        lead.company_normalized = normalize_company(lead.company)
    return changes


def _event(lead: Lead, changes: dict[str, list[Any]], note: str | None) -> dict[str, Any]:
    return {"id": str(lead.id), "status": lead.status.value, "changes": changes, "note": note}


async def change(
    session: AsyncSession,
    lead: Lead,
    *,
    action: str,
    actor: Principal | None,
    status: LeadStatus | None = None,
    values: Mapping[str, Any] | None = None,
    expected_version: int | None = None,
    note: str | None = None,
) -> dict[str, list[Any]]:
    """Set `values` (and the status), flush the versioned UPDATE, record and publish what changed.

    A concurrent change of the same lead makes the flush fail (StaleDataError -> 409).
    """
    if expected_version is not None:
        expect_version(lead, expected_version)
    changes = _set(lead, status, values)
    await session.flush()
    record_activity(
        session, entity_type=ENTITY, entity_id=lead.id, action=action, actor=actor, changes=changes, note=note
    )
    await publish_event(session, f"lead.{action}", _event(lead, changes, note))
    return changes


@dataclass(frozen=True)
class LeadChange:
    """One lead's move in a batch (see `change_many`)."""

    lead: Lead
    action: str
    actor: Principal | None
    status: LeadStatus | None = None
    values: Mapping[str, Any] | None = None
    note: str | None = None


async def change_many(session: AsyncSession, changes: Sequence[LeadChange]) -> None:
    """What `change` does for each, together: the versioned UPDATEs in one flush (any concurrent
    change fails it: StaleDataError -> 409), the history in one INSERT, each action's events in one."""
    if not changes:
        return
    entries, events = [], defaultdict(list)
    for item in changes:
        diff = _set(item.lead, item.status, item.values)
        entries.append(
            {
                "entity_type": ENTITY,
                "entity_id": item.lead.id,
                "action": item.action,
                "actor": item.actor,
                "changes": diff,
                "note": item.note,
            }
        )
        events[item.action].append(_event(item.lead, diff, item.note))
    await session.flush()
    await record_activities(session, entries)
    for action, items in events.items():
        await publish_events(session, f"lead.{action}", items)


async def hand_over(
    session: AsyncSession, lead: Lead, *, partner_id: uuid.UUID | None, owner_id: uuid.UUID, actor: Principal | None
) -> None:
    """The lead is accepted: its holder (a partner, or None for an internal rep) now sees it all."""
    await change_many(session, [handed_over(lead, partner_id=partner_id, owner_id=owner_id, actor=actor)])


def handed_over(
    lead: Lead, *, partner_id: uuid.UUID | None, owner_id: uuid.UUID, actor: Principal | None
) -> LeadChange:
    """The change `hand_over` makes, for a batch."""
    ensure_status(lead, "accept", (LeadStatus.ROUTED, LeadStatus.SALES_QUALIFIED))
    values = {"partner_id": partner_id, "owner_id": owner_id}
    return LeadChange(lead, "accepted", actor, status=LeadStatus.ACCEPTED, values=values)


async def merge(session: AsyncSession, survivor: Lead, duplicate: Lead, *, actor: Principal) -> dict[str, list[Any]]:
    """Fill the survivor's blanks from the duplicate, move its campaign memberships, and retire it.

    Both rows and both histories stay: the duplicate is disqualified as "duplicate" and points at
    the survivor, so every earlier reference still resolves.
    """
    filled = {
        name: getattr(duplicate, name)
        for name in MERGEABLE_FIELDS
        if getattr(survivor, name) is None and getattr(duplicate, name) is not None
    }
    if duplicate.score > survivor.score:
        filled["score"] = duplicate.score
    moved = await LeadStore(session).move_campaign_memberships(duplicate.id, survivor.id)
    changes = await change(
        session,
        survivor,
        action="merged",
        actor=actor,
        values=filled,
        note=f"merged duplicate {duplicate.id} into this lead ({moved} campaign memberships moved)",
    )
    await change(
        session,
        duplicate,
        action="merged_into",
        actor=actor,
        status=LeadStatus.DISQUALIFIED,
        values={"disqualified_reason": "duplicate", "merged_into_id": survivor.id},
        note=f"merged into lead {survivor.id}",
    )
    return changes


@dataclass(frozen=True)
class DuplicateHit:
    lead_id: uuid.UUID
    matched_on: list[str]


def _same_person(row: Any, first_name: str, last_name: str) -> bool:
    return bool(
        row.first_name.strip().lower() == first_name.strip().lower()
        and row.last_name.strip().lower() == last_name.strip().lower()
    )


@dataclass(frozen=True)
class DuplicateProbe:
    """What duplicate detection compares: the email, or the normalised company with the person's name."""

    email: str | None
    company_normalized: str
    first_name: str
    last_name: str


def match_of(existing: Any, probe: DuplicateProbe) -> list[str]:
    matched = []
    if probe.email and existing.email == probe.email:
        matched.append("email")
    if existing.company_normalized == probe.company_normalized and _same_person(
        existing, probe.first_name, probe.last_name
    ):
        matched.append("company_and_name")
    return matched


async def find_duplicates(session: AsyncSession, probes: Mapping[K, DuplicateProbe]) -> dict[K, list[DuplicateHit]]:
    """For each probe (a lead about to be created), the live leads already held that match it:
    the same email, or the same normalised company and person's name."""
    emails = {p.email for p in probes.values() if p.email}
    companies = {p.company_normalized for p in probes.values()}
    existing = await LeadStore(session).duplicate_keys(emails=emails, companies=companies)
    by_email: dict[str, list[Any]] = defaultdict(list)
    by_company: dict[str, list[Any]] = defaultdict(list)
    for row in existing:
        if row.email:
            by_email[row.email].append(row)
        by_company[row.company_normalized].append(row)
    found: dict[K, list[DuplicateHit]] = {}
    for key, probe in probes.items():
        hits: dict[uuid.UUID, list[str]] = {}
        nearby = by_email.get(probe.email, []) if probe.email else []
        for row in [*nearby, *by_company.get(probe.company_normalized, [])]:
            if matched := match_of(row, probe):
                hits[row.id] = sorted(set(hits.get(row.id, [])) | set(matched))
        if hits:
            found[key] = [DuplicateHit(k, v) for k, v in hits.items()]
    return found


async def create_many(
    session: AsyncSession, rows: list[dict[str, Any]], *, actor: Principal, provenance: str
) -> list[uuid.UUID]:
    """Bulk intake (CSV import): one INSERT per few thousand rows, history and events in bulk too.

    Each lead's "created" entry names where it came from (`provenance`, e.g. the import) instead of
    repeating every value: the row itself holds those, and 100k snapshots would triple the import time.
    """
    now = session.info["clock"].now()
    for row in rows:
        row.setdefault("id", new_id())
        row.update(created_at=now, updated_at=now, version=1, status=LeadStatus.NEW, partner_id=None)
        row["company_normalized"] = normalize_company(row["company"])
    columns = set().union(*rows)
    for row in rows:  # every row with every column (None where empty): one INSERT takes them all
        for column in columns - row.keys():
            row[column] = None
    await LeadStore(session).insert_many(rows)
    source = {"source": [None, str(rows[0]["source"])]} if rows else {}
    await record_activities(
        session,
        [
            {
                "entity_type": ENTITY,
                "entity_id": row["id"],
                "action": "created",
                "actor": actor,
                "changes": source,
                "note": provenance,
            }
            for row in rows
        ],
    )
    await publish_events(session, "lead.created", [{"id": str(row["id"]), "company": row["company"]} for row in rows])
    return [row["id"] for row in rows]


async def vendor_staff_emails(session: AsyncSession, roles: Collection[Role]) -> list[str]:
    return await LeadStore(session).active_emails_with_role(roles)


async def partner_contacts(
    session: AsyncSession, partner_ids: Collection[uuid.UUID], *, admins_only: bool = False
) -> list[Any]:
    """Active users of these partners: (id, email, partner_id, role)."""
    return await LeadStore(session).partner_people(partner_ids, admins_only=admins_only) if partner_ids else []


def partner_admin_addresses(partner_ids: Select[tuple[uuid.UUID]]) -> Select[tuple[str]]:
    """The query of the active admins' addresses of the partners `partner_ids` (a query) selects."""
    return LeadStore.admin_addresses(partner_ids)


async def product_ids_by_sku(session: AsyncSession) -> dict[str, uuid.UUID]:
    return await LeadStore(session).product_ids_by_sku()


async def partner_standing(
    session: AsyncSession, partner_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, PartnerStanding]:
    """Tier, active, name and place of each partner: eligibility for routed leads, named in explanations."""
    return await LeadStore(session).partner_standing(partner_ids)


async def user_standing(session: AsyncSession, user_id: uuid.UUID) -> UserStanding | None:
    """Email, role, partner, active and name of a routing target."""
    return await LeadStore(session).user_standing(user_id)


async def won_opportunities(session: AsyncSession, opportunity_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """(id, amount_minor, currency) of the given opportunities that are Closed Won."""
    return await LeadStore(session).won_opportunities(opportunity_ids)
