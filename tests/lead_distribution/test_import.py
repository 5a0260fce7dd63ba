"""CSV import through HTTP: mapping, per-row errors with line numbers, all-or-nothing and
skip-bad-rows, duplicates, and files that are refused as a whole (never a 500)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.conftest import World
from tests.lead_distribution.conftest import API, Setup, new_lead, ok

URL = f"{API}/imports"


async def upload(client: httpx.AsyncClient, world: World, content: bytes | str, **fields: Any) -> httpx.Response:
    raw = content.encode() if isinstance(content, str) else content
    data = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in fields.items()}
    return await client.post(URL, files={"file": ("leads.csv", raw, "text/csv")}, data=data, headers=world.cm_a.headers)


async def queue(client: httpx.AsyncClient, world: World) -> list[dict[str, Any]]:
    reply = await ok(
        await client.get(f"{API}/leads", params={"limit": 200, "sort": "company"}, headers=world.cm_a.headers)
    )
    return list(reply["items"])


GOOD = (
    "\ufeffFirst Name,Last Name,Company Name,E-mail,Phone,Country,Employees,Product,Timeframe,Budget,Notes\r\n"
    'Ada,Lovelace,"Analytical Engines, Ltd",ada@engines.example,+44 20 7946 0000,gb,1200,fw-100,immediate,'
    '2500000,"Two sites,\r\nboth on old kit"\r\n'
    "Grace,Hopper,Cobol Corp,grace@cobol.example,,US,40,,,,\r\n"
    "\r\n"
    "Alan,Turing,Bletchley Systems,,,GB,,,,,\r\n"
)


async def test_a_clean_file_is_imported_with_aliases_scores_and_a_report(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    reply = await upload(client, world, GOOD)
    report = await ok(reply, 201)
    assert (report["rows"], report["created"], report["skipped"], report["errors"]) == (3, 3, 0, [])
    assert report["mode"] == "all_or_nothing"
    assert report["ignored_columns"] == ["Notes"]
    leads = await queue(client, world)
    assert [lead["company"] for lead in leads] == ["Analytical Engines, Ltd", "Bletchley Systems", "Cobol Corp"]
    ada = leads[0]
    assert (ada["country"], ada["employees"], ada["product_id"], ada["time_frame"]) == (
        "GB",
        1200,
        setup.products["FW-100"],
        "immediate",
    )
    assert (ada["source"], ada["status"], ada["phone"]) == ("import", "new", "+44 20 7946 0000")
    assert ada["score"] == 30 + 20 + 10 + 5 + 15  # now, 25k budget, 1000+ staff, the product
    assert ada["band"] == "hot"
    assert leads[1]["score"] == 0
    assert leads[1]["band"] == "cold"
    again = await ok(await client.get(f"{URL}/{report['import_id']}", headers=world.admin.headers))
    assert again["created"] == 3
    history = await ok(await client.get(f"/api/v1/leads/{ada['id']}/history", headers=world.cm_a.headers))
    assert [h["action"] for h in history["items"]] == ["created"]
    assert history["items"][0]["actor_id"] == str(world.cm_a.user_id)
    assert history["items"][0]["note"] == f"imported from leads.csv (import {report['import_id']})"


BAD = (
    "first_name,last_name,company,email,country,employees,budget\n"
    "Ada,Lovelace,Engines,ada@engines.example,GB,10,100\n"
    "Bad,Email,Acme,not-an-email,US,10,100\n"  # line 3
    ',,"Nameless\nCo",,,,\n'  # lines 4-5: no first or last name
    "Neg,Budget,Acme,neg@acme.example,Atlantis,-4,-100\n"  # line 6: three bad fields
    "Short,Row,Acme\n"  # line 7
    "Grace,Hopper,Cobol,grace@cobol.example,US,40,0\n"
)


async def test_all_or_nothing_lists_every_bad_row_and_keeps_nothing(client: httpx.AsyncClient, world: World) -> None:
    reply = await upload(client, world, BAD)
    assert reply.status_code == 422, reply.text
    problem = reply.json()
    assert problem["rows"] == 6
    found = sorted((e["line"], e["field"]) for e in problem["errors"])
    assert found == [
        (3, "email"),
        (4, "first_name"),
        (4, "last_name"),
        (6, "budget_minor"),
        (6, "country"),
        (6, "employees"),
        (7, "row"),
    ]
    assert "nothing was imported" in problem["detail"]
    assert await queue(client, world) == []


async def test_skip_bad_rows_keeps_the_good_ones(client: httpx.AsyncClient, world: World) -> None:
    mapping = {
        "first_name": "first_name",
        "last_name": "last_name",
        "company": "company",
        "email": "email",
        "country": "country",
        "employees": "employees",
        "budget": "budget_minor",
    }
    report = await ok(await upload(client, world, BAD, mode="skip_bad_rows", mapping=mapping), 201)
    assert (report["rows"], report["created"], report["skipped"], report["errors_total"]) == (6, 2, 4, 7)
    assert {e["line"] for e in report["errors"]} == {3, 4, 6, 7}
    assert [lead["company"] for lead in await queue(client, world)] == ["Cobol", "Engines"]


async def test_malformed_files_are_refused_never_a_500(client: httpx.AsyncClient, world: World) -> None:
    header = "first_name,last_name,company\n"
    cases: list[tuple[bytes | str, str]] = [
        ("Ren\u00e9,Dupont,Soci\u00e9t\u00e9\n".encode("latin-1"), "UTF-8"),
        (header.encode() + "Ren\u00e9,Dupont,Soci\u00e9t\u00e9\n".encode("latin-1"), "UTF-8"),
        (header + 'Ada,"Lovelace,Engines\nGrace,Hopper,Cobol\n', "not valid CSV"),
        (header + 'Ada,"Love"lace,Engines\n', "not valid CSV"),
        (header + 'Ada,Lovelace,"' + "an unclosed quote swallows the file\n" * 30_000, "longer than"),
        (header + "Ada,Love\x00lace,Engines\n", "NUL"),
        ("", "empty"),
    ]
    for content, words in cases:
        reply = await upload(client, world, content)
        assert reply.status_code == 422, (content[:40], reply.text)
        assert words in reply.json()["detail"], reply.json()
        assert reply.json()["errors"][0]["field"] == "file"
    no_company = await upload(client, world, "first_name,last_name\nAda,Lovelace\n")
    assert no_company.status_code == 422
    assert no_company.json()["errors"][0]["field"] == "mapping"
    bad_mapping = await upload(client, world, header + "Ada,Lovelace,Engines\n", mapping="{not json")
    assert bad_mapping.status_code == 422
    assert bad_mapping.json()["errors"][0]["field"] == "mapping"
    unknown_field = await upload(
        client,
        world,
        header + "Ada,Lovelace,Engines\n",
        mapping={"first_name": "first_name", "last_name": "password", "company": "company"},
    )
    assert unknown_field.status_code == 422
    assert unknown_field.json()["errors"][0]["field"] == "mapping"
    no_campaign = await upload(client, world, header + "Ada,Lovelace,Engines\n", campaign_id=str(uuid.uuid4()))
    assert no_campaign.status_code == 422
    assert no_campaign.json()["errors"][0]["field"] == "campaign_id"
    bad_mode = await upload(client, world, header + "Ada,Lovelace,Engines\n", mode="some")
    assert bad_mode.status_code == 400
    partner = await client.post(
        URL, files={"file": ("l.csv", header.encode(), "text/csv")}, headers=world.pa_admin.headers
    )
    assert partner.status_code == 403
    assert await queue(client, world) == []


async def test_duplicates_are_flagged_against_held_leads_and_within_the_file(
    client: httpx.AsyncClient, world: World
) -> None:
    held = await new_lead(client, world.cm_a)  # Peter Gibbons, Initech, peter@initech.example
    content = (
        "first_name,last_name,company,email\n"
        "Peter,Gibbons,Initech Inc.,peter.g@initech.example\n"
        "Michael,Bolton,Initech,michael@initech.example\n"
        "Mike,Bolton,Initrode,MICHAEL@initech.example\n"
    )
    report = await ok(await upload(client, world, content), 201)
    assert report["duplicates_flagged"] == 2
    leads = {lead["first_name"]: lead for lead in await queue(client, world)}
    assert leads["Peter"]["possible_duplicates"] == [{"lead_id": held["id"], "matched_on": ["company_and_name"]}]
    assert leads["Mike"]["possible_duplicates"] == [{"lead_id": leads["Michael"]["id"], "matched_on": ["in_file"]}]


async def test_thousands_of_rows_import_in_one_request(client: httpx.AsyncClient, world: World) -> None:
    # How fast is bench.imports' business (a time bound here failed on a loaded machine); this
    # checks that several batches' worth of rows all land.
    rows = "".join(
        f"First{i},Last{i},Company {i % 700},lead{i}@corp{i % 700}.example,US,{i % 5000}\n" for i in range(5000)
    )
    report = await ok(await upload(client, world, "first_name,last_name,company,email,country,employees\n" + rows), 201)
    assert report["created"] == 5000


async def test_duplicates_of_rows_in_earlier_batches_name_their_lines(client: httpx.AsyncClient, world: World) -> None:
    """The file is read 500 rows at a time: a row duplicating one of an earlier batch (matched in
    the database, already inserted) names its line as one duplicating a row of its own batch does."""
    rows = [[f"First{i}", f"Last{i}", f"Company {i}", f"lead{i}@corp.example"] for i in range(1200)]
    rows[1100][3] = "lead0@corp.example"  # line 1102: the email of line 2, two batches back
    rows[1101][:3] = ["first5", "LAST5", "Company 5"]  # line 1103: the person of line 7
    rows[1102][3] = "LEAD0@corp.example"  # line 1104: line 2 and line 1102 (its own batch)
    content = "first_name,last_name,company,email\n" + "".join(",".join(row) + "\n" for row in rows)
    report = await ok(await upload(client, world, content), 201)
    assert report["created"] == 1200
    assert [(d["line"], d["matched_on"], d["duplicate_of_line"]) for d in report["duplicates"]] == [
        (1102, ["in_file"], 2),
        (1103, ["in_file"], 7),
        (1104, ["in_file"], 2),
        (1104, ["in_file"], 1102),
    ]
    assert report["duplicates_flagged"] == 3
