"""The public web form as a person's browser meets it (pages, sentences, a thank-you address) and
as a program that qualifies web leads of chosen bands automatically, so they need not wait."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.conftest import World
from tests.lead_distribution.conftest import API, Setup, emails_to, offers_for, ok

FORM = f"{API}/web-to-lead"
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
FIELDS = {
    "first_name": "Joanna",
    "last_name": "Smith",
    "email": "joanna@chotchkies.example",
    "company": "Chotchkie's",
    "country": "United States",
    "message": "We need SD-WAN for 12 restaurants",
    "homepage": "",
}


async def web_form(client: httpx.AsyncClient, world: World, **settings: Any) -> dict[str, Any]:
    campaign = await ok(
        await client.post("/api/v1/campaigns", json={"name": "Website"}, headers=world.admin.headers), 201
    )
    body = {"name": "Contact us", "campaign_id": campaign["id"], **settings}
    return dict(await ok(await client.post(f"{API}/web-forms", json=body, headers=world.admin.headers), 201))


async def leads(client: httpx.AsyncClient, world: World) -> list[dict[str, Any]]:
    return list((await ok(await client.get("/api/v1/leads", headers=world.admin.headers)))["items"])


async def test_a_browser_gets_a_thank_you_page_not_json(client: httpx.AsyncClient, world: World) -> None:
    form = await web_form(client, world)
    reply = await client.post(f"{FORM}/{form['key']}", data=FIELDS, headers=BROWSER)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/html")
    assert "<h1>Thank you</h1>" in reply.text
    assert "Contact us" in reply.text
    [lead] = await leads(client, world)
    assert (lead["company"], lead["country"], lead["status"]) == ("Chotchkie's", "US", "new")


async def test_a_form_with_a_thank_you_address_redirects_the_browser(client: httpx.AsyncClient, world: World) -> None:
    form = await web_form(client, world, thank_you_url="https://www.northwind.example/thanks")
    assert form["thank_you_url"] == "https://www.northwind.example/thanks"
    reply = await client.post(f"{FORM}/{form['key']}", data=FIELDS, headers=BROWSER)
    assert (reply.status_code, reply.headers["location"]) == (303, "https://www.northwind.example/thanks")
    assert len(await leads(client, world)) == 1
    # A script asking for JSON still gets JSON.
    scripted = await client.post(f"{FORM}/{form['key']}", data=FIELDS | {"email": "j2@chotchkies.example"})
    assert (scripted.status_code, scripted.json()) == (202, {"received": True})
    refused = await client.post(
        f"{API}/web-forms",
        json={"name": "x", "campaign_id": form["campaign_id"], "thank_you_url": "javascript:x"},
        headers=world.admin.headers,
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "thank_you_url"


async def test_bad_input_is_told_in_sentences_and_keeps_nothing(client: httpx.AsyncClient, world: World) -> None:
    form = await web_form(client, world)
    url = f"{FORM}/{form['key']}"
    wrong = FIELDS | {"email": "joanna", "last_name": "", "country": "Atlantis", "first_name": "J" * 101}
    page = await client.post(url, data=wrong, headers={**BROWSER, "referer": "https://www.northwind.example/contact"})
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    for sentence in (
        "Enter an email address like name@example.com.",
        "Fill in your last name.",
        "Your first name is too long: at most 100 characters.",
    ):
        assert sentence in page.text
    assert "regex" not in page.text
    assert "^[" not in page.text
    assert 'href="https://www.northwind.example/contact"' in page.text
    api = await client.post(url, data=FIELDS | {"email": "joanna"})
    assert api.status_code == 400
    assert api.json()["errors"] == [{"field": "email", "message": "Enter an email address like name@example.com."}]
    country = await client.post(url, data=FIELDS | {"country": "Atlantis"})
    assert country.json()["errors"] == [
        {"field": "country", "message": "Enter a country by its name or its two-letter code, like Norway or NO."}
    ]
    formula = await client.post(url, data=FIELDS | {"company": "=HYPERLINK(1)"}, headers=BROWSER)
    assert formula.status_code == 422
    assert "Text starting with =, +, - or @ is not accepted." in formula.text
    assert await leads(client, world) == []


async def test_a_program_qualifies_web_leads_of_its_bands_and_routes_them_at_once(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar
) -> None:
    program = setup.program
    form = await web_form(client, world, program_id=program["id"])
    body = {
        "name": "US to Acme",
        "countries": ["US"],
        "target_kind": "partner",
        "target_partner_id": str(world.partner_a),
    }
    await ok(await client.post(f"{API}/routing-rules", json=body, headers=world.admin.headers), 201)
    # The program qualifies no band yet: the web lead waits for a channel manager.
    await ok(await client.post(f"{FORM}/{form['key']}", data=FIELDS), 202)
    [waiting] = await leads(client, world)
    assert waiting["status"] == "new"

    bands = ["cold", "warm", "hot"]
    updated = await ok(
        await client.patch(
            f"{API}/programs/{program['id']}",
            json={"expected_version": program["version"], "auto_qualify_bands": bands},
            headers=world.admin.headers,
        )
    )
    assert updated["auto_qualify_bands"] == bands
    await ok(await client.post(f"{FORM}/{form['key']}", data=FIELDS | {"email": "bob@initrode.example"}), 202)
    fresh = next(lead for lead in await leads(client, world) if lead["email"] == "bob@initrode.example")
    assert fresh["status"] == "routed"
    history = (await ok(await client.get(f"/api/v1/leads/{fresh['id']}/history", headers=world.admin.headers)))["items"]
    qualified = next(e for e in history if e["action"] == "qualified")
    assert qualified["actor_id"] is None
    assert "program Northwind Leads qualifies cold, warm, hot web leads" in qualified["note"]
    [decision] = (await ok(await client.get(f"{API}/leads/{fresh['id']}/decisions", headers=world.admin.headers)))[
        "items"
    ]
    assert (decision["mode"], decision["partner_id"]) == ("rules", str(world.partner_a))
    assert "qualified automatically" in decision["explanation"]
    [offer] = await offers_for(client, world.pa_user)
    assert offer["lead_id"] == fresh["id"]
    assert any("New lead for you" in m["subject"] for m in await emails_to(app, world.pa_admin.email))

    unknown = await client.post(
        f"{API}/web-forms",
        json={"name": "x", "campaign_id": form["campaign_id"], "program_id": "00000000-0000-4000-8000-000000000000"},
        headers=world.admin.headers,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "program_id"
