"""Lead distribution pages over HTTP: the partner's inbox (limited details, the clock, accept,
decline, claim, convert) and the channel manager's console (queue, qualify, route, rules, import)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.portal.conftest import SignIn
from tests.portal.forms import Client, csrf_token
from tests.portal.lead_data import (
    API,
    LeadScene,
    lead_scene,
    lead_via_api,
    ok,
    qualified_lead,
    route_via_api,
)


@pytest.fixture
async def scene(client: httpx.AsyncClient, world: World) -> LeadScene:
    return await lead_scene(client, world)


async def post_form(client: Client, path: str, fields: dict[str, Any], *, page: str, **files: Any) -> httpx.Response:
    token = await csrf_token(client, page)
    return await client.post(path, data={"_csrf_token": token, **fields}, files=files or None)


def field_error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>', page)
    assert found, f"no error next to {field_id}"
    assert re.search(rf'id="{re.escape(field_id)}"[^>]*aria-describedby="[^"]*{re.escape(field_id)}-error"', page)
    return html.unescape(found.group(1))


async def open_offer_id(client: httpx.AsyncClient, world: World, kind: str = "direct") -> str:
    reply = await ok(
        await client.get(f"{API}/offers", params={"status": "open", "kind": kind}, headers=world.admin.headers)
    )
    [offer] = reply["items"]
    return str(offer["id"])


# Partner portal ------------------------------------------------------------------------------


async def test_inbox_shows_limited_details_and_the_clock_until_accepted(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn, clock: ManualClock
) -> None:
    lead = await qualified_lead(client, world, scene)
    await route_via_api(client, world, lead, target_kind="partner_user", user_id=str(world.pa_user.user_id))
    await sign_in(world.pa_user)
    page = (await client.get("/leads")).text
    assert "Initech" in page
    assert "Firewalls at end of life" in page
    assert "Firewall 100 (FW-100)" in page
    assert "peter@initech.example" not in page
    assert "Gibbons" not in page
    assert "respond by" in page
    assert "2 days left" in page
    assert re.search(r'<time datetime="2026-03-04T09:00:00Z"', page)
    clock.advance(timedelta(hours=45, minutes=30))
    await sign_in(world.pa_user)  # the session ended meanwhile
    page = (await client.get("/leads")).text
    assert "2 hours 30 minutes left" in page
    assert "lead-row-ending" in page

    offer_id = await open_offer_id(client, world)
    reply = await post_form(client, f"/leads/offers/{offer_id}/accept", {}, page="/leads")
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/leads?status=accepted&done=accepted#lead-{lead['id']}"
    page = (await client.get(reply.headers["location"])).text
    assert "Accepted. The lead is yours" in page
    assert "peter@initech.example" in page
    assert "Peter Gibbons" in page
    assert f'href="/leads/{lead["id"]}/convert"' in page
    # Partner B sees nothing of it, not even on a guessed address.
    await sign_in(world.pb_admin)
    assert "Initech" not in (await client.get("/leads")).text
    assert (await client.get(f"/leads/{lead['id']}/convert")).status_code == 404


async def test_decline_needs_a_reason_and_a_note_for_other_then_the_lead_moves_on(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    lead = await qualified_lead(client, world, scene)
    await route_via_api(client, world, lead, target_kind="partner", partner_id=str(world.partner_a))
    offer_id = await open_offer_id(client, world)
    await sign_in(world.pa_admin)
    path = f"/leads/offers/{offer_id}/decline"
    reply = await post_form(client, path, {"reason": "", "note": ""}, page="/leads")
    assert reply.status_code == 400
    assert field_error(reply.text, f"reason-{offer_id}") == "Choose why you decline."
    reply = await post_form(client, path, {"reason": "other", "note": ""}, page="/leads")
    assert reply.status_code == 422
    assert field_error(reply.text, f"note-{offer_id}") == "Say why when the reason is other."
    assert 'value="other" selected' in reply.text  # what was chosen is kept
    assert (await lead_via_api(client, world, lead["id"]))["status"] == "routed"  # nothing written

    reply = await post_form(client, path, {"reason": "outside_territory", "note": "Not Texas"}, page="/leads")
    assert reply.status_code == 303
    page = (await client.get(reply.headers["location"])).text
    assert "Declined. The lead goes to another partner" in page
    assert "Initech" not in page
    offers = await ok(await client.get(f"{API}/offers/{offer_id}", headers=world.admin.headers))
    assert (offers["status"], offers["decline_reason"]) == ("declined", "outside_territory")


async def test_a_partner_user_cannot_take_another_reps_offer(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    lead = await qualified_lead(client, world, scene)
    await route_via_api(client, world, lead, target_kind="partner_user", user_id=str(world.pa_admin.user_id))
    offer_id = await open_offer_id(client, world)
    await sign_in(world.pa_user)
    page = (await client.get("/leads")).text
    assert "Offered to another rep of your organisation." in page
    assert f"/leads/offers/{offer_id}/accept" not in page
    reply = await post_form(client, f"/leads/offers/{offer_id}/accept", {}, page="/leads")
    assert reply.status_code == 409
    assert "offered to another rep" in reply.text
    assert (await lead_via_api(client, world, lead["id"]))["status"] == "routed"


async def test_shark_tank_claim_first_wins_and_the_loser_is_told(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    lead = await qualified_lead(client, world, scene)
    await route_via_api(client, world, lead, target_kind="shark_tank", group_id=scene.group_id)
    offer_id = await open_offer_id(client, world, "shark_tank")
    await sign_in(world.pb_user)
    board = (await client.get("/leads")).text
    assert "Shark tank: Firewall tank" in board
    assert "claim by" in board
    token_b = await csrf_token(client, "/leads")  # B has the board open ...
    cookies_b = dict(client.cookies)

    await sign_in(world.pa_user)  # ... while A claims it first
    reply = await post_form(client, f"/leads/offers/{offer_id}/claim", {}, page="/leads")
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/leads?status=accepted&done=claimed")
    assert "peter@initech.example" in (await client.get(reply.headers["location"])).text

    client.cookies.clear()
    client.cookies.update(cookies_b)
    reply = await client.post(f"/leads/offers/{offer_id}/claim", data={"_csrf_token": token_b})
    assert reply.status_code == 409
    assert "Another partner claimed this lead first" in reply.text
    assert "peter@initech.example" not in reply.text
    assert (await lead_via_api(client, world, lead["id"]))["partner_id"] == str(world.partner_a)


async def test_convert_an_accepted_lead_with_errors_next_to_fields(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    lead = await qualified_lead(client, world, scene)
    await route_via_api(client, world, lead, target_kind="partner", partner_id=str(world.partner_a))
    offer_id = await open_offer_id(client, world)
    await sign_in(world.pa_user)
    await post_form(client, f"/leads/offers/{offer_id}/accept", {}, page="/leads")
    path = f"/leads/{lead['id']}/convert"
    form = (await client.get(path)).text
    assert 'value="Initech (from lead)"' in form
    version = re.search(r'name="expected_version" value="(\d+)"', form)
    assert version
    fields = {"expected_version": version.group(1), "opportunity_name": "Initech firewalls", "currency": "USD"}
    reply = await post_form(client, path, fields | {"amount": "48.000,00", "close_date": "soon"}, page=path)
    assert reply.status_code == 400
    assert field_error(reply.text, "amount").startswith("Enter an amount like 48,000.00")
    assert field_error(reply.text, "close_date").startswith("Enter the expected close date")
    assert 'value="Initech firewalls"' in reply.text
    reply = await post_form(client, path, fields | {"amount": "48,000.00", "close_date": "2026-06-30"}, page=path)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/leads?done=converted"
    assert "Converted into an account" in (await client.get("/leads?done=converted")).text
    converted = await lead_via_api(client, world, lead["id"])
    assert converted["status"] == "converted"
    opportunity = await ok(
        await client.get(
            f"/api/v1/opportunities/{converted['converted_opportunity_id']}", headers=world.pa_user.headers
        )
    )
    assert (opportunity["name"], opportunity["amount_minor"], opportunity["partner_id"]) == (
        "Initech firewalls",
        4_800_000,
        str(world.partner_a),
    )


async def test_partner_pages_are_for_partners_and_forms_need_csrf(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    assert (await client.get("/leads")).status_code == 303  # signed out: to the login
    await sign_in(world.cm_a)
    assert (await client.get("/leads")).status_code == 403
    await sign_in(world.pa_user)
    assert (await client.get("/lead-queue")).status_code == 403
    assert (await client.get("/lead-import")).status_code == 403
    lead = await qualified_lead(client, world, scene)
    await route_via_api(client, world, lead, target_kind="partner", partner_id=str(world.partner_a))
    offer_id = await open_offer_id(client, world)
    reply = await client.post(f"/leads/offers/{offer_id}/accept", data={})
    assert reply.status_code == 403
    assert "CSRF" in reply.text
    assert (await lead_via_api(client, world, lead["id"]))["status"] == "routed"


# Channel manager console ---------------------------------------------------------------------


async def test_queue_filters_by_status_and_qualify_shows_score_and_band(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    lead = await ok(
        await client.post(
            f"{API}/leads",
            json={"first_name": "Ann", "last_name": "Lee", "company": "Hooli", "source": "web"},
            headers=world.cm_a.headers,
        ),
        201,
    )
    await sign_in(world.cm_a)
    queue = (await client.get("/lead-queue")).text
    assert "Hooli" in queue
    assert 'value="to_work" selected' in queue
    assert "Hooli" not in (await client.get("/lead-queue?status=converted")).text
    path = f"/lead-queue/{lead['id']}"
    page = (await client.get(path)).text
    assert 'id="lead-score">0<' in page
    assert "lead-band-cold" in page
    fields = {
        "expected_version": str(lead["version"]),
        "stage": "sales_qualified",
        "current_situation": "Replacing firewalls",
        "product_id": scene.product_id,
        "time_frame": "immediate",
        "budget": "250,000.00",
        "currency": "",
        "employees": "lots",
        "country": "US",
        "region": "",
        "note": "",
    }
    reply = await post_form(client, f"{path}/qualify", fields, page=path)
    assert reply.status_code == 400
    assert field_error(reply.text, "currency") == "Say which currency the budget is in."
    assert field_error(reply.text, "employees").startswith("Enter the number of employees")
    assert 'value="250,000.00"' in reply.text
    reply = await post_form(client, f"{path}/qualify", fields | {"currency": "usd", "employees": "1200"}, page=path)
    assert reply.status_code == 303
    assert reply.headers["location"] == f"{path}?done=qualified"
    page = (await client.get(reply.headers["location"])).text
    details = await lead_via_api(client, world, lead["id"])
    assert details["status"] == "sales_qualified"
    assert details["budget_minor"] == 25_000_000
    assert details["band"] == "hot"
    assert f'id="lead-score">{details["score"]}<' in page
    assert "lead-band-hot" in page
    assert "Hooli" not in (await client.get("/lead-queue?status=new")).text
    assert "Hooli" in (await client.get("/lead-queue?status=sales_qualified")).text


async def test_manual_route_to_each_kind_of_target_and_its_explanation(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    lead = await qualified_lead(client, world, scene)
    await sign_in(world.cm_a)
    path = f"/lead-queue/{lead['id']}"
    page = (await client.get(path)).text
    for label in (
        "Partner",
        "Partner rep",
        "Shark-tank group",
        "Program pool (weighted pick)",
        "Internal rep (direct)",
    ):
        assert f'<optgroup label="{label}">' in page
    assert "Globex Integrators" not in page  # cm_a manages partner A only
    reply = await post_form(
        client, f"{path}/route", {"expected_version": str(lead["version"]), "target": ""}, page=path
    )
    assert reply.status_code == 400
    assert field_error(reply.text, "target") == "Choose where the lead goes."
    target = f"partner_user:{world.pa_user.user_id}"
    fields = {"expected_version": str(lead["version"]), "target": target, "note": "Knows the customer"}
    reply = await post_form(client, f"{path}/route", fields, page=path)
    assert reply.status_code == 303
    assert reply.headers["location"] == f"{path}?done=routed"
    page = (await client.get(reply.headers["location"])).text
    assert "Routed." in page
    assert "offered to partner" in page
    assert "Knows the customer" in page
    assert "offered to partner Acme Resellers" in page  # ids in the explanation shown as names
    assert "answer by" in page
    # Stale form: the lead moved on meanwhile.
    reply = await post_form(client, f"{path}/route", fields, page=path)
    assert reply.status_code == 409


async def test_route_refused_by_eligibility_says_why_next_to_the_picker(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    lead = await qualified_lead(client, world, scene)
    await ok(
        await client.put(
            f"{API}/partners/{world.partner_a}/certified-products",
            json={"product_ids": []},
            headers=world.admin.headers,
        )
    )
    await sign_in(world.cm_a)
    path = f"/lead-queue/{lead['id']}"
    fields = {"expected_version": str(lead["version"]), "target": f"partner:{world.partner_a}"}
    reply = await post_form(client, f"{path}/route", fields, page=path)
    assert reply.status_code == 422
    assert "not eligible" in field_error(reply.text, "target")
    reply = await post_form(client, f"{path}/route", fields | {"override": "on"}, page=path)
    assert reply.status_code == 303
    assert "eligibility overridden" in (await client.get(path)).text


async def test_rules_editor_add_reorder_deactivate(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    await sign_in(world.admin)
    reply = await post_form(client, "/lead-rules", {"name": "US to A", "countries": "us, ca"}, page="/lead-rules")
    assert reply.status_code == 400
    assert field_error(reply.text, "target") == "Choose where matching leads go."
    assert 'value="us, ca"' in reply.text
    bad = {"name": "Bad", "countries": "US, Atlantis", "target": f"partner:{world.partner_a}"}
    reply = await post_form(client, "/lead-rules", bad, page="/lead-rules")
    assert reply.status_code == 400
    assert "countries by name or ISO code" in field_error(reply.text, "countries")
    first = {
        "name": "US to A",
        "countries": "us, ca",
        "score_bands": ["hot", "warm"],
        "target": f"partner:{world.partner_a}",
    }
    assert (await post_form(client, "/lead-rules", first, page="/lead-rules")).status_code == 303
    second = {"name": "Tank", "product_ids": [scene.product_id], "target": f"shark_tank:{scene.group_id}"}
    reply = await post_form(client, "/lead-rules", second, page="/lead-rules")
    assert reply.status_code == 303
    page = (await client.get("/lead-rules")).text
    assert "country US, CA · score hot, warm" in page
    assert "product Firewall 100 (FW-100)" in page
    assert "shark tank: Firewall tank" in page
    rules = (await ok(await client.get(f"{API}/routing-rules", headers=world.admin.headers)))["items"]
    assert [r["name"] for r in rules] == ["US to A", "Tank"]
    tank = rules[1]
    reply = await post_form(client, f"/lead-rules/{tank['id']}/move", {"direction": "up"}, page="/lead-rules")
    assert reply.status_code == 303
    rules = (await ok(await client.get(f"{API}/routing-rules", headers=world.admin.headers)))["items"]
    assert [(r["name"], r["position"]) for r in rules] == [("Tank", 1), ("US to A", 2)]
    fields = {"expected_version": str(rules[0]["version"]), "active": "false"}
    reply = await post_form(client, f"/lead-rules/{tank['id']}/active", fields, page="/lead-rules")
    assert reply.status_code == 303
    assert "done=deactivated" in reply.headers["location"]
    rules = (await ok(await client.get(f"{API}/routing-rules", headers=world.admin.headers)))["items"]
    assert rules[0]["active"] is False
    # A stale version is refused on the page, not applied.
    reply = await post_form(client, f"/lead-rules/{tank['id']}/active", fields, page="/lead-rules")
    assert reply.status_code == 409
    # Channel managers read the rules but do not change them.
    await sign_in(world.cm_a)
    page = (await client.get("/lead-rules")).text
    assert "Tank" in page
    assert "Add a rule" not in page
    reply = await post_form(client, f"/lead-rules/{tank['id']}/move", {"direction": "down"}, page="/lead-rules")
    assert reply.status_code == 403


async def test_a_rules_conditions_and_target_are_edited_in_place(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    await sign_in(world.admin)
    made = {"name": "US to A", "countries": "us", "score_bands": ["hot"], "target": f"partner:{world.partner_a}"}
    assert (await post_form(client, "/lead-rules", made, page="/lead-rules")).status_code == 303
    other = {"name": "Anything else", "target": f"shark_tank:{scene.group_id}"}
    assert (await post_form(client, "/lead-rules", other, page="/lead-rules")).status_code == 303
    [rule, _] = (await ok(await client.get(f"{API}/routing-rules", headers=world.admin.headers)))["items"]
    path = f"/lead-rules/{rule['id']}"
    assert f'href="{path}"' in (await client.get("/lead-rules")).text
    form = (await client.get(path)).text
    assert 'value="US"' in form  # the form opens with the rule as it is
    assert f'value="partner:{world.partner_a}" selected' in form

    bad = {"name": "US to A", "countries": "US, Atlantis", "target": f"partner:{world.partner_a}"}
    reply = await post_form(client, path, bad | {"expected_version": str(rule["version"])}, page=path)
    assert reply.status_code == 400
    assert "countries by name or ISO code" in field_error(reply.text, "countries")
    assert 'value="US, Atlantis"' in reply.text
    unchanged = await ok(await client.get(f"{API}/routing-rules/{rule['id']}", headers=world.admin.headers))
    assert unchanged["version"] == rule["version"]

    edit = {
        "name": "Nordics to the tank",
        "countries": "Norway, SE",
        "regions": "Oslo",
        "product_ids": [scene.product_id],
        "sources": ["web"],
        "target": f"shark_tank:{scene.group_id}",
        "expected_version": str(rule["version"]),
    }
    reply = await post_form(client, path, edit, page=path)
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/lead-rules?done=saved#rule-{rule['id']}"
    saved = await ok(await client.get(f"{API}/routing-rules/{rule['id']}", headers=world.admin.headers))
    assert (saved["name"], saved["countries"], saved["regions"]) == ("Nordics to the tank", ["NO", "SE"], ["Oslo"])
    assert (saved["score_bands"], saved["sources"], saved["product_ids"]) == ([], ["web"], [scene.product_id])
    assert (saved["target_kind"], saved["target_group_id"], saved["target_partner_id"]) == (
        "shark_tank",
        scene.group_id,
        None,
    )
    assert (saved["position"], saved["active"]) == (1, True)  # its place and state stay
    listing = (await client.get("/lead-rules?done=saved")).text
    assert "Rule saved." in listing
    assert "country NO, SE · region Oslo" in listing

    stale = await post_form(client, path, edit | {"name": "Late"}, page=path)  # the version read before the save
    assert stale.status_code == 409
    assert (await ok(await client.get(f"{API}/routing-rules/{rule['id']}", headers=world.admin.headers)))[
        "name"
    ] == "Nordics to the tank"

    await sign_in(world.cm_a)
    assert (await client.get(path)).status_code == 403
    token = await csrf_token(client, "/lead-rules")  # a forged post with the manager's own token
    refused = await client.post(path, data={"_csrf_token": token, **edit})
    assert refused.status_code == 403


CSV = (
    "First name,Last name,Company,Email,Country\n"
    "Ann,Lee,Hooli,ann@hooli.example,US\n"
    "Bob,Stone,Pied Piper,not-an-email,US\n"
    "Cy,Ray,Aviato,cy@aviato.example,Atlantis\n"
)


async def test_import_all_or_nothing_reports_each_bad_row_then_skip_bad_rows_keeps_the_good(
    client: httpx.AsyncClient, world: World, sign_in: SignIn
) -> None:
    await sign_in(world.cm_a)
    assert "If some rows are bad" in (await client.get("/lead-import")).text
    upload = {"file": ("leads.csv", CSV.encode(), "text/csv")}
    reply = await post_form(client, "/lead-import", {"mode": "all_or_nothing"}, page="/lead-import", **upload)
    assert reply.status_code == 422
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\w+)</td><td>([^<]*)</td></tr>", reply.text)
    assert [(line, field) for line, field, _ in rows] == [("3", "email"), ("4", "country")]
    assert "Nothing was imported" in reply.text
    queue = await ok(await client.get(f"{API}/leads", params={"status": "new"}, headers=world.cm_a.headers))
    assert queue["items"] == []

    reply = await post_form(client, "/lead-import", {"mode": "skip_bad_rows"}, page="/lead-import", **upload)
    assert reply.status_code == 200
    assert "Imported 1 of 3 rows from leads.csv" in reply.text
    assert re.search(r"<tr><td>3</td><td>email</td>", reply.text)
    assert 'value="skip_bad_rows" checked' in reply.text
    queue = await ok(await client.get(f"{API}/leads", params={"status": "new"}, headers=world.cm_a.headers))
    assert [lead["company"] for lead in queue["items"]] == ["Hooli"]

    empty = {"file": ("empty.csv", b"", "text/csv")}
    reply = await post_form(client, "/lead-import", {"mode": "skip_bad_rows"}, page="/lead-import", **empty)
    assert reply.status_code == 400
    assert field_error(reply.text, "file") == "Choose a CSV file to import."
    latin = {"file": ("latin.csv", "First name,Last name,Company\nJos\xe9,P,Q\n".encode("latin-1"), "text/csv")}
    reply = await post_form(client, "/lead-import", {"mode": "skip_bad_rows"}, page="/lead-import", **latin)
    assert reply.status_code == 422
    assert "not UTF-8" in field_error(reply.text, "file")


async def test_qualify_takes_a_country_by_name_never_cutting_it_to_two_letters(
    client: httpx.AsyncClient, world: World, scene: LeadScene, sign_in: SignIn
) -> None:
    body = {"first_name": "Jürgen", "last_name": "Müller", "company": "Müller GmbH", "source": "web"}
    lead = await ok(await client.post(f"{API}/leads", json=body, headers=world.cm_a.headers), 201)
    await sign_in(world.cm_a)
    path = f"/lead-queue/{lead['id']}"
    page = (await client.get(path)).text
    country_input = re.search(r'<input[^>]*id="country"[^>]*>', page)
    assert country_input, "no country input"
    assert 'maxlength="2"' not in country_input.group(0)  # the browser cut "Germany" to "GE" (Georgia)
    fields = {
        "expected_version": str(lead["version"]),
        "stage": "marketing_qualified",
        "current_situation": "",
        "product_id": "",
        "time_frame": "",
        "budget": "",
        "currency": "",
        "employees": "",
        "country": "Atlantis",
        "region": "",
        "note": "",
    }
    reply = await post_form(client, f"{path}/qualify", fields, page=path)
    assert reply.status_code == 400
    assert field_error(reply.text, "country") == "Enter the country's name or ISO code, like Germany or DE."
    reply = await post_form(client, f"{path}/qualify", fields | {"country": "Germany"}, page=path)
    assert reply.status_code == 303, reply.text
    assert (await lead_via_api(client, world, lead["id"]))["country"] == "DE"
