"""The rules of lead distribution as pure functions: scoring, bands, rule conditions, partner
eligibility, weights, and the seeded weighted pick. No database, no clock: unit-testable and
replayable from what a routing decision stored.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

MIN_HISTORY = 5  # decided offers before a partner's acceptance rate counts
NEUTRAL_ACCEPTANCE_PCT = 50  # what a partner without enough history is assumed to have


# Scores and bands ----------------------------------------------------------------------------


class Band(StrEnum):
    COLD = "cold"
    WARM = "warm"
    HOT = "hot"


BAND_RANGES: dict[Band, tuple[int, int]] = {Band.COLD: (0, 30), Band.WARM: (31, 75), Band.HOT: (76, 100)}


def band_of(score: int) -> Band:
    """The seed's bands: 0-30 cold, 31-75 warm, 76-100 hot."""
    if score >= BAND_RANGES[Band.HOT][0]:
        return Band.HOT
    if score >= BAND_RANGES[Band.WARM][0]:
        return Band.WARM
    return Band.COLD


class SizeBand(StrEnum):
    SMALL = "small"  # 1-49 employees
    MEDIUM = "medium"  # 50-249
    LARGE = "large"  # 250-999
    ENTERPRISE = "enterprise"  # 1000+


def size_band(employees: int | None) -> SizeBand | None:
    if employees is None:
        return None
    if employees >= 1000:
        return SizeBand.ENTERPRISE
    if employees >= 250:
        return SizeBand.LARGE
    if employees >= 50:
        return SizeBand.MEDIUM
    return SizeBand.SMALL


@dataclass(frozen=True)
class Criterion:
    name: str
    attribute: str
    operator: str
    values: tuple[Any, ...]
    points: int


def _c(name: str, attribute: str, operator: str, values: tuple[Any, ...], points: int) -> Criterion:
    return Criterion(name, attribute, operator, values, points)


# Used while a vendor admin has configured no criteria of their own.
DEFAULT_CRITERIA: tuple[Criterion, ...] = (
    _c("Buying now", "time_frame", "one_of", ("immediate",), 30),
    _c("Buying this quarter", "time_frame", "one_of", ("this_quarter",), 20),
    _c("Buying within six months", "time_frame", "one_of", ("six_months",), 10),
    _c("Budget of 10,000 or more", "budget_minor", "at_least", (1_000_000,), 20),
    _c("Budget of 100,000 or more", "budget_minor", "at_least", (10_000_000,), 10),
    _c("250 employees or more", "employees", "at_least", (250,), 10),
    _c("1,000 employees or more", "employees", "at_least", (1000,), 5),
    _c("Product of interest known", "product_id", "present", (), 15),
    _c("Current situation described", "current_situation", "present", (), 10),
    _c("Referred or existing customer", "source", "one_of", ("referral", "existing_customer"), 5),
)


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def criterion_met(criterion: Criterion, attributes: Mapping[str, Any]) -> bool:
    value = attributes.get(criterion.attribute)
    if not _present(value):
        return False
    if criterion.operator == "present":
        return True
    if criterion.operator == "one_of":
        return str(value).lower() in {str(v).lower() for v in criterion.values}
    if criterion.operator == "at_least":
        return isinstance(value, int) and bool(criterion.values) and value >= int(criterion.values[0])
    if criterion.operator == "contains":
        text = str(value).lower()
        return any(str(v).lower() in text for v in criterion.values)
    return False


@dataclass(frozen=True)
class Score:
    value: int
    matched: list[tuple[str, int]]

    @property
    def band(self) -> Band:
        return band_of(self.value)

    def explain(self) -> str:
        parts = [f"{name} ({points:+d})" for name, points in self.matched] or ["no criterion met"]
        return f"score {self.value} ({self.band.value}): " + ", ".join(parts)


def score(attributes: Mapping[str, Any], criteria: Sequence[Criterion]) -> Score:
    """The sum of the points of every criterion met, kept within 0-100."""
    matched = [(c.name, c.points) for c in criteria if criterion_met(c, attributes)]
    total = sum(points for _, points in matched)
    return Score(max(0, min(100, total)), matched)


