"""What routing reads, read once per request or timer run and kept for its length: the active
rules, programs, groups, and rosters of the partners a target draws on (their terms, loads and
recent answers), with the partners' standing, certifications and who passed on which lead.

Nothing outlives the unit of work: each request reads the configuration as it is then. Within
one, a partner's leads held are its stored load plus what this unit of work changed (an offer it
made counts at once), so routing several leads in one request sees each earlier pick.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import msgspec
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.rows import read_row
from prm.core.seeds import SeedSource
from prm.crm.models import Lead
from prm.crm.repository import PartnerStanding, UserStanding
from prm.crm.services import lead_pipeline
from prm.lead_distribution.models import PartnerGroup, TargetKind
from prm.lead_distribution.repository import ConfigStore
from prm.lead_distribution.repository.base import Circle
from prm.lead_distribution.repository.loads import pending_loads
from prm.lead_distribution.repository.routing import RosterRow, RoutingStore
from prm.lead_distribution.rules import Conditions, PartnerProfile, Place
from prm.lead_distribution.service.eligibility import Known, Pool, ProgramTerms, profiles

STATS_WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class ActiveRule:
    """An active routing rule as routing reads it: its conditions are parsed when first tried."""

    id: uuid.UUID
    name: str
    position: int
    conditions_json: str
    target_kind: TargetKind
    target_user_id: uuid.UUID | None
    target_partner_id: uuid.UUID | None
    target_group_id: uuid.UUID | None
    program_id: uuid.UUID | None
    program: ProgramTerms | None  # its program's terms, active or not

    @classmethod
    def of(cls, row: Row[Any]) -> ActiveRule:
        """From a row of RoutingStore.active_rules, by column name (its program's terms too)."""
        has_program = row.program_id is not None and row.program_name is not None
        return read_row(cls, row, program=ProgramTerms.of(row) if has_program else None)

    @cached_property
    def conditions(self) -> Conditions:
        """countries, regions, size bands, products, score bands, sources (empty: any)."""
        return Conditions(*msgspec.json.decode(self.conditions_json, type=tuple[list[str], ...]))


class Lookups:
    def __init__(self, session: AsyncSession, *, now: datetime, many: bool = False) -> None:
        """`many`: several leads will be routed, so rosters and whole circles' certifications
        are read once and kept; one lead reads only what concerns it."""
        self.session, self.now, self.many = session, now, many
        self.seeds: SeedSource = session.info["seeds"]  # the weighted pick's, injected like the clock
        self.store, self.config = RoutingStore(session), ConfigStore(session)
        self._rules: list[ActiveRule] | None = None
        self._programs: dict[uuid.UUID, ProgramTerms | None] = {}
        self._groups: dict[uuid.UUID, PartnerGroup | None] = {}
        self._program_of: dict[uuid.UUID, uuid.UUID | None] = {}
        self._users: dict[uuid.UUID, UserStanding | None] = {}
        self._standing: dict[uuid.UUID, PartnerStanding | None] = {}
        self._rosters: dict[tuple[Circle, uuid.UUID | None], list[RosterRow]] = {}
        self._certified_sets: dict[tuple[Circle, uuid.UUID], set[uuid.UUID]] = {}
        self._passed: dict[uuid.UUID, set[uuid.UUID]] = {}
        self._territories: dict[str, list[str]] = {}  # JSON text -> list, most partners share a few
        self._taken: Counter[uuid.UUID] = Counter()  # offers decided in this run, not written yet

    # Configuration ---------------------------------------------------------------------------

    async def rules(self) -> list[ActiveRule]:
        """The active rules in order; their programs' terms come with them."""
        if self._rules is None:
            self._rules = [ActiveRule.of(row) for row in await self.store.active_rules()]
            for rule in self._rules:
                if rule.program_id is not None:
                    self._programs[rule.program_id] = rule.program if rule.program and rule.program.active else None
        return self._rules

    async def program(self, program_id: uuid.UUID | None) -> ProgramTerms | None:
        """The program if it exists and is active."""
        if program_id is None:
            return None
        if program_id not in self._programs:
            row = await self.store.program(program_id)
            program = ProgramTerms.of(row) if row is not None else None
            self._programs[program_id] = program if program is not None and program.active else None
        return self._programs[program_id]

    async def group(self, group_id: uuid.UUID) -> PartnerGroup | None:
        if group_id not in self._groups:
            self._groups[group_id] = await self.config.group(group_id)
        return self._groups[group_id]

    async def program_of_partner(self, partner_id: uuid.UUID) -> uuid.UUID | None:
        if partner_id not in self._program_of:
            self._program_of[partner_id] = await self.config.program_of_partner(partner_id)
        return self._program_of[partner_id]

    async def user(self, user_id: uuid.UUID) -> UserStanding | None:
        if user_id not in self._users:
            self._users[user_id] = await lead_pipeline.user_standing(self.session, user_id)
        return self._users[user_id]

    async def user_name(self, user_id: uuid.UUID | None) -> str:
        """How an explanation names a user: their name, never their id."""
        user = await self.user(user_id) if user_id is not None else None
        return str(user.name) if user is not None else "a user who is not there"

    # Partners --------------------------------------------------------------------------------

    async def places(self, partner_ids: Sequence[str]) -> dict[str, Place]:
        """Each partner's country and coordinates (read with its standing)."""
        standing = await self._standing_of([uuid.UUID(p) for p in partner_ids])
        found = {p: standing.get(uuid.UUID(p)) for p in partner_ids}
        return {
            p: Place(row.country, row.latitude, row.longitude) if row else Place(None, None, None)
            for p, row in found.items()
        }

    async def partner_name(self, partner_id: uuid.UUID | str) -> str:
        """How an explanation names a partner: its name, never its id (read with its standing)."""
        key = uuid.UUID(str(partner_id))
        standing = (await self._standing_of([key])).get(key)
        return str(standing.name) if standing is not None else "a partner that is not there"

    async def roster(self, circle: Circle, program: ProgramTerms | None, lead: Lead) -> list[RosterRow]:
        """The circle's partners with their terms in `program` (see RoutingStore.roster)."""
        since, program_id = self.now - STATS_WINDOW, program.id if program else None
        if not self.many:
            return await self.store.roster(circle, program_id=program_id, since=since, lead=(lead.id, lead.product_id))
        key = (circle, program_id)
        if key not in self._rosters:
            self._rosters[key] = await self.store.roster(circle, program_id=program_id, since=since)
        return self._rosters[key]

    async def known(
        self, circle: Circle, roster: Sequence[RosterRow], *, lead: Lead, group: PartnerGroup | None
    ) -> Known:
        ids = [row.partner_id for row in roster]
        if self.many:
            certified, passed = await self._certified(circle, lead.product_id), await self.passed(lead.id)
        else:
            certified = {r.partner_id for r in roster if r.certified} if lead.product_id else None
            passed = {r.partner_id for r in roster if r.passed}
        return Known(
            standing=await self._standing_of(ids),
            held=self._held(),
            certified=certified,
            passed=passed,
            claims=await self.store.open_claims(group.id) if group is not None else {},
            territories=self._territories,
        )

    def _held(self) -> dict[uuid.UUID, int]:
        """Leads taken on or given up in this unit of work: written already, or decided in this run."""
        held = pending_loads(self.session)
        for partner_id, taken in self._taken.items():
            held[partner_id] = held.get(partner_id, 0) + taken
        return held

    def took(self, partner_id: uuid.UUID | None) -> None:
        """An offer to the partner was decided: it counts against its capacity for the rest of the run."""
        if partner_id is not None:
            self._taken[partner_id] += 1

    async def profiles(
        self, circle: Circle, pool: Pool, *, lead: Lead, group: PartnerGroup | None = None
    ) -> list[PartnerProfile]:
        """Every partner of the circle, profiled for the lead."""
        roster = await self.roster(circle, None if group is not None else pool.program, lead)
        known = await self.known(circle, roster, lead=lead, group=group)
        return profiles(roster, lead=lead, pool=pool, known=known, group=group)

    async def _standing_of(self, partner_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PartnerStanding | None]:
        missing = [p for p in partner_ids if p not in self._standing]
        if missing:
            found = await lead_pipeline.partner_standing(self.session, missing)
            self._standing.update({p: found.get(p) for p in missing})
        return self._standing

    async def _certified(self, circle: Circle, product_id: uuid.UUID | None) -> set[uuid.UUID] | None:
        """The circle's partners certified for the product (None: the lead names no product)."""
        if product_id is None:
            return None
        key = (circle, product_id)
        if key not in self._certified_sets:
            self._certified_sets[key] = await self.store.certified_for(circle, product_id)
        return self._certified_sets[key]

    async def read_passed(self, lead_ids: Iterable[uuid.UUID]) -> None:
        """Who passed on each of these leads, read at once (before routing several)."""
        ids = [i for i in lead_ids if i not in self._passed]
        found = await self.store.passed_on(ids)
        self._passed.update({i: found.get(i, set()) for i in ids})

    async def passed(self, lead_id: uuid.UUID) -> set[uuid.UUID]:
        if lead_id not in self._passed:
            await self.read_passed([lead_id])
        return self._passed[lead_id]
