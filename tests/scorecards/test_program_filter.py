"""The program filter, every figure worked out by hand from tests/scorecards/dataset.py.

On PostgreSQL the reports read the program cells (the opportunities linked to a deal program's
registrations, the leads offered in a lead program), on SQLite the records: the figures are the
same. The deal program's registrations are linked to O7 (R1), O13 (R5) and O9 (R7 and R8: O9 is
counted once); the lead program's offers are of L2-L7 and L9.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import World
from tests.scorecards.dataset import DataSet
from tests.scorecards.test_reports import quality, rows

pytestmark = pytest.mark.asyncio


def by_deal_program(data: DataSet, **period: str) -> dict[str, Any]:
    return {"program_id": str(data.deal_program), **period}


async def test_indirect_against_direct_of_a_deal_program(
    client: httpx.AsyncClient, world: World, data: DataSet
) -> None:
    found = await rows(client, world.leader, "/sales/channels", **by_deal_program(data, from_month="2027-01",
                                                                                  to_month="2027-04"))  # fmt: skip
    figures = {
        (r["month"], r["channel"]): (
            r["won_amount_minor"],
            r["won_count"],
            r["share_pct"],
            r["growth_previous_month_pct"],
            r["growth_previous_year_pct"],
        )
        for r in found
    }
    assert {r["currency"] for r in found} == {"USD"}
    assert figures == {
        # O13 (Acme, 15 January 2027): the only deal of the program in January; none a month or a year before.
        ("2027-01", "indirect"): (40_000, 1, 100.0, None, None),
        ("2027-01", "direct"): (0, 0, 0.0, None, None),
        ("2027-02", "indirect"): (0, 0, None, -100.0, None),
        ("2027-02", "direct"): (0, 0, None, None, None),
        # O7 (Acme, 20 March 2027); O6 (direct, same month) has no registration; O2 a year before neither.
        ("2027-03", "indirect"): (80_000, 1, 100.0, None, None),
        ("2027-03", "direct"): (0, 0, 0.0, None, None),
        # O8 (Globex, April) has no registration.
        ("2027-04", "indirect"): (0, 0, None, -100.0, None),
        ("2027-04", "direct"): (0, 0, None, None, None),
    }


async def test_closed_business_and_partner_sales_of_a_deal_program(
    client: httpx.AsyncClient, world: World, data: DataSet
) -> None:
    closed = await rows(client, world.leader, "/sales/closed", **by_deal_program(data, from_month="2027-01",
                                                                                to_month="2027-04"))  # fmt: skip
    assert [(r["month"], r["currency"], r["won_count"], r["won_amount_minor"], r["lost_count"], r["win_rate_pct"])
            for r in closed] == [
        ("2027-01", "USD", 1, 40_000, 0, 100.0),  # O13
        ("2027-02", "USD", 0, 0, 0, None),
        ("2027-03", "USD", 1, 80_000, 0, 100.0),  # O7
        ("2027-04", "USD", 0, 0, 0, None),
    ]  # fmt: skip
    sales = await rows(client, world.leader, "/sales/partners", **by_deal_program(data, from_month="2027-03",
                                                                                 to_month="2027-04"))  # fmt: skip
    # Acme: O7 now, O13 in the previous two months; Globex's O8 has no registration.
    assert [(r["partner_name"], r["currency"], r["won_amount_minor"], r["won_count"], r["previous_won_amount_minor"],
             r["previous_won_count"], r["growth_pct"]) for r in sales] == [
        ("Acme Resellers", "USD", 80_000, 1, 40_000, 1, 100.0),
    ]  # fmt: skip


async def test_pipeline_and_forecast_of_a_deal_program(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    pipeline = await rows(client, world.leader, "/pipeline", **by_deal_program(data))
    # O9 (Negotiation, 60,000) is linked to R7 and R8 and counted once; O10-O12 have no registration.
    assert pipeline == [{"stage": "Negotiation", "channel": "indirect", "currency": "USD", "count": 1,
                         "amount_minor": 60_000}]  # fmt: skip
    forecast = await rows(client, world.leader, "/forecast", **by_deal_program(data, from_month="2027-05",
                                                                              to_month="2027-06"))  # fmt: skip
    assert [(r["month"], r["channel"], r["currency"], r["commit_minor"], r["best_case_minor"], r["pipeline_minor"],
             r["count"]) for r in forecast] == [
        ("2027-05", "indirect", "USD", 60_000, 0, 0, 1),  # O9 closes 15 May
        ("2027-05", "direct", "USD", 0, 0, 0, 0),
        ("2027-06", "indirect", "USD", 0, 0, 0, 0),
        ("2027-06", "direct", "USD", 0, 0, 0, 0),
    ]  # fmt: skip


async def test_deal_status_of_a_program(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    status = await rows(client, world.leader, "/deal-status", **by_deal_program(data))
    counts = {(r["group"], r["name"]): r["count"] for r in status if r["count"]}
    # Every registration is of the deal program.
    assert counts == {
        ("state", "submitted"): 2,  # R6, R9
        ("state", "approved"): 2,  # R7, R8
        ("state", "rejected"): 1,  # R2
        ("state", "expired"): 1,  # R3
        ("state", "won"): 2,  # R1, R5
        ("state", "lost"): 1,  # R4
        ("review", "overdue"): 2,  # R6, R9
        ("protection_expiring", "within_7_days"): 1,  # R7
        ("protection_expiring", "within_30_days"): 2,  # R7, R8
    }
    other = await rows(client, world.leader, "/deal-status", program_id=str(uuid.uuid4()))
    assert [r["count"] for r in other] == [0] * len(other)


async def test_lead_quality_of_a_lead_program(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    period = {"program_id": str(data.lead_program), "from_month": "2027-03", "to_month": "2027-04"}
    by_source = await rows(client, world.leader, "/leads/quality", **period)
    assert quality(by_source) == {
        # L2 (50, converted into O7, accepted in 30 min), L6 (75, accepted in 1 h), L7 (100, MQL, open offer);
        # L1 was never offered.
        "web": (3, (0, 2, 1), (3, 100.0), (1, 33.3), (2, 66.7), (1, {"USD": 80_000})),
        # L3 (80, accepted in 2 h), L4 (90, declined), L9 (60, converted into O8 in 20 min).
        "campaign": (3, (0, 1, 2), (3, 100.0), (1, 33.3), (1, 33.3), (1, {"USD": 40_000})),
        "referral": (1, (0, 1, 0), (0, 0.0), (0, 0.0), (0, 0.0), (0, {})),  # L5, disqualified, offer expired
    }
    by_campaign = await rows(client, world.leader, "/leads/quality", **period, by="campaign")
    assert quality(by_campaign) == {
        "Spring webinar": quality(by_source)["web"],
        "Trade show": quality(by_source)["campaign"],
        "(no campaign)": quality(by_source)["referral"],
    }
    other = await rows(client, world.leader, "/leads/quality", **{**period, "program_id": str(uuid.uuid4())})
    assert other == []


async def test_a_program_and_a_region_together(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    """Acme is in the Americas, Globex in EMEA: the program's deals are all Acme's."""
    americas = await rows(client, world.leader, "/pipeline", **by_deal_program(data), region="Americas")
    assert [(r["stage"], r["count"], r["amount_minor"]) for r in americas] == [("Negotiation", 1, 60_000)]
    assert await rows(client, world.leader, "/pipeline", **by_deal_program(data), region="EMEA") == []
    emea_leads = await rows(client, world.leader, "/leads/quality", program_id=str(data.lead_program),
                            from_month="2027-03", to_month="2027-04", region="EMEA")  # fmt: skip
    # Leads held by Globex: L9 (converted into O8); L7's offer to Globex is open, so Globex does not hold it.
    assert quality(emea_leads) == {"campaign": (1, (0, 1, 0), (1, 100.0), (1, 100.0), (1, 100.0), (1, {"USD": 40_000}))}
