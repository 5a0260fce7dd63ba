"""The pure rules: bands, size bands, scoring, conditions, eligibility, weights, the seeded pick."""

from __future__ import annotations

from collections import Counter

import pytest

from prm.lead_distribution import rules
from prm.lead_distribution.rules import Band, Conditions, LeadFacts, PartnerProfile, Terms


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, Band.COLD), (30, Band.COLD), (31, Band.WARM), (75, Band.WARM), (76, Band.HOT), (100, Band.HOT)],
)
def test_the_seed_bands(score: int, band: Band) -> None:
    assert rules.band_of(score) is band


def test_size_bands() -> None:
    assert [rules.size_band(n) for n in (None, 1, 49, 50, 249, 250, 999, 1000)] == [
        None,
        "small",
        "small",
        "medium",
        "medium",
        "large",
        "large",
        "enterprise",
    ]


def test_default_scoring_adds_points_and_stays_within_100() -> None:
    hot = {
        "time_frame": "immediate",
        "budget_minor": 20_000_000,
        "product_id": "p",
        "current_situation": "x",
        "employees": 5000,
        "source": "referral",
    }
    result = rules.score(hot, rules.DEFAULT_CRITERIA)
    assert result.value == 100  # 30 + 20 + 10 + 15 + 10 + 10 + 5 + 5 = 105, capped
    assert result.band is Band.HOT
    assert "Buying now (+30)" in result.explain()
    assert rules.score({}, rules.DEFAULT_CRITERIA).value == 0
    negative = [rules.Criterion("Spammy", "email", "contains", ("mailinator",), -50)]
    assert rules.score({"email": "x@mailinator.com"}, negative).value == 0


def test_criteria_operators() -> None:
    at_least = rules.Criterion("big", "employees", "at_least", (100,), 10)
    assert rules.criterion_met(at_least, {"employees": 100})
    assert not rules.criterion_met(at_least, {"employees": 99})
    assert not rules.criterion_met(at_least, {"employees": None})
    one_of = rules.Criterion("eu", "country", "one_of", ("DE", "FR"), 5)
    assert rules.criterion_met(one_of, {"country": "de"})
    assert not rules.criterion_met(one_of, {"country": "US"})
    contains = rules.Criterion("buyer", "title", "contains", ("cto", "head of"), 5)
    assert rules.criterion_met(contains, {"title": "Head of IT"})
    assert not rules.criterion_met(rules.Criterion("p", "phone", "present", (), 1), {"phone": "  "})


FACTS = LeadFacts(country="US", region="Texas", employees=300, product_id="fw", score=50, source="web")


def test_conditions_empty_lists_match_anything_and_misses_are_named() -> None:
    assert rules.condition_miss(Conditions(), FACTS) is None
    assert rules.condition_miss(Conditions(countries=["us"], size_bands=["large"], score_bands=["warm"]), FACTS) is None
    assert rules.condition_miss(Conditions(countries=["DE", "FR"]), FACTS) == "country US is not one of DE, FR"
    assert "score band warm" in str(rules.condition_miss(Conditions(score_bands=["hot"]), FACTS))
    assert "company size unknown" in str(
        rules.condition_miss(Conditions(size_bands=["small"]), LeadFacts(None, None, None, None, 0, "web"))
    )


def profile(**overrides: object) -> PartnerProfile:
    values: dict[str, object] = {
        "partner_id": "p1",
        "active": True,
        "tier": "gold",
        "territories": [],
        "certified_products": frozenset({"fw"}),
        "holding": 0,
        "cap": 5,
        "decided": 0,
        "accepted": 0,
        "avg_accept_seconds": None,
    }
    values.update(overrides)
    return PartnerProfile(**values)  # type: ignore[arg-type]


def test_every_ineligibility_reason() -> None:
    assert rules.ineligibility(profile(), FACTS, Terms()) == []
    reasons = rules.ineligibility(
        profile(
            active=False,
            passed_on_this_lead=True,
            tier="silver",
            certified_products=frozenset(),
            territories=["DE"],
            holding=5,
            decided=10,
            accepted=2,
            member=False,
            group_claims=3,
            group_cap=3,
        ),
        FACTS,
        Terms(eligible_tiers=["gold"], min_acceptance_pct=50),
    )
    assert reasons == [
        "partner is inactive",
        "not a member of the program",
        "already declined this lead or let it expire",
        "tier silver is not one of gold",
        "not certified for the product of interest",
        "US is outside its territory",
        "at capacity (5 of 5 open leads)",
        "holds 3 open claims from this group (cap 3)",
        "acceptance rate 20% is below 50%",
    ]
    assert rules.ineligibility(profile(territories=["texas"]), FACTS, Terms()) == []
    # Too little history: the acceptance floor does not apply yet.
    assert rules.ineligibility(profile(decided=4, accepted=0), FACTS, Terms(min_acceptance_pct=50)) == []


def test_weights_follow_acceptance_and_speed() -> None:
    assert rules.weight(profile()) == 75  # no history: neutral
    assert rules.weight(profile(decided=10, accepted=10, avg_accept_seconds=3600)) == 125
    assert rules.weight(profile(decided=10, accepted=10, avg_accept_seconds=20 * 3600)) == 110
    assert rules.weight(profile(decided=10, accepted=0)) == 50
    assert rules.weight(profile(base_weight=1, decided=10, accepted=0)) == 1


def test_the_pick_is_replayable_and_proportional() -> None:
    weights = [100, 300]
    assert {rules.pick(42, weights) for _ in range(5)} == {rules.pick(42, weights)}
    drawn = Counter(rules.pick(seed, weights) for seed in range(4000))
    assert 0.2 < drawn[0] / 4000 < 0.3  # a quarter of the weight, a quarter of the picks
    with pytest.raises(ValueError, match="nothing"):
        rules.pick(1, [])


def test_formulas_are_spotted_but_phone_numbers_pass() -> None:
    assert rules.formula_field({"company": "Acme", "phone": "+1 (555) 010-0100"}) is None
    assert rules.formula_field({"company": '=HYPERLINK("http://x")'}) == "company"
    assert rules.formula_field({"first_name": "@SUM(A1)"}) == "first_name"
    assert rules.formula_field({"phone": "+1+cmd|' /C calc'!A0"}) == "phone"
    assert rules.formula_field({"title": "-2+3"}) == "title"
