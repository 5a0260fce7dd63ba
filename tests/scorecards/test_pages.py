"""The dashboard and scorecard pages over HTTP: figures in the tables, CSV behind each chart,
and who may open which scorecard."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.conftest import World
from tests.portal.conftest import SignIn
from tests.scorecards.dataset import DataSet

pytestmark = pytest.mark.asyncio

PERIOD = "from_month=2027-03&to_month=2027-04"


def chart_data(page: str, key: str) -> dict[str, object]:
    found = re.search(rf'<script type="application/json" id="chart-data-{key}">(.*?)</script>', page, re.S)
    assert found, key
    loaded: dict[str, object] = json.loads(found.group(1))
    return loaded


async def test_dashboard_shows_every_chart_with_its_table(sign_in: SignIn, world: World, data: DataSet) -> None:
    client = await sign_in(world.leader)
    reply = await client.get(f"/dashboard?{PERIOD}")
    assert reply.status_code == 200, reply.text
    page = reply.text
    for key in ("channels", "pipeline", "forecast", "top-partners", "lead-quality", "deal-status"):
        assert f'data-chart="chart-data-{key}"' in page
        assert f'id="table-{key}"' in page
    channels = chart_data(page, "channels")
    assert channels["labels"] == ["2027-03", "2027-04"]
    # Indirect O7 then O8, direct O6 then nothing, in dollars.
    assert [d["data"] for d in channels["datasets"]] == [[800.0, 400.0], [1500.0, 0.0]]  # type: ignore[index]
    assert "80,000" not in page  # amounts are shown as money, minor units / 100
    assert "800.00 USD" in page
    leads = chart_data(page, "lead-quality")
    assert leads["labels"] == ["campaign", "referral", "web"]
    assert [d["data"] for d in leads["datasets"]] == [[0, 0, 1], [1, 1, 2], [2, 0, 1]]  # type: ignore[index]
    top = chart_data(page, "top-partners")
    assert top["labels"] == ["Acme Resellers", "Globex Integrators"]
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in page


async def test_each_charts_csv_follows_the_filters(sign_in: SignIn, world: World, data: DataSet) -> None:
    client = await sign_in(world.leader)
    reply = await client.get(f"/dashboard/csv/sales-channels?{PERIOD}&currency=USD")
    assert reply.status_code == 200
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [(r["month"], r["channel"], r["won_amount_minor"]) for r in rows] == [
        ("2027-03", "indirect", "80000"),
        ("2027-03", "direct", "150000"),
        ("2027-04", "indirect", "40000"),
        ("2027-04", "direct", "0"),
    ]
    missing = await client.get("/dashboard/csv/salaries")
    assert missing.status_code == 404


async def test_a_channel_manager_sees_their_partners_scorecards_only(
    sign_in: SignIn, world: World, data: DataSet
) -> None:
    client = await sign_in(world.cm_a)
    listing = (await client.get(f"/scorecards?{PERIOD}")).text
    assert "Acme Resellers" in listing
    assert "Globex" not in listing
    own = await client.get(f"/scorecards/{world.partner_a}?{PERIOD}")
    assert own.status_code == 200
    assert (await client.get(f"/scorecards/{world.partner_b}")).status_code == 404
    dashboard = (await client.get(f"/dashboard?{PERIOD}")).text
    assert chart_data(dashboard, "top-partners")["labels"] == ["Acme Resellers"]


async def test_a_partner_sees_its_own_scorecard_and_never_anothers(
    sign_in: SignIn, world: World, data: DataSet
) -> None:
    client = await sign_in(world.pa_user)
    mine = await client.get(f"/scorecard?{PERIOD}", follow_redirects=True)
    assert mine.status_code == 200
    assert "Scorecard: Acme Resellers" in mine.text
    assert re.search(r'data-metric="win_rate_pct">66.7 %<', mine.text)
    assert re.search(r'data-metric="review_sla_pct">83.3 %<', mine.text)
    assert re.search(r'data-metric="margin_credit_earned">30.00 USD<', mine.text)
    other = await client.get(f"/scorecards/{world.partner_b}")
    assert other.status_code == 404
    assert "Globex" not in other.text
    assert (await client.get("/dashboard")).status_code == 403
