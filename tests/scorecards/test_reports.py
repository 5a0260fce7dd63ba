"""Every figure of every report against the known data set (tests/scorecards/dataset.py),
worked out by hand in each test."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Actor, World
from tests.scorecards.dataset import DataSet

pytestmark = pytest.mark.asyncio

API = "/api/v1/scorecards"


async def rows(client: httpx.AsyncClient, actor: Actor, path: str, **params: Any) -> list[dict[str, Any]]:
    reply = await client.get(f"{API}{path}", params=params, headers=actor.headers)
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["rows"]
    return found


def pick(found: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    hits = [row for row in found if all(row[k] == v for k, v in match.items())]
    assert len(hits) == 1, (match, found)
    return hits[0]


async def test_indirect_against_direct_by_month(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/sales/channels", from_month="2027-03", to_month="2027-04")
    # EUR was won only in April 2026, outside the period (read only for growth): no EUR rows.
    assert {(r["month"], r["channel"], r["currency"]) for r in found} == {
        (m, c, "USD") for m in ("2027-03", "2027-04") for c in ("indirect", "direct")
    }
    march_indirect = pick(found, month="2027-03", channel="indirect")
    # O7 80,000 against O6 150,000 direct: 80/230 = 34.78 %; a year before O2 + O3 = 80,000.
    assert march_indirect == {
        "month": "2027-03",
        "channel": "indirect",
        "currency": "USD",
        "won_amount_minor": 80_000,
        "won_count": 1,
        "share_pct": 34.8,
        "growth_previous_month_pct": None,
        "growth_previous_year_pct": 0.0,
    }
    march_direct = pick(found, month="2027-03", channel="direct")
    assert (march_direct["won_amount_minor"], march_direct["won_count"], march_direct["share_pct"]) == (
        150_000,
        1,
        65.2,
    )
    assert march_direct["growth_previous_year_pct"] == 50.0  # O1 100,000 -> O6 150,000
    april_indirect = pick(found, month="2027-04", channel="indirect")
    assert april_indirect["won_amount_minor"] == 40_000  # O8
    assert april_indirect["share_pct"] == 100.0
    assert april_indirect["growth_previous_month_pct"] == -50.0  # 80,000 -> 40,000
    assert april_indirect["growth_previous_year_pct"] is None  # April 2026: O5 was lost, O4 is EUR
    april_direct = pick(found, month="2027-04", channel="direct")
    assert (april_direct["won_amount_minor"], april_direct["share_pct"]) == (0, 0.0)
    assert april_direct["growth_previous_month_pct"] == -100.0


async def test_months_are_bucketed_in_the_callers_time_zone(
    client: httpx.AsyncClient, world: World, data: DataSet
) -> None:
    period = {"from_month": "2026-03", "to_month": "2026-04"}
    utc = await rows(client, world.leader, "/sales/channels", **period)
    berlin = await rows(client, world.leader, "/sales/channels", **period, tz="Europe/Berlin")

    def indirect_usd(found: list[dict[str, Any]], month: str) -> tuple[int, int]:
        row = pick(found, month=month, channel="indirect", currency="USD")
        return row["won_amount_minor"], row["won_count"]

    # O3 closed 31 March 23:30 UTC, 1 April 01:30 in Berlin.
    assert indirect_usd(utc, "2026-03") == (80_000, 2)
    assert indirect_usd(utc, "2026-04") == (0, 0)
    assert indirect_usd(berlin, "2026-03") == (50_000, 1)
    assert indirect_usd(berlin, "2026-04") == (30_000, 1)


async def test_currencies_are_never_added_together(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/sales/channels", from_month="2026-03", to_month="2026-04")
    assert pick(found, month="2026-04", channel="indirect", currency="EUR")["won_amount_minor"] == 70_000  # O4
    assert pick(found, month="2026-04", channel="indirect", currency="EUR")["share_pct"] == 100.0
    assert pick(found, month="2026-04", channel="indirect", currency="USD")["won_amount_minor"] == 0  # O5 was lost
    assert pick(found, month="2026-03", channel="indirect", currency="USD")["won_amount_minor"] == 80_000  # O2 + O3
    assert pick(found, month="2026-03", channel="indirect", currency="USD")["share_pct"] == 44.4  # of 180,000 USD
    assert pick(found, month="2026-03", channel="indirect", currency="EUR")["won_amount_minor"] == 0
    only_eur = await rows(
        client, world.leader, "/sales/channels", from_month="2026-04", to_month="2026-04", currency="eur"
    )
    assert {r["currency"] for r in only_eur} == {"EUR"}


async def test_closed_business_by_month(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/sales/closed", from_month="2026-03", to_month="2026-04")
    assert found == [
        {"month": "2026-03", "currency": "EUR", "won_count": 0, "won_amount_minor": 0, "lost_count": 0,
         "lost_amount_minor": 0, "win_rate_pct": None},
        {"month": "2026-03", "currency": "USD", "won_count": 3, "won_amount_minor": 180_000, "lost_count": 0,
         "lost_amount_minor": 0, "win_rate_pct": 100.0},
        {"month": "2026-04", "currency": "EUR", "won_count": 1, "won_amount_minor": 70_000, "lost_count": 0,
         "lost_amount_minor": 0, "win_rate_pct": 100.0},
        {"month": "2026-04", "currency": "USD", "won_count": 0, "won_amount_minor": 0, "lost_count": 1,
         "lost_amount_minor": 20_000, "win_rate_pct": 0.0},
    ]  # fmt: skip


async def test_sales_by_partner_and_top_partners(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    period = {"from_month": "2027-03", "to_month": "2027-04"}
    found = await rows(client, world.leader, "/sales/partners", **period)
    # Previous period: January-February 2027, where Acme won O13 (40,000).
    assert [(r["partner_name"], r["won_amount_minor"], r["won_count"], r["previous_won_amount_minor"],
             r["growth_pct"]) for r in found] == [
        ("Acme Resellers", 80_000, 1, 40_000, 100.0),
        ("Globex Integrators", 40_000, 1, 0, None),
    ]  # fmt: skip
    top = await rows(client, world.leader, "/sales/top-partners", **period)
    assert [(r["rank"], r["partner_name"], r["currency"]) for r in top] == [
        (1, "Acme Resellers", "USD"),
        (2, "Globex Integrators", "USD"),
    ]
    by_count = await rows(client, world.leader, "/sales/top-partners", **period, by="won_count", limit=1)
    assert [(r["rank"], r["partner_name"]) for r in by_count] == [(1, "Acme Resellers")]  # tie 1-1: the larger amount
    by_growth = await rows(client, world.leader, "/sales/top-partners", **period, by="growth")
    assert [(r["partner_name"], r["growth_pct"]) for r in by_growth] == [
        ("Acme Resellers", 100.0),
        ("Globex Integrators", None),
    ]


async def test_top_deals(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/sales/top-deals", from_month="2027-03", to_month="2027-04")
    assert [(r["rank"], r["name"], r["channel"], r["partner_name"], r["amount_minor"]) for r in found] == [
        (1, "Deal O6", "direct", None, 150_000),
        (2, "Deal O7", "indirect", "Acme Resellers", 80_000),
        (3, "Deal O8", "indirect", "Globex Integrators", 40_000),
    ]
    assert found[0]["opportunity_id"] == str(data.opportunities["O6"])


async def test_pipeline_by_stage_and_channel(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/pipeline")
    assert [(r["stage"], r["channel"], r["currency"], r["count"], r["amount_minor"]) for r in found] == [
        ("Prospecting", "indirect", "USD", 1, 10_000),
        ("Presentation", "indirect", "EUR", 1, 5_000),
        ("Proposal", "direct", "USD", 1, 25_000),
        ("Negotiation", "indirect", "USD", 1, 60_000),
    ]


async def test_forecast_by_channel_and_close_month(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/forecast", from_month="2027-05", to_month="2027-06")
    figures = {
        (r["month"], r["channel"], r["currency"]): (
            r["commit_minor"],
            r["best_case_minor"],
            r["pipeline_minor"],
            r["count"],
        )
        for r in found
    }
    assert len(found) == 8  # 2 months x 2 currencies x 2 channels
    assert figures[("2027-05", "indirect", "USD")] == (60_000, 0, 0, 1)  # O9, Negotiation
    assert figures[("2027-05", "direct", "USD")] == (0, 25_000, 0, 1)  # O10, Proposal
    assert figures[("2027-05", "indirect", "EUR")] == (0, 0, 5_000, 1)  # O12, Presentation
    assert figures[("2027-06", "indirect", "USD")] == (0, 0, 10_000, 1)  # O11, Prospecting
    assert sum(sum(v[:3]) for v in figures.values()) == 100_000


async def test_partner_scorecard_both_sides(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    reply = await client.get(
        f"{API}/partners/{world.partner_a}",
        params={"from_month": "2027-03", "to_month": "2027-04"},
        headers=world.pa_user.headers,
    )
    assert reply.status_code == 200, reply.text
    card = reply.json()
    assert card["partner_name"] == "Acme Resellers"
    metrics = {(r["side"], r["metric"], r["currency"]): r["value"] for r in card["rows"]}
    assert metrics == {
        # R1-R7 submitted (R8 in February); approved R1, R3, R4, R5, R7; rejected R2; expired R3.
        ("partner", "registrations_submitted", ""): 7,
        ("partner", "registrations_approved", ""): 5,
        ("partner", "registrations_rejected", ""): 1,
        ("partner", "registrations_expired", ""): 1,
        ("partner", "registrations_won", ""): 2,
        ("partner", "registrations_lost", ""): 1,
        ("partner", "win_rate_pct", ""): 66.7,  # 2 / 3
        ("partner", "won_amount", "USD"): 120_000,  # R1 80,000 + R5 40,000
        ("partner", "average_deal_size", "USD"): 60_000,
        ("partner", "time_to_close_days", ""): 15.0,  # R1 20 days, R5 10 days
        # Offers: L2 converted, L3 and L6 accepted, L4 declined, L5 timed out.
        ("partner", "leads_received", ""): 5,
        ("partner", "leads_accepted", ""): 3,
        ("partner", "leads_declined", ""): 1,
        ("partner", "leads_timed_out", ""): 1,
        ("partner", "leads_converted", ""): 1,
        ("partner", "acceptance_rate_pct", ""): 60.0,
        ("partner", "time_to_accept_hours", ""): 1.2,  # (1800 + 7200 + 3600) / 3 s = 1.17 h
        ("partner", "stall_rate_pct", ""): 33.3,  # L3 accepted 10 March, unconverted since
        ("partner", "margin_credit_earned", "USD"): 3_000,  # 2,000 + 1,000 (the referral fee is not margin)
        ("partner", "margin_credit_paid", "USD"): 2_500,  # 2,000 + 500 (earned in February)
        # Decided in the period: R1 24 h, R2 72 h (late), R3 24 h, R4 36 h, R5 24 h, R7 24 h.
        ("vendor", "registrations_decided", ""): 6,
        ("vendor", "review_sla_pct", ""): 83.3,
        ("vendor", "decision_hours", ""): 34.0,
        ("vendor", "leads_offered", ""): 5,
        ("vendor", "leads_promised", ""): 1.8,  # 7 program offers x 100 / (100 + 300) = 1.75
    }


async def test_deal_status(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/deal-status")
    counts = {(r["group"], r["name"]): r["count"] for r in found}
    assert counts == {
        ("state", "draft"): 0,
        ("state", "submitted"): 2,  # R6, R9
        ("state", "approved"): 2,  # R7, R8
        ("state", "rejected"): 1,
        ("state", "expired"): 1,
        ("state", "won"): 2,
        ("state", "lost"): 1,
        ("state", "cancelled"): 0,
        ("review", "overdue"): 2,  # R6 due 27 April, R9 due 30 April 10:00 (now 12:00)
        ("protection_expiring", "within_7_days"): 1,  # R7, 5 May
        ("protection_expiring", "within_30_days"): 2,  # R7 and R8, 20 May
    }


def quality(found: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        r["label"]: (
            r["leads"],
            (r["score_0_30"], r["score_31_75"], r["score_76_100"]),
            (r["qualified"], r["qualified_share_pct"]),
            (r["converted"], r["converted_share_pct"]),
            (r["touched_within_hour"], r["speed_to_lead_pct"]),
            (r["won_count"], r["won_amount_minor"]),
        )
        for r in found
    }


async def test_lead_quality_by_source_and_campaign(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    period = {"from_month": "2027-03", "to_month": "2027-04"}
    by_source = await rows(client, world.leader, "/leads/quality", **period)
    assert [r["label"] for r in by_source] == ["campaign", "referral", "web"]
    assert quality(by_source) == {
        # L1 (20, new), L2 (50, converted into O7, accepted in 30 min), L6 (75, accepted in 1 h), L7 (100, MQL).
        "web": (4, (1, 2, 1), (3, 75.0), (1, 25.0), (2, 50.0), (1, {"USD": 80_000})),
        # L3 (80, accepted in 2 h), L4 (90, declined), L9 (60, converted into O8 in 20 min).
        "campaign": (3, (0, 1, 2), (3, 100.0), (1, 33.3), (1, 33.3), (1, {"USD": 40_000})),
        "referral": (1, (0, 1, 0), (0, 0.0), (0, 0.0), (0, 0.0), (0, {})),  # L5, disqualified
    }
    by_campaign = await rows(client, world.leader, "/leads/quality", **period, by="campaign")
    assert [r["label"] for r in by_campaign] == ["(no campaign)", "Spring webinar", "Trade show"]
    assert quality(by_campaign)["Spring webinar"] == quality(by_source)["web"]
    assert quality(by_campaign)["Trade show"] == quality(by_source)["campaign"]


async def test_campaign_return(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    found = await rows(client, world.leader, "/campaigns/return")
    assert [(r["name"], r["currency"], r["cost_minor"], r["leads"], r["converted"], r["won_count"],
             r["won_amount_minor"], r["return_pct"], r["won_other_currencies_minor"]) for r in found] == [
        # L1, L2, L6, L7 and L8 (February); L2 won O7: (80,000 - 10,000) / 10,000.
        ("Spring webinar", "USD", 10_000, 5, 1, 1, 80_000, 700.0, {}),
        # L9 won O8 in USD: never converted into the campaign's EUR, listed apart.
        ("Trade show", "EUR", 50_000, 3, 1, 1, 0, -100.0, {"USD": 40_000}),
    ]  # fmt: skip
