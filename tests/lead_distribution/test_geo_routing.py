"""Geographic routing through HTTP: partners and leads geocoded offline from city and country, and
a rule that offers a lead to the nearest eligible partners: widening boxes, then the lead's
country, then the nearest anywhere, with the seeded pick and the step named in the explanation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from prm.lead_distribution import rules
from prm.lead_distribution.rules import Place
from tests.conftest import World
from tests.lead_distribution.conftest import API, Setup, ok, qualified_lead

PARTNERS = "/api/v1/partners"


async def move(client: httpx.AsyncClient, world: World, partner_id: object, **place: Any) -> dict[str, Any]:
    current = await ok(await client.get(f"{PARTNERS}/{partner_id}", headers=world.admin.headers))
    body = {"expected_version": current["version"], **place}
    return dict(await ok(await client.patch(f"{PARTNERS}/{partner_id}", json=body, headers=world.admin.headers)))


async def auto_route(client: httpx.AsyncClient, world: World, lead: dict[str, Any]) -> dict[str, Any]:
    fresh = await ok(await client.get(f"{API}/leads/{lead['id']}", headers=world.admin.headers))
    return dict(
        await ok(
            await client.post(
                f"{API}/leads/{lead['id']}/auto-route",
                json={"expected_version": fresh["version"]},
                headers=world.admin.headers,
            )
        )
    )


async def test_partners_and_leads_are_geocoded_offline(client: httpx.AsyncClient, world: World) -> None:
    oslo = await move(client, world, world.partner_a, city="Oslo", country="Norway")
    assert (oslo["country"], oslo["city"]) == ("NO", "Oslo")
    assert (round(oslo["latitude"], 2), round(oslo["longitude"], 2)) == (59.91, 10.75)
    munich = await move(client, world, world.partner_b, city="München", country="DE")
    assert (round(munich["latitude"], 2), round(munich["longitude"], 2)) == (48.14, 11.58)
    nowhere = await move(client, world, world.partner_b, city="Nowhereville")
    assert (nowhere["latitude"], nowhere["longitude"]) == (None, None)  # an unknown place has none
    null_island = await move(client, world, world.partner_b, latitude=0.0, longitude=0.0)
    assert (null_island["latitude"], null_island["longitude"]) == (0.0, 0.0)  # valid, kept
    half = await client.patch(
        f"{PARTNERS}/{world.partner_b}",
        json={"expected_version": null_island["version"], "latitude": 10.0},
        headers=world.admin.headers,
    )
    assert half.status_code == 422
    assert half.json()["errors"][0]["field"] == "longitude"
    lead = await qualified_lead(client, world.cm_a, company="Fjord AS", country="NO", city="Drammen")
    assert (round(lead["latitude"], 2), round(lead["longitude"], 2)) == (59.74, 10.2)


@pytest.fixture
async def nearest_rule(client: httpx.AsyncClient, world: World, setup: Setup) -> dict[str, Any]:
    await move(client, world, world.partner_a, city="Oslo", country="NO")
    await move(client, world, world.partner_b, city="Berlin", country="DE")
    body = {"name": "Nearest partners", "target_kind": "nearest_partners", "program_id": setup.program["id"]}
    return dict(await ok(await client.post(f"{API}/routing-rules", json=body, headers=world.admin.headers), 201))


async def test_a_lead_goes_to_the_partner_in_the_first_box_that_holds_one(
    client: httpx.AsyncClient, world: World, nearest_rule: dict[str, Any]
) -> None:
    drammen = await qualified_lead(client, world.cm_a, company="Fjord AS", country="NO", city="Drammen")
    decision = await auto_route(client, world, drammen)
    assert (decision["rule_id"], decision["partner_id"]) == (nearest_rule["id"], str(world.partner_a))
    assert "1 of 2 eligible partners of program Northwind Leads within 50 km of the lead" in decision["explanation"]
    assert [c["partner_id"] for c in decision["candidates"]] == [str(world.partner_a)]
    # Bergen is some 300 km from Oslo and 1,000 from Berlin: the 1,000 km box holds both.
    bergen = await qualified_lead(client, world.cm_a, company="Bergen AS", country="NO", city="Bergen")
    wide = await auto_route(client, world, bergen)
    assert "2 of 2 eligible partners of program Northwind Leads within 1000 km of the lead" in wide["explanation"]
    assert sorted(c["partner_id"] for c in wide["candidates"]) == sorted([str(world.partner_a), str(world.partner_b)])


async def test_an_unknown_city_still_matches_on_its_country_and_far_leads_get_the_nearest(
    client: httpx.AsyncClient, world: World, nearest_rule: dict[str, Any]
) -> None:
    unknown = await qualified_lead(client, world.cm_a, company="Bygd AS", country="NO", city="Nowhereville")
    assert unknown["latitude"] is None
    by_country = await auto_route(client, world, unknown)
    assert by_country["partner_id"] == str(world.partner_a)
    assert "in the lead's country (NO)" in by_country["explanation"]
    austin = await qualified_lead(client, world.cm_a, company="Texan Inc", country="US", city="Austin")
    farthest = await auto_route(client, world, austin)
    assert farthest["partner_id"] == str(world.partner_a)  # Oslo is nearer Austin than Berlin is
    assert "nearest anywhere" in farthest["explanation"]
    assert "Acme Resellers" in farthest["explanation"]


async def test_zero_coordinates_are_a_place(
    client: httpx.AsyncClient, world: World, nearest_rule: dict[str, Any]
) -> None:
    await move(client, world, world.partner_b, latitude=0.5, longitude=0.5)
    gulf = await qualified_lead(client, world.cm_a, company="Gulf Ltd", country=None, latitude=0.0, longitude=0.0)
    decision = await auto_route(client, world, gulf)
    assert decision["partner_id"] == str(world.partner_b)
    assert "within 200 km of the lead" in decision["explanation"]


def test_the_steps_widen_then_fall_back_on_country_then_distance() -> None:
    lead = Place("NO", 59.74, 10.2)
    oslo, berlin, paris = Place("NO", 59.91, 10.75), Place("DE", 52.52, 13.41), Place("FR", 48.86, 2.35)
    assert rules.nearest_step(lead, {"oslo": oslo, "berlin": berlin}) == ("within 50 km of the lead", ["oslo"])
    assert rules.nearest_step(lead, {"berlin": berlin, "paris": paris}) == (
        "within 1000 km of the lead",
        ["berlin"],
    )
    unplaced = Place("NO", None, None)
    assert rules.nearest_step(Place("NO", 70.0, 25.0), {"unplaced": unplaced, "paris": paris}) == (
        "in the lead's country (NO)",
        ["unplaced"],
    )
    step, nearest = rules.nearest_step(Place("JP", 35.7, 139.7), {"berlin": berlin, "paris": paris})
    assert (step.startswith("nearest anywhere"), nearest) == (True, ["berlin"])
    assert rules.nearest_step(Place(None, None, None), {"paris": paris}) == (
        "anywhere: no place to compare with",
        ["paris"],
    )
    # Across the antimeridian: 179.9 and -179.9 are neighbours.
    assert rules.in_box(Place(None, 0.0, 179.9), Place(None, 0.0, -179.9), 50)
    assert round(rules.distance_km(Place(None, 0.0, 0.0), Place(None, 0.0, 1.0))) == 111
