# ruff: noqa: RUF001  (Cyrillic letters that look Latin are the point of these names)
"""A real Salesforce Lead export through the import API: its headers map by themselves, countries
by name or code, long descriptions and formula-like text are kept, one bad row never rejects the
file, and the report names refused rows and duplicates by their physical line."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import World
from tests.lead_distribution import salesforce
from tests.lead_distribution.conftest import new_lead, ok
from tests.lead_distribution.salesforce import DMITRY, HANS, JURGEN, OYVIND, THORUNN, export, lines_of
from tests.lead_distribution.test_import import queue, upload


def by_email(leads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {lead["email"] or lead["company"]: lead for lead in leads}


async def test_a_salesforce_lead_export_maps_by_its_own_headers(client: httpx.AsyncClient, world: World) -> None:
    report = await ok(await upload(client, world, export(OYVIND, THORUNN, DMITRY, JURGEN, HANS)), 201)
    assert (report["rows"], report["created"], report["errors"]) == (5, 5, [])
    assert report["ignored_columns"] == salesforce.IGNORED
    leads = by_email(await queue(client, world))
    oyvind = leads["oyvind.asheim@fjordkraft.example"]
    assert (oyvind["first_name"], oyvind["last_name"], oyvind["company"], oyvind["title"]) == (
        "Øyvind",
        "Åsheim",
        "Fjord Kraft AS",
        "CTO",
    )
    assert (oyvind["phone"], oyvind["region"], oyvind["country"], oyvind["employees"]) == (
        "+47 22 33 44 55",
        "Oslo",
        "NO",
        250,
    )
    assert oyvind["current_situation"] == OYVIND["Description"]
    thorunn = leads["thorunn@hekla.example"]
    assert (thorunn["first_name"], thorunn["last_name"], thorunn["region"], thorunn["employees"]) == (
        "Þórunn",
        "Guðmundsdóttir",
        "Höfuðborgarsvæðið",
        40,
    )
    dmitry = leads["d.ivanov@romashka.example"]
    assert (dmitry["first_name"], dmitry["last_name"], dmitry["company"], dmitry["region"]) == (
        "Дмитрий",
        "Иванов",
        "ООО «Ромашка»",
        "Москва",
    )


async def test_countries_are_understood_by_name_or_code_and_an_unknown_one_is_named(
    client: httpx.AsyncClient, world: World
) -> None:
    spelled = ["Norway", "Deutschland", "Germany", "de", "DEU", "Ísland", "Россия", "United States", "GE"]
    rows = [
        {"First Name": f"P{i}", "Last Name": "Q", "Company": f"Co {i}", "Country": name}
        for i, name in enumerate(spelled)
    ]
    atlantis = {"First Name": "Aqua", "Last Name": "Man", "Company": "Atlantis Ltd", "Country": "Atlantis"}
    report = await ok(await upload(client, world, export(*rows, atlantis), mode="skip_bad_rows"), 201)
    assert report["created"] == len(spelled)
    [error] = report["errors"]
    assert (error["line"], error["field"]) == (len(spelled) + 2, "country")
    assert "Atlantis" in error["message"]
    leads = {lead["company"]: lead["country"] for lead in await queue(client, world)}
    assert [leads[f"Co {i}"] for i in range(len(spelled))] == ["NO", "DE", "DE", "DE", "DE", "IS", "RU", "US", "GE"]


async def test_a_long_description_is_kept_and_one_bad_row_never_rejects_the_file(
    client: httpx.AsyncClient, world: World
) -> None:
    description = ("Rollout plan, phase by phase; " * 400)[:10_000]
    long_company = JURGEN | {"Company": "M" * 20_000, "Email": "long@company.example"}
    content = export(OYVIND, THORUNN | {"Description": description}, long_company, DMITRY)
    refused = await upload(client, world, content)
    assert refused.status_code == 422, refused.text
    long_line = 2 + lines_of(OYVIND) + lines_of(THORUNN)
    assert [(e["line"], e["field"]) for e in refused.json()["errors"]] == [(long_line, "company")]
    assert await queue(client, world) == []
    report = await ok(await upload(client, world, content, mode="skip_bad_rows"), 201)
    assert (report["rows"], report["created"], report["skipped"]) == (4, 3, 1)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(long_line, "company")]
    kept = by_email(await queue(client, world))["thorunn@hekla.example"]
    assert kept["current_situation"] == description
    assert len(kept["current_situation"]) == 10_000


FORMULA_LIKE = [
    {"First Name": "Ann", "Last Name": "Lee", "Company": "@Home Networks"},
    {"First Name": "Bo", "Last Name": "Ek", "Company": "+Plus Consulting"},
    {"First Name": "Cy", "Last Name": "Ray", "Company": "Aviato", "Title": "- Head of IT -"},
    {"First Name": "Di", "Last Name": "Fox", "Company": "Hooli", "Description": "=== met at booth ===\n- wants a demo"},
]


async def test_cells_that_look_like_formulas_are_kept_as_typed(client: httpx.AsyncClient, world: World) -> None:
    report = await ok(await upload(client, world, export(*FORMULA_LIKE)), 201)
    assert (report["created"], report["errors"]) == (4, [])
    leads = {lead["first_name"]: lead for lead in await queue(client, world)}
    assert leads["Ann"]["company"] == "@Home Networks"
    assert leads["Bo"]["company"] == "+Plus Consulting"
    assert leads["Cy"]["title"] == "- Head of IT -"
    assert leads["Di"]["current_situation"] == "=== met at booth ===\n- wants a demo"


async def test_the_report_names_refused_rows_by_physical_line_and_duplicates_by_what_they_duplicate(
    client: httpx.AsyncClient, world: World
) -> None:
    held = await new_lead(client, world.cm_a)  # Peter Gibbons of Initech, peter@initech.example
    bad_email = THORUNN | {"Email": "thorunn at hekla"}
    same_person = OYVIND | {"Email": "", "Company": "Fjord Kraft", "Description": ""}
    peter = {"First Name": "Pete", "Last Name": "G", "Company": "Initrode", "Email": "PETER@initech.example"}
    content = export(OYVIND, bad_email, peter, same_person)
    line = [2]
    for row in (OYVIND, bad_email, peter):
        line.append(line[-1] + lines_of(row))
    assert line[1] > 3  # the first record spans several lines (its street and description)
    report = await ok(await upload(client, world, content, mode="skip_bad_rows"), 201)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(line[1], "email")]
    assert report["duplicates_flagged"] == 2
    assert report["duplicates"] == [
        {"line": line[2], "matched_on": ["email"], "duplicate_of_line": None, "duplicate_of_lead_id": held["id"]},
        {"line": line[3], "matched_on": ["in_file"], "duplicate_of_line": line[0], "duplicate_of_lead_id": None},
    ]
    again = await ok(
        await client.get(f"/api/v1/distribution/imports/{report['import_id']}", headers=world.cm_a.headers)
    )
    assert again["duplicates"] == report["duplicates"]
