"""The lead distribution bench's world, written straight into the tables: partners with a user
each, products and certifications, lead programs with members and territories, shark-tank
groups, a recent history of answered offers (the acceptance rates and times the weights use),
and 50 ordered routing rules over country, size band, product and score band.

Also the CSV the import measures: generated in memory, with the columns routing looks at.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bench._harness import Seeder
from prm.core.auth import Role
from prm.core.db import new_id
from prm.core.passwords import hash_password
from prm.crm.models import Lead, LeadSource, LeadStatus, Partner, PartnerTier, Product, User
from prm.lead_distribution.models import (
    HOLDING,
    CertifiedProduct,
    GroupMember,
    LeadOffer,
    LeadProgram,
    OfferKind,
    OfferStatus,
    PartnerGroup,
    PartnerLoad,
    ProgramMember,
    RoutingDecision,
    RoutingMode,
    RoutingOutcome,
    RoutingRule,
    TargetKind,
)

PASSWORD = "bench-password-1234"  # noqa: S105 - what bench._harness.token_for signs in with
COUNTRIES = ("US", "DE", "FR", "GB", "NL", "ES", "IT", "SE", "PL", "JP")
OUTSIDE = ("BR", "MX", "IN")  # no country program covers these: the catch-all rule takes them
US_REGIONS = ("Texas", "California", "New York", "Ohio")
SIZE_BANDS = ("small", "medium", "large", "enterprise")
PRODUCTS = 20
CERTIFIED_PER_PARTNER = 6
TIERS = [PartnerTier.PLATINUM] * 1 + [PartnerTier.GOLD] * 3 + [PartnerTier.SILVER] * 4 + [PartnerTier.REGISTERED] * 2
TIER_WEIGHT = {PartnerTier.PLATINUM: 200, PartnerTier.GOLD: 150, PartnerTier.SILVER: 100, PartnerTier.REGISTERED: 50}
PROGRAM_CAP = 400  # open leads per partner in the country programs
STORM_PARTNERS = 100
TIME_FRAMES = ("immediate", "this_quarter", "six_months", "this_year", "later", "")


@dataclass
class LeadWorld:
    admin: str
    manager: str
    partner_ids: list[uuid.UUID]
    partner_users: dict[uuid.UUID, str]  # partner -> its admin's email
    product_skus: list[str]
    storm_group_id: uuid.UUID
    storm_emails: list[str]
    rules: int
    programs: int
    history_offers: int
    counts: dict[str, int] = field(default_factory=dict)


def _stamped(seeder: Seeder, **values: Any) -> dict[str, Any]:
    return {**seeder.stamps(), **values}


async def seed_world(database_url: str, *, partners: int, history: int, seed: int) -> LeadWorld:
    rng = random.Random(seed)
    seeder = Seeder(database_url)
    try:
        password_hash = hash_password(PASSWORD)
        partner_rows = [
            _stamped(
                seeder,
                name=f"Bench Partner {i:04d}",
                tier=TIERS[i % len(TIERS)],
                country=COUNTRIES[i % len(COUNTRIES)],
                active=rng.random() > 0.02,
            )
            for i in range(partners)
        ]
        await seeder.insert(Partner, partner_rows)
        ids = [row["id"] for row in partner_rows]
        users = [
            _user(seeder, f"admin@p{i:04d}.bench.example", Role.PARTNER_ADMIN, pid, password_hash)
            for i, pid in enumerate(ids)
        ]
        staff = [
            _user(seeder, "admin@vendor.bench.example", Role.VENDOR_ADMIN, None, password_hash),
            _user(seeder, "manager@vendor.bench.example", Role.CHANNEL_MANAGER, None, password_hash),
            _user(seeder, "direct@vendor.bench.example", Role.CHANNEL_MANAGER, None, password_hash),
        ]
        await seeder.insert(User, users + staff)
        products = [
            _stamped(seeder, sku=f"LD-{n:02d}", name=f"Bench product {n}", list_price_minor=1_000_00, currency="EUR")
            for n in range(PRODUCTS)
        ]
        await seeder.insert(Product, products)
        certified = {pid: rng.sample(range(PRODUCTS), CERTIFIED_PER_PARTNER) for pid in ids}
        await seeder.insert(
            CertifiedProduct,
            [
                {"partner_id": pid, "product_id": products[n]["id"], "certified_at": seeder.now - timedelta(days=200)}
                for pid, ns in certified.items()
                for n in ns
            ],
        )
        programs = await _programs(seeder, rng, partner_rows)
        active = {row["id"] for row in partner_rows if row["active"]}
        groups = await _groups(seeder, rng, ids, active, programs)
        rules = _rules(seeder, rng, partner_rows, certified, products, programs, groups, users, staff)
        await seeder.insert(RoutingRule, rules)
        offers = await _history(seeder, rng, ids, history)
        await seeder.analyze()
        storm = [users[ids.index(pid)]["email"] for pid in groups["storm"][1]]
        return LeadWorld(
            admin=staff[0]["email"],
            manager=staff[1]["email"],
            partner_ids=ids,
            partner_users={row["partner_id"]: row["email"] for row in users},
            product_skus=[p["sku"] for p in products],
            storm_group_id=groups["storm"][0],
            storm_emails=storm,
            rules=len(rules),
            programs=len(programs),
            history_offers=offers,
        )
    finally:
        await seeder.close()


def _user(seeder: Seeder, email: str, role: Role, partner_id: uuid.UUID | None, password_hash: str) -> dict[str, Any]:
    return _stamped(
        seeder,
        email=email,
        name=email.partition("@")[0],
        role=role,
        partner_id=partner_id,
        password_hash=password_hash,
        active=True,
    )


async def _programs(seeder: Seeder, rng: random.Random, partner_rows: list[dict[str, Any]]) -> dict[str, uuid.UUID]:
    """A program per country (its partners, that territory, silver and up), a global pool of
    every partner (everywhere, any tier), and the claim storm's (no cap worth the name)."""
    programs: dict[str, dict[str, Any]] = {
        country: _stamped(
            seeder,
            name=f"Leads {country}",
            eligible_tiers=["silver", "gold", "platinum"],
            max_open_leads=PROGRAM_CAP,
            min_acceptance_pct=20,
        )
        for country in COUNTRIES
    }
    programs["global"] = _stamped(
        seeder, name="Global pool", eligible_tiers=[], max_open_leads=PROGRAM_CAP, min_acceptance_pct=None
    )
    programs["storm"] = _stamped(
        seeder, name="Claim storm", eligible_tiers=[], max_open_leads=1_000_000, min_acceptance_pct=None
    )
    await seeder.insert(LeadProgram, list(programs.values()))
    joined = seeder.now - timedelta(days=365)
    members = []
    for row in partner_rows:
        weight = TIER_WEIGHT[row["tier"]]
        members.append(_member(programs[row["country"]]["id"], row["id"], weight, [row["country"]], joined))
        members.append(_member(programs["global"]["id"], row["id"], weight, [], joined))
        # A few partners also cover a neighbouring country.
        if rng.random() < 0.1:
            other = rng.choice([c for c in COUNTRIES if c != row["country"]])
            members.append(_member(programs[other]["id"], row["id"], weight // 2, [other], joined))
    await seeder.insert(ProgramMember, members)
    return {key: row["id"] for key, row in programs.items()}


def _member(
    program_id: uuid.UUID, partner_id: uuid.UUID, weight: int, territories: list[str], joined: Any
) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "partner_id": partner_id,
        "weight": weight,
        "max_open_leads": None,
        "territories": territories,
        "joined_at": joined,
    }


async def _groups(
    seeder: Seeder, rng: random.Random, ids: list[uuid.UUID], active: set[uuid.UUID], programs: dict[str, uuid.UUID]
) -> dict[str, tuple[uuid.UUID, list[uuid.UUID]]]:
    """The hot-lead shark tank the rules use, and the claim storm's group of 100 active partners
    (every one eligible for the storm's lead, so every claim is a real contender)."""
    hot = rng.sample(ids, 100)
    storm = rng.sample([pid for pid in active if pid not in hot], STORM_PARTNERS)
    groups = {
        "hot": (_stamped(seeder, name="Hot tank", program_id=programs["global"], max_open_claims_per_partner=50), hot),
        "storm": (
            _stamped(seeder, name="Storm tank", program_id=programs["storm"], max_open_claims_per_partner=1000),
            storm,
        ),
    }
    await seeder.insert(PartnerGroup, [row for row, _ in groups.values()])
    await seeder.insert(
        GroupMember,
        [
            {"group_id": row["id"], "partner_id": pid, "added_at": seeder.now - timedelta(days=100)}
            for row, members in groups.values()
            for pid in members
        ],
    )
    return {key: (row["id"], members) for key, (row, members) in groups.items()}


def _rule(seeder: Seeder, position: int, name: str, target: TargetKind, **values: Any) -> dict[str, Any]:
    conditions = ("countries", "regions", "size_bands", "product_ids", "score_bands", "sources")
    return _stamped(
        seeder,
        name=name,
        position=position,
        active=True,
        target_kind=target,
        target_user_id=values.pop("user_id", None),
        target_partner_id=values.pop("partner_id", None),
        target_group_id=values.pop("group_id", None),
        program_id=values.pop("program_id", None),
        **{c: values.pop(c, []) for c in conditions},
    )


def _rules(
    seeder: Seeder,
    rng: random.Random,
    partner_rows: list[dict[str, Any]],
    certified: dict[uuid.UUID, list[int]],
    products: list[dict[str, Any]],
    programs: dict[str, uuid.UUID],
    groups: dict[str, tuple[uuid.UUID, list[uuid.UUID]]],
    users: list[dict[str, Any]],
    staff: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """50 rules: hot enterprise leads to the shark tank, hot large ones direct, five product
    specialists by country, one named rep, 40 country x size band pools, leads from countries
    outside every program to the shark tank, and a global catch-all."""
    made = [
        _rule(
            seeder,
            1,
            "Hot enterprise: shark tank",
            TargetKind.SHARK_TANK,
            size_bands=["enterprise"],
            score_bands=["hot"],
            group_id=groups["hot"][0],
        ),
        _rule(
            seeder,
            2,
            "Hot large in the US: direct sales",
            TargetKind.INTERNAL_REP,
            countries=["US"],
            size_bands=["large"],
            score_bands=["hot"],
            user_id=staff[2]["id"],
        ),
    ]
    active_gold = [r for r in partner_rows if r["active"] and r["tier"] in (PartnerTier.GOLD, PartnerTier.PLATINUM)]
    for n, row in enumerate(rng.sample(active_gold, 5)):
        product = products[certified[row["id"]][0]]
        made.append(
            _rule(
                seeder,
                3 + n,
                f"{product['sku']} in {row['country']}: specialist",
                TargetKind.PARTNER,
                countries=[row["country"]],
                product_ids=[str(product["id"])],
                partner_id=row["id"],
                program_id=programs[row["country"]],
            )
        )
    rep = next(u for u, r in zip(users, partner_rows, strict=True) if r["country"] == "JP" and r["active"])
    made.append(
        _rule(
            seeder,
            8,
            "Small companies in Japan: named rep",
            TargetKind.PARTNER_USER,
            countries=["JP"],
            size_bands=["small"],
            user_id=rep["id"],
            program_id=programs["JP"],
        )
    )
    position = 9
    for country in COUNTRIES:
        for band in SIZE_BANDS:
            made.append(
                _rule(
                    seeder,
                    position,
                    f"{country} {band}",
                    TargetKind.PROGRAM_POOL,
                    countries=[country],
                    size_bands=[band],
                    program_id=programs[country],
                )
            )
            position += 1
    # Countries no program covers: offered to the shark tank, whoever is quickest takes it.
    made.append(
        _rule(
            seeder,
            position,
            "Outside the programs: shark tank",
            TargetKind.SHARK_TANK,
            countries=list(OUTSIDE),
            group_id=groups["hot"][0],
        )
    )
    made.append(
        _rule(
            seeder, position + 1, "Everything else: global pool", TargetKind.PROGRAM_POOL, program_id=programs["global"]
        )
    )
    return made


async def _history(seeder: Seeder, rng: random.Random, ids: list[uuid.UUID], count: int) -> int:
    """Answered offers of the last 90 days (a lead and a decision each): the acceptance rates and
    times to accept that weigh each partner, and the open-lead counts its cap is checked against."""
    leads, decisions, offers = [], [], []
    statuses = (
        [OfferStatus.CONVERTED] * 5
        + [OfferStatus.ACCEPTED] * 1
        + [OfferStatus.DECLINED] * 3
        + [OfferStatus.EXPIRED] * 1
    )
    lead_status = {OfferStatus.CONVERTED: LeadStatus.CONVERTED, OfferStatus.ACCEPTED: LeadStatus.ACCEPTED}
    for n in range(count):
        partner_id = rng.choice(ids)
        offered = seeder.now - timedelta(seconds=rng.randrange(86_400, 88 * 86_400))
        status = rng.choice(statuses)
        lead = _stamped(
            seeder,
            first_name="Past",
            last_name=f"Lead {n}",
            company=f"Past Customer {n}",
            company_normalized=f"past customer {n}",
            source=LeadSource.OTHER,
            status=lead_status.get(status, LeadStatus.DISQUALIFIED),
            partner_id=partner_id if status in lead_status else None,
            score=rng.randrange(101),
        )
        decision = {
            "id": new_id(),
            "lead_id": lead["id"],
            "decided_at": offered,
            "mode": RoutingMode.RULES,
            "target_kind": TargetKind.PROGRAM_POOL,
            "outcome": RoutingOutcome.OFFERED,
            "partner_id": partner_id,
            "candidates": [],
            "excluded": [],
            "rules": [],
            "explanation": "seeded history",
        }
        answered = rng.randrange(600, 3 * 86_400)
        offers.append(
            _stamped(
                seeder,
                lead_id=lead["id"],
                decision_id=decision["id"],
                kind=OfferKind.DIRECT,
                status=status,
                partner_id=partner_id,
                offered_at=offered,
                respond_by=offered + timedelta(hours=48),
                responded_at=offered + timedelta(seconds=answered),
                response_seconds=answered,
            )
        )
        leads.append(lead)
        decisions.append(decision)
    await seeder.insert(Lead, leads)
    await seeder.insert(RoutingDecision, decisions)
    await seeder.insert(LeadOffer, offers)
    # What the offer store keeps for every partner: the leads it holds (open and accepted offers).
    held = Counter(o["partner_id"] for o in offers if o["status"] in HOLDING)
    await seeder.insert(PartnerLoad, [{"partner_id": p, "holding": n} for p, n in held.items()])
    return len(offers)


# --- the CSV ----------------------------------------------------------------------------------

HEADER = (
    "First Name,Last Name,Company,Email,Phone,Title,Country,Region,Employees,Need,Product,Time Frame,Budget,Currency"
)


def leads_csv(rows: int, skus: list[str], seed: int) -> bytes:
    """`rows` leads as a CSV upload: all valid, spread over the countries, sizes and products the
    rules look at (a tenth without a size, a few outside every country program)."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER.split(","))
    for n in range(rows):
        country = rng.choice(OUTSIDE) if rng.random() < 0.03 else rng.choice(COUNTRIES)
        employees = "" if rng.random() < 0.1 else str(int(rng.lognormvariate(4.5, 1.6)) + 1)
        writer.writerow(
            [
                f"First{n}",
                f"Last{n}",
                f"Bench Customer {n} GmbH",
                f"buyer{n}@customer{n}.example",
                f"+49 30 {n:07d}",
                rng.choice(("CIO", "IT Manager", "Head of Security", "")),
                country,
                rng.choice(US_REGIONS) if country == "US" else "",
                employees,
                rng.choice(("Firewalls at end of life", "Moving to SD-WAN", "")),
                rng.choice(skus) if rng.random() < 0.6 else "",
                rng.choice(TIME_FRAMES),
                str(rng.choice((0, 500_000, 2_500_000, 20_000_000))) if rng.random() < 0.7 else "",
                "EUR",
            ]
        )
    return out.getvalue().encode()