# Rule conditions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadFacts:
    """What routing looks at."""

    country: str | None
    region: str | None
    employees: int | None
    product_id: str | None
    score: int
    source: str

    @property
    def band(self) -> Band:
        return band_of(self.score)

    @property
    def size(self) -> SizeBand | None:
        return size_band(self.employees)


@dataclass(frozen=True)
class Conditions:
    countries: Sequence[str] = ()
    regions: Sequence[str] = ()
    size_bands: Sequence[str] = ()
    product_ids: Sequence[str] = ()
    score_bands: Sequence[str] = ()
    sources: Sequence[str] = ()


def _fold(values: Sequence[str]) -> frozenset[str]:
    return _folded(tuple(values))


@lru_cache(maxsize=4096)
def _folded(values: tuple[str, ...]) -> frozenset[str]:
    """Routing folds the same few lists (a rule's countries, a territory) for every partner."""
    return frozenset(v.strip().lower() for v in values)


def condition_miss(conditions: Conditions, facts: LeadFacts) -> str | None:
    """None when every condition holds (an empty list holds for any lead); else the first that fails."""
    checks: list[tuple[str, Sequence[str], str | None]] = [
        ("country", conditions.countries, facts.country),
        ("region", conditions.regions, facts.region),
        ("company size", conditions.size_bands, facts.size.value if facts.size else None),
        ("product", conditions.product_ids, facts.product_id),
        ("score band", conditions.score_bands, facts.band.value),
        ("source", conditions.sources, facts.source),
    ]
    for label, wanted, actual in checks:
        if wanted and (actual is None or actual.strip().lower() not in _fold(wanted)):
            return f"{label} {actual or 'unknown'} is not one of {', '.join(wanted)}"
    return None


# Eligibility and the pick --------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """A program's eligibility terms (defaults apply without a program)."""

    eligible_tiers: Sequence[str] = ()
    min_acceptance_pct: int | None = None


@dataclass(slots=True)
class PartnerProfile:
    partner_id: str
    active: bool
    tier: str
    territories: Sequence[str]
    certified_products: frozenset[str]
    holding: int  # open offers plus accepted, unconverted leads
    cap: int
    decided: int  # offers answered or left to expire in the recent window
    accepted: int
    avg_accept_seconds: int | None
    base_weight: int = 100
    passed_on_this_lead: bool = False  # declined it, or let an offer of it expire
    member: bool = True  # in the program the routing draws from
    group_claims: int = 0  # claimed leads from the shark-tank group still open
    group_cap: int | None = None

    @property
    def acceptance_pct(self) -> int | None:
        return self.accepted * 100 // self.decided if self.decided >= MIN_HISTORY else None


def ineligibility(profile: PartnerProfile, facts: LeadFacts, terms: Terms) -> list[str]:
    """Every reason this partner may not receive this lead (empty: eligible)."""
    reasons = []
    if not profile.active:
        reasons.append("partner is inactive")
    if not profile.member:
        reasons.append("not a member of the program")
    if profile.passed_on_this_lead:
        reasons.append("already declined this lead or let it expire")
    if terms.eligible_tiers and profile.tier not in terms.eligible_tiers:
        reasons.append(f"tier {profile.tier} is not one of {', '.join(terms.eligible_tiers)}")
    if facts.product_id and facts.product_id not in profile.certified_products:
        reasons.append("not certified for the product of interest")
    if profile.territories and not _fold((facts.country or "", facts.region or "")) & _fold(profile.territories):
        reasons.append(f"{facts.country or facts.region or 'unknown location'} is outside its territory")
    if profile.holding >= profile.cap:
        reasons.append(f"at capacity ({profile.holding} of {profile.cap} open leads)")
    if profile.group_cap is not None and profile.group_claims >= profile.group_cap:
        reasons.append(f"holds {profile.group_claims} open claims from this group (cap {profile.group_cap})")
    rate = profile.acceptance_pct
    if terms.min_acceptance_pct is not None and rate is not None and rate < terms.min_acceptance_pct:
        reasons.append(f"acceptance rate {rate}% is below {terms.min_acceptance_pct}%")
    return reasons


