"""Who sees which figures, CSV against JSON, and refused filters."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
import pytest

from tests.conftest import World
from tests.scorecards.dataset import DataSet
from tests.scorecards.test_reports import API, pick, rows

pytestmark = pytest.mark.asyncio

PERIOD = {"from_month": "2027-03", "to_month": "2027-04"}


async def test_a_partner_gets_404_for_another_partners_scorecard(
    client: httpx.AsyncClient, world: World, data: DataSet
) -> None:
    missing = uuid.uuid4()
    unknown = await client.get(f"{API}/partners/{missing}", headers=world.leader.headers)
    assert unknown.status_code == 404
    for actor in (world.pb_admin, world.pb_user, world.cm_b):
        reply = await client.get(f"{API}/partners/{world.partner_a}", headers=actor.headers)
        assert reply.status_code == 404, (actor.email, reply.text)
        assert reply.headers["content-type"].startswith("application/problem+json")
        # The same reply as for a partner that does not exist: nothing confirms Acme is there.
        assert reply.text.replace(str(world.partner_a), "ID") == unknown.text.replace(str(missing), "ID")
    for actor in (world.leader, world.admin, world.cm_a, world.pa_admin):
        reply = await client.get(f"{API}/partners/{world.partner_a}", headers=actor.headers)
        assert reply.status_code == 200, (actor.email, reply.text)


async def test_a_channel_manager_sees_only_their_partners(
    client: httpx.AsyncClient, world: World, data: DataSet
) -> None:
    channels = await rows(client, world.cm_a, "/sales/channels", **PERIOD)
    # Acme's O7 in March; Globex's O8 and all direct business are not theirs.
    assert pick(channels, month="2027-03", channel="indirect")["won_amount_minor"] == 80_000
    assert pick(channels, month="2027-04", channel="indirect")["won_amount_minor"] == 0
    assert all(r["won_amount_minor"] == 0 for r in channels if r["channel"] == "direct")
    partners = await rows(client, world.cm_a, "/sales/partners", **PERIOD)
    assert [r["partner_name"] for r in partners] == ["Acme Resellers"]
    deals = await rows(client, world.cm_b, "/sales/top-deals", **PERIOD)
    assert [r["name"] for r in deals] == ["Deal O8"]
    status = {(r["group"], r["name"]): r["count"] for r in await rows(client, world.cm_b, "/deal-status")}
    assert (status[("state", "submitted")], status[("review", "overdue")], status[("state", "won")]) == (1, 1, 0)
    # Asking for another manager's partner is a 404, as for a partner that does not exist.
    params = {**PERIOD, "partner_id": str(world.partner_a)}
    foreign = await client.get(f"{API}/sales/partners", params=params, headers=world.cm_b.headers)
    params["partner_id"] = str(uuid.uuid4())
    unknown = await client.get(f"{API}/sales/partners", params=params, headers=world.cm_b.headers)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()


async def test_a_partner_sees_only_its_own_figures(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    deals = await rows(client, world.pa_user, "/sales/top-deals", **PERIOD)
    assert [r["name"] for r in deals] == ["Deal O7"]
    pipeline = await rows(client, world.pb_admin, "/pipeline")
    assert [(r["stage"], r["amount_minor"]) for r in pipeline] == [("Prospecting", 10_000)]  # O11
    leads = {r["label"]: r["leads"] for r in await rows(client, world.pa_admin, "/leads/quality", **PERIOD)}
    assert leads == {"campaign": 1, "web": 2}  # the leads Acme holds: L3; L2 and L6
    reply = await client.get(f"{API}/campaigns/return", headers=world.pa_admin.headers)
    assert reply.status_code == 403  # the vendor's marketing spend; no record id involved


async def test_filters_by_region_tier_and_channel_manager(
    client: httpx.AsyncClient, world: World, data: DataSet
) -> None:
    def names(found: list[dict[str, object]]) -> list[object]:
        return [r["partner_name"] for r in found]

    assert names(await rows(client, world.leader, "/sales/partners", **PERIOD, region="EMEA")) == ["Globex Integrators"]
    assert names(await rows(client, world.leader, "/sales/partners", **PERIOD, tier="gold")) == ["Acme Resellers"]
    managed_by_b = await rows(
        client, world.leader, "/sales/partners", **PERIOD, channel_manager_id=str(world.cm_b.user_id)
    )
    assert names(managed_by_b) == ["Globex Integrators"]
    # A partner filter leaves direct business out.
    deals = await rows(client, world.leader, "/sales/top-deals", **PERIOD, region="Americas")
    assert [r["name"] for r in deals] == ["Deal O7"]


async def test_csv_matches_json(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    for path, extra in [
        ("/sales/channels", {}),
        ("/sales/closed", {}),
        ("/sales/partners", {}),
        ("/sales/top-partners", {}),
        ("/sales/top-deals", {}),
        ("/pipeline", {}),
        ("/forecast", {"from_month": "2027-05", "to_month": "2027-06"}),
        ("/deal-status", {}),
        ("/leads/quality", {"by": "campaign"}),
        ("/campaigns/return", {}),
        (f"/partners/{world.partner_a}", {}),
    ]:
        params = {**PERIOD, **extra}
        as_json = await rows(client, world.leader, path, **params)
        by_param = await client.get(f"{API}{path}", params={**params, "format": "csv"}, headers=world.leader.headers)
        by_accept = await client.get(
            f"{API}{path}", params=params, headers={**world.leader.headers, "Accept": "text/csv"}
        )
        assert by_param.status_code == 200, (path, by_param.text)
        assert by_param.headers["content-type"].startswith("text/csv")
        assert by_param.text == by_accept.text
        table = list(csv.DictReader(io.StringIO(by_param.text)))
        assert len(table) == len(as_json), path
        for line, row in zip(table, as_json, strict=True):
            for name, value in row.items():
                if isinstance(value, dict):
                    for currency, amount in value.items():
                        assert line[f"{name}_{currency}"] == str(amount), (path, name)
                else:
                    assert line[name] == ("" if value is None else str(value)), (path, name, line, row)


async def test_csv_cells_cannot_become_formulas(client: httpx.AsyncClient, world: World, data: DataSet) -> None:
    reply = await client.post("/api/v1/accounts", json={"name": "Formula Inc"}, headers=world.admin.headers)
    account = reply.json()["id"]
    names = ['=HYPERLINK("http://evil")', "+SUM(A1)", "-2+3", "@cmd", "Plain deal"]
    for rank, name in enumerate(names):
        body = {"name": name, "account_id": account, "amount_minor": 999_000 - rank, "currency": "USD",
                "stage": "Closed Won"}  # fmt: skip
        created = await client.post("/api/v1/opportunities", json=body, headers=world.admin.headers)
        assert created.status_code == 201, created.text
    reply = await client.get(f"{API}/sales/top-deals", params={"format": "csv"}, headers=world.leader.headers)
    shown = [row["name"] for row in csv.DictReader(io.StringIO(reply.text))][: len(names)]
    assert shown == ['\'=HYPERLINK("http://evil")', "'+SUM(A1)", "'-2+3", "'@cmd", "Plain deal"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"from_month": "2027-13"}, "from_month"),
        ({"from_month": "2027-05", "to_month": "2027-04"}, "to_month"),
        ({"from_month": "2020-01", "to_month": "2027-04"}, "from_month"),
        ({"currency": "dollars"}, "currency"),
    ],
)
async def test_bad_filters_are_refused_naming_the_field(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    reply = await client.get(f"{API}/sales/channels", params=params, headers=world.leader.headers)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert field in reply.text
