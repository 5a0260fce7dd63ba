"""Admin pages over HTTP with the portal's session: partners, deal programs and their approval
rules, users, shark-tank groups and webhooks. Each: the paged list, a create that works, a bad
field shown next to the field with nothing written, and no way in for a partner."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.conftest import World
from tests.portal.conftest import SignIn
from tests.portal.forms import Client
from tests.portal.test_connect_pages import field_error, post_form
from tests.security.factories import API


async def api_items(client: Client, world: World, path: str) -> list[dict[str, object]]:
    reply = await client.get(f"{API}/{path}", headers=world.admin.headers)
    assert reply.status_code == 200, reply.text
    items: list[dict[str, object]] = reply.json()["items"]
    return items


def created_id(reply: httpx.Response, prefix: str) -> str:
    assert reply.status_code == 303, reply.text
    found = re.search(rf"^{prefix}/([0-9a-f-]{{36}})\?done=created$", reply.headers["location"])
    assert found, reply.headers["location"]
    return found.group(1)


# Partners --------------------------------------------------------------------------------------


async def test_partner_list_pages_with_a_cursor(sign_in: SignIn, world: World, client: Client) -> None:
    for n in range(55):
        made = await client.post(f"{API}/partners", json={"name": f"Reseller {n:02d}"}, headers=world.admin.headers)
        assert made.status_code == 201, made.text
    await sign_in(world.admin)
    first = await client.get("/partners")
    assert first.status_code == 200
    names = re.findall(r'<a href="/partners/[0-9a-f-]{36}">([^<]+)</a>', first.text)
    assert len(names) == 50
    assert names[:2] == ["Acme Resellers", "Globex Integrators"]
    cursor = re.search(r'href="/partners\?cursor=([^"]+)" rel="next"', first.text)
    assert cursor
    second = await client.get(f"/partners?cursor={cursor.group(1)}")
    rest = re.findall(r'<a href="/partners/[0-9a-f-]{36}">([^<]+)</a>', second.text)
    assert rest == [f"Reseller {n:02d}" for n in range(48, 55)]
    assert 'rel="next"' not in second.text


async def test_create_edit_and_deactivate_a_partner(sign_in: SignIn, world: World, client: Client) -> None:
    await sign_in(world.admin)
    form = {
        "name": "Contoso",
        "tier": "gold",
        "country": "Germany",
        "city": "Munich",
        "website": "https://contoso.example",
    }
    partner_id = created_id(await post_form(client, "/partners", form, page="/partners"), "/partners")
    made = (await client.get(f"{API}/partners/{partner_id}", headers=world.admin.headers)).json()
    assert (made["name"], made["tier"], made["country"], made["city"]) == ("Contoso", "gold", "DE", "Munich")
    assert made["latitude"] is not None  # placed by its city

    page = f"/partners/{partner_id}"
    edit = {**form, "tier": "platinum", "expected_version": str(made["version"]), "latitude": "0", "longitude": "0"}
    saved = await post_form(client, page, edit, page=page)
    assert saved.status_code == 303, saved.text
    after = (await client.get(f"{API}/partners/{partner_id}", headers=world.admin.headers)).json()
    assert (after["tier"], after["latitude"], after["longitude"]) == ("platinum", 0.0, 0.0)

    off = {"active": "false", "expected_version": str(after["version"])}
    assert (await post_form(client, f"{page}/active", off, page=page)).status_code == 303
    assert (await client.get(f"{API}/partners/{partner_id}", headers=world.admin.headers)).json()["active"] is False
    assert "Partner deactivated" in (await client.get(f"{page}?done=deactivated")).text


@pytest.mark.parametrize(
    ("form", "field", "words", "status"),
    [
        ({"name": "Contoso", "country": "Atlantis"}, "country", "country by name or ISO code", 400),
        ({"name": "Contoso", "website": "contoso.example"}, "website", "http://", 400),
        ({"name": "Contoso", "latitude": "north"}, "latitude", "between -90 and 90", 400),
        ({"name": "Contoso", "latitude": "48.1"}, "longitude", "together", 422),
        ({"name": "Acme Resellers"}, "name", "already exists", 409),
    ],
)
async def test_bad_partner_field_is_shown_next_to_it_and_nothing_is_written(
    sign_in: SignIn, world: World, client: Client, form: dict[str, str], field: str, words: str, status: int
) -> None:
    await sign_in(world.admin)
    reply = await post_form(client, "/partners", {"tier": "gold", **form}, page="/partners")
    assert reply.status_code == status
    assert words in field_error(reply.text, field)
    assert 'value="Contoso"' in reply.text or form["name"] == "Acme Resellers"  # what was typed stays
    assert len(await api_items(client, world, "partners")) == 2


async def test_stale_partner_edit_is_refused_and_changes_nothing(sign_in: SignIn, world: World, client: Client) -> None:
    await sign_in(world.admin)
    page = f"/partners/{world.partner_a}"
    reply = await post_form(client, page, {"name": "Renamed", "tier": "gold", "expected_version": "7"}, page=page)
    assert reply.status_code == 409
    assert (await client.get(f"{API}/partners/{world.partner_a}", headers=world.admin.headers)).json()[
        "name"
    ] == "Acme Resellers"


ADMIN_ONLY = ("/partners", "/programs", "/shark-tank", "/webhooks")


async def test_partners_and_channel_managers_cannot_reach_vendor_admin_pages(
    sign_in: SignIn, world: World, client: Client
) -> None:
    home = (await (await sign_in(world.admin)).get("/")).text
    for path in ADMIN_ONLY:
        assert f'href="{path}"' in home
    for actor in (world.pa_admin, world.pa_user, world.cm_a, world.leader):
        await sign_in(actor)
        shown = (await client.get("/")).text
        for path in ADMIN_ONLY:
            assert f'href="{path}"' not in shown.split("<main")[0], (actor.email, path)
            assert (await client.get(path)).status_code == 403, (actor.email, path)
        for path in (f"/partners/{world.partner_b}", f"/partners/{world.partner_a}"):
            reply = await client.get(path)
            assert reply.status_code == 403
            assert "Globex" not in reply.text


async def test_partner_cannot_post_to_admin_forms(sign_in: SignIn, world: World, client: Client) -> None:
    await sign_in(world.pa_admin)
    reply = await post_form(client, "/partners", {"name": "Sneaky"}, page="/", any_form=True)
    assert reply.status_code == 403
    assert len(await api_items(client, world, "partners")) == 2


# Deal programs and approval rules ----------------------------------------------------------


PROGRAM = {
    "name": "Channel Deals",
    "currency": "USD",
    "margin_bps": "250",
    "min_deal": "1,000.00",
    "review_hours": "48",
    "protection_days": "120",
    "reminder_days": "14",
    "extension_days": "30",
    "max_extensions": "1",
    "max_resubmissions": "2",
    "eligible_tiers": ["gold", "silver"],
    "required_fields": ["products", "contact_email"],
}


async def test_create_and_edit_a_program_with_its_protection_days(
    sign_in: SignIn, world: World, client: Client
) -> None:
    await sign_in(world.admin)
    program_id = created_id(await post_form(client, "/programs", PROGRAM, page="/programs"), "/programs")
    made = (await client.get(f"{API}/deal-programs/{program_id}", headers=world.admin.headers)).json()
    assert (made["protection_days"], made["min_deal_minor"], made["margin_bps"]) == (120, 100_000, 250)
    assert sorted(made["eligible_tiers"]) == ["gold", "silver"]
    listing = (await client.get("/programs")).text
    assert "Channel Deals" in listing
    assert "2.50%" in listing

    page = f"/programs/{program_id}"
    edit = {**PROGRAM, "protection_days": "180", "min_deal": "0", "expected_version": str(made["version"])}
    assert (await post_form(client, page, edit, page=page)).status_code == 303
    after = (await client.get(f"{API}/deal-programs/{program_id}", headers=world.admin.headers)).json()
    assert (after["protection_days"], after["min_deal_minor"]) == (180, 0)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"protection_days": "0"}, "protection_days", "1 to 730"),
        ({"protection_days": "ninety"}, "protection_days", "1 to 730"),
        ({"currency": "dollars"}, "currency", "three-letter"),
        ({"min_deal": "1.234"}, "min_deal", "at most 2 decimals"),
        ({"eligible_tiers": []}, "eligible_tiers", "at least one tier"),
    ],
)
async def test_bad_program_field_is_shown_next_to_it_and_nothing_is_written(
    sign_in: SignIn, world: World, client: Client, change: dict[str, object], field: str, words: str
) -> None:
    await sign_in(world.admin)
    reply = await post_form(client, "/programs", {**PROGRAM, **change}, page="/programs")
    assert reply.status_code == 400
    if field == "eligible_tiers":
        assert words in re.search(r'id="eligible_tiers-error">([^<]*)<', reply.text).group(1)  # type: ignore[union-attr]
    else:
        assert words in field_error(reply.text, field)
    assert await api_items(client, world, "deal-programs") == []


async def program_id_made(client: Client, world: World) -> str:
    body = {"name": "Rules Program", "margin_bps": 0, "currency": "USD"}
    made = await client.post(f"{API}/deal-programs", json=body, headers=world.admin.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_set_approval_rules_on_a_program(sign_in: SignIn, world: World, client: Client) -> None:
    program_id = await program_id_made(client, world)
    await sign_in(world.admin)
    page = f"/programs/{program_id}"
    rules = {
        "expected_version": "1",
        "aa_on": "on",
        "aa_tiers": ["gold"],
        "aa_max_amount": "20,000",
        "ar_on": "on",
        "ar_countries": "United States, Canada",
        "sa_on": "on",
        "sa_above": "50000",
        "sa_approver": "vendor_admin",
    }
    saved = await post_form(client, f"{page}/approval-rules", rules, page=page)
    assert saved.status_code == 303, saved.text
    read = (await client.get(f"{API}/deal-programs/{program_id}/approval-rules", headers=world.admin.headers)).json()
    assert read["auto_approve"] == {"tiers": ["gold"], "max_amount_minor": 2_000_000}
    assert read["auto_reject"] == {"countries": ["US", "CA"], "existing_direct_opportunity": False}
    assert read["second_approval"] == {"above_minor": 5_000_000, "approver": "vendor_admin"}
    shown = (await client.get(page)).text
    assert 'value="20000.00"' in shown
    assert 'value="US, CA"' in shown


@pytest.mark.parametrize(
    ("change", "field", "words", "status"),
    [
        ({"aa_max_amount": "60000"}, "aa_max_amount", "cannot reach above", 422),
        ({"aa_max_amount": "lots"}, "aa_max_amount", "Enter an amount like", 400),
        ({"ar_countries": "Atlantis"}, "ar_countries", "by name or ISO code", 400),
        ({"sa_above": ""}, "sa_above", "above which", 400),
    ],
)
async def test_bad_approval_rule_is_shown_next_to_it_and_nothing_is_written(
    sign_in: SignIn, world: World, client: Client, change: dict[str, str], field: str, words: str, status: int
) -> None:
    program_id = await program_id_made(client, world)
    await sign_in(world.admin)
    page = f"/programs/{program_id}"
    rules = {"expected_version": "1", "aa_on": "on", "aa_tiers": ["gold"], "aa_max_amount": "100"}
    rules |= {"ar_on": "on", "ar_countries": "US", "sa_on": "on", "sa_above": "50000", "sa_approver": "channel_manager"}
    reply = await post_form(client, f"{page}/approval-rules", rules | change, page=page)
    assert reply.status_code == status, re.findall(r"(?:field-error|alert-error)[^>]*>([^<]*)<", reply.text)
    assert words in field_error(reply.text, field)
    read = (await client.get(f"{API}/deal-programs/{program_id}/approval-rules", headers=world.admin.headers)).json()
    assert (read["auto_approve"], read["auto_reject"], read["second_approval"], read["version"]) == (
        None,
        None,
        None,
        1,
    )


async def test_partner_cannot_reach_programs_or_their_rules(sign_in: SignIn, world: World, client: Client) -> None:
    program_id = await program_id_made(client, world)
    for actor in (world.pa_admin, world.pb_user):
        await sign_in(actor)
        assert (await client.get(f"/programs/{program_id}")).status_code == 403
        reply = await post_form(
            client, f"/programs/{program_id}/approval-rules", {"expected_version": "1"}, page="/", any_form=True
        )
        assert reply.status_code == 403
    assert uuid.UUID(program_id)