def weight(profile: PartnerProfile) -> int:
    """Base weight scaled by recent performance: acceptance rate, and a bonus for accepting fast.

    Factor = (50 + acceptance% / 2 + speed bonus)%, so a partner that accepts everything within
    four hours weighs 125 % of its base, one that accepts nothing 50 %.
    """
    rate = profile.acceptance_pct
    factor = 50 + (NEUTRAL_ACCEPTANCE_PCT if rate is None else rate) // 2
    seconds = profile.avg_accept_seconds
    if seconds is not None and rate is not None:
        factor += 25 if seconds <= 4 * 3600 else 10 if seconds <= 24 * 3600 else 0
    return max(1, profile.base_weight * factor // 100)


def pick(seed: int, weights: Sequence[int]) -> int:
    """The index picked with probability proportional to its weight; the same seed and weights
    always pick the same index, so anyone can replay a stored decision."""
    if not weights:
        raise ValueError("nothing to pick from")
    draw = random.Random(seed).randrange(sum(weights))  # noqa: S311 - fairness, replayable; not secrecy
    for index, item in enumerate(weights):
        if draw < item:
            return index
        draw -= item
    raise AssertionError("unreachable: draw < sum(weights)")


# Intake hygiene ------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE = re.compile(r"^\+[0-9 ().-]+$")


def formula_field(values: Mapping[str, Any]) -> str | None:
    """The first field whose text a spreadsheet would run as a formula (a phone number's leading
    + excepted); None when all are plain. Such text is refused, never stored for a later export."""
    for name, value in values.items():
        if isinstance(value, str) and value.startswith(_FORMULA_START):
            if name == "phone" and _PHONE.match(value):
                continue
            return name
    return None


# Geography -------------------------------------------------------------------------------------

# The boxes around a lead, widening until one holds an eligible partner (half-widths in km).
BOX_STEPS_KM = (50, 200, 1000)
EARTH_RADIUS_KM = 6371.0
KM_PER_DEGREE = 111.2


@dataclass(frozen=True)
class Place:
    """Where a lead or a partner is: its country, and coordinates when known (0.0 is one)."""

    country: str | None
    latitude: float | None
    longitude: float | None

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def point(self) -> tuple[float, float]:
        if self.latitude is None or self.longitude is None:
            raise ValueError("a place without coordinates has no point")
        return self.latitude, self.longitude


def _degrees_apart(a: float, b: float) -> float:
    """Longitudes' difference across the antimeridian too (179 and -179 are 2 apart)."""
    return abs((a - b + 180) % 360 - 180)


def in_box(centre: Place, other: Place, half_km: float) -> bool:
    (lat, lon), (other_lat, other_lon) = centre.point, other.point
    lat_span = half_km / KM_PER_DEGREE
    # A degree of longitude shrinks towards the poles; near them the box spans every longitude.
    shrink = math.cos(math.radians(lat))
    lon_span = 180.0 if shrink < 1e-6 else min(180.0, half_km / (KM_PER_DEGREE * shrink))
    return abs(other_lat - lat) <= lat_span and _degrees_apart(other_lon, lon) <= lon_span


def distance_km(a: Place, b: Place) -> float:
    """Great-circle distance (haversine) between two located places."""
    (a_lat, a_lon), (b_lat, b_lon) = a.point, b.point
    lat1, lat2 = math.radians(a_lat), math.radians(b_lat)
    dlat, dlon = lat2 - lat1, math.radians(b_lon - a_lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest_step(lead: Place, partners: Mapping[str, Place]) -> tuple[str, list[str]]:
    """The first step that finds partners, and those partners (keys in the order given):
    widening boxes around the lead, then the lead's country, then the nearest anywhere.
    A lead without coordinates starts at its country; without a country either, anyone."""
    located = {key: place for key, place in partners.items() if place.located}
    if lead.located:
        for half_km in BOX_STEPS_KM:
            inside = [key for key, place in located.items() if in_box(lead, place, half_km)]
            if inside:
                return f"within {half_km} km of the lead", inside
    if lead.country:
        same = [key for key, place in partners.items() if place.country == lead.country]
        if same:
            return f"in the lead's country ({lead.country})", same
    if lead.located and located:
        distances = {key: distance_km(lead, place) for key, place in located.items()}
        closest = min(distances.values())
        return f"nearest anywhere ({closest:.0f} km away)", [k for k, d in distances.items() if d == closest]
    return "anywhere: no place to compare with", list(partners)
