"""A lead program's members on its page (enrol, change, remove; a bad territory list shown next
to the field with nothing written) and a partner's certified products on the partner's page
(set and clear; channel managers and leadership read them, only vendor admins change them)."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest

from tests.conftest import World
from tests.portal.conftest import SignIn
from tests.portal.forms import Client
from tests.portal.test_connect_pages import field_error, post_form
from tests.security.factories import API

DIST = f"{API}/distribution"


async def new_program(client: Client, world: World) -> str:
    made = await client.post(f"{DIST}/programs", json={"name": "Northwind Leads"}, headers=world.admin.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def members_of(client: Client, world: World, program_id: str) -> list[dict[str, Any]]:
    reply = await client.get(f"{DIST}/programs/{program_id}/members", headers=world.admin.headers)
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def member_row(page: str, partner_id: uuid.UUID) -> str:
    """The row's text as a reader sees it (tags dropped, spaces folded)."""
    found = re.search(rf'<tr id="member-{partner_id}">(.*?)</tr>', page, re.S)
    assert found, f"{partner_id} is not listed"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def done_of(reply: Any) -> str:
    assert reply.status_code == 303, reply.text
    return str(reply.headers["location"])


# Members ---------------------------------------------------------------------------------------


async def test_enrol_change_and_remove_a_member(sign_in: SignIn, world: World, client: Client) -> None:
    program_id = await new_program(client, world)
    await sign_in(world.admin)
    page = f"/lead-programs/{program_id}"
    action = f"{page}/members"
    assert "No members yet" in (await client.get(page)).text

    enrol = {"partner_id": str(world.partner_a), "weight": "150", "max_open_leads": "", "territories": "US, CA"}
    assert done_of(await post_form(client, action, enrol, page=page)) == f"{page}?done=enrolled"
    (read,) = await members_of(client, world, program_id)
    assert (read["partner_id"], read["weight"], read["max_open_leads"], read["territories"]) == (
        str(world.partner_a),
        150,
        None,
        ["US", "CA"],
    )
    shown = await client.get(f"{page}?done=enrolled")
    assert "Partner enrolled" in shown.text
    row = member_row(shown.text, world.partner_a)
    assert row.startswith("Acme Resellers 150 25 (the program's) US, CA")
    assert str(world.partner_a) not in row  # a name, never a bare id

    # "Change" opens the form holding the member's terms; the partner stays fixed.
    change_page = f"{page}?member={world.partner_a}"
    form = (await client.get(change_page)).text
    assert "Change the terms of Acme Resellers" in form
    assert re.search(r'id="member-territories"[^>]*value="US, CA"', form)
    change = {**enrol, "editing": "1", "weight": "200", "max_open_leads": "5", "territories": "DE"}
    assert done_of(await post_form(client, action, change, page=change_page)) == f"{page}?done=member_saved"
    (read,) = await members_of(client, world, program_id)
    assert (read["weight"], read["max_open_leads"], read["territories"]) == (200, 5, ["DE"])
    assert "terms saved." in (await client.get(f"{page}?done=member_saved")).text

    removed = await post_form(client, f"{action}/{world.partner_a}/remove", {}, page=page)
    assert done_of(removed) == f"{page}?done=removed"
    assert await members_of(client, world, program_id) == []
    after = (await client.get(f"{page}?done=removed")).text
    assert "Member removed" in after
    assert f'id="member-{world.partner_a}"' not in after


async def test_enrolling_a_member_again_changes_its_terms(sign_in: SignIn, world: World, client: Client) -> None:
    program_id = await new_program(client, world)
    await sign_in(world.admin)
    page, action = f"/lead-programs/{program_id}", f"/lead-programs/{program_id}/members"
    first = {"partner_id": str(world.partner_b), "weight": "100", "max_open_leads": "", "territories": ""}
    assert done_of(await post_form(client, action, first, page=page)).endswith("done=enrolled")
    again = {**first, "weight": "300"}
    assert done_of(await post_form(client, action, again, page=page)).endswith("done=member_saved")
    (read,) = await members_of(client, world, program_id)
    assert (read["weight"], read["territories"]) == (300, [])
    assert member_row((await client.get(page)).text, world.partner_b).startswith("Globex Integrators 300 25")


@pytest.mark.parametrize(
    ("change", "field", "words", "status"),
    [
        ({"territories": "US,,CA"}, "territories", "Territory 2 is empty", 400),
        ({"territories": "US, CA,"}, "territories", "Territory 3 is empty", 400),
        ({"territories": ", ".join(f"T{n}" for n in range(301))}, "territories", "at most 300 territories", 400),
        ({"territories": "US, " + "x" * 101}, "territories", "Territory 2 is longer than 100", 400),
        ({"weight": "0"}, "weight", "from 1 to 10000", 400),
        ({"weight": "heavy"}, "weight", "from 1 to 10000", 400),
        ({"max_open_leads": "-1"}, "max_open_leads", "program's cap", 400),
        ({"partner_id": ""}, "partner_id", "Choose a partner", 400),
        ({"partner_id": str(uuid.UUID(int=7))}, "partner_id", "not found", 422),
    ],
)
async def test_bad_member_field_is_shown_next_to_it_and_nothing_is_written(
    sign_in: SignIn, world: World, client: Client, change: dict[str, str], field: str, words: str, status: int
) -> None:
    program_id = await new_program(client, world)
    await sign_in(world.admin)
    page = f"/lead-programs/{program_id}"
    form = {"partner_id": str(world.partner_a), "weight": "100", "max_open_leads": "", "territories": "US", **change}
    reply = await post_form(client, f"{page}/members", form, page=page)
    assert reply.status_code == status
    assert words in field_error(reply.text, f"member-{field}")
    if field == "territories":  # what was typed stays, to be corrected
        assert f'value="{html.escape(form["territories"])}"' in reply.text
    assert await members_of(client, world, program_id) == []


async def test_bad_change_leaves_the_member_as_it_was(sign_in: SignIn, world: World, client: Client) -> None:
    program_id = await new_program(client, world)
    body = {"weight": 120, "territories": ["US"]}
    put = await client.put(
        f"{DIST}/programs/{program_id}/members/{world.partner_a}", json=body, headers=world.admin.headers
    )
    assert put.status_code == 200, put.text
    await sign_in(world.admin)
    page = f"/lead-programs/{program_id}?member={world.partner_a}"
    bad = {"partner_id": str(world.partner_a), "editing": "1", "weight": "500", "territories": "US;;CA,"}
    reply = await post_form(client, f"/lead-programs/{program_id}/members", bad, page=page)
    assert reply.status_code == 400
    assert "Territory 2 is empty" in field_error(reply.text, "member-territories")
    assert "Change the terms of Acme Resellers" in reply.text  # still the change form, not the enrol form
    (read,) = await members_of(client, world, program_id)
    assert (read["weight"], read["territories"]) == (120, ["US"])


async def test_members_page_with_a_cursor(sign_in: SignIn, world: World, client: Client) -> None:
    program_id = await new_program(client, world)
    for n in range(52):
        made = await client.post(f"{API}/partners", json={"name": f"Reseller {n:02d}"}, headers=world.admin.headers)
        assert made.status_code == 201, made.text
        path = f"{DIST}/programs/{program_id}/members/{made.json()['id']}"
        assert (await client.put(path, json={}, headers=world.admin.headers)).status_code == 200
    await sign_in(world.admin)
    first = (await client.get(f"/lead-programs/{program_id}")).text
    assert len(re.findall(r'<tr id="member-', first)) == 50
    cursor = re.search(rf'href="/lead-programs/{program_id}\?cursor=([^"]+)" rel="next"', first)
    assert cursor
    second = (await client.get(f"/lead-programs/{program_id}?cursor={cursor.group(1)}")).text
    assert len(re.findall(r'<tr id="member-', second)) == 2


async def test_only_vendor_admins_reach_members(sign_in: SignIn, world: World, client: Client) -> None:
    program_id = await new_program(client, world)
    page = f"/lead-programs/{program_id}"
    form = {"partner_id": str(world.partner_a), "weight": "100", "territories": ""}
    for actor in (world.cm_a, world.pa_admin):
        await sign_in(actor)
        assert (await client.get(page)).status_code == 403
        reply = await post_form(client, f"{page}/members", form, page="/", any_form=True)
        assert reply.status_code == 403
    assert await members_of(client, world, program_id) == []


# Certifications --------------------------------------------------------------------------------


async def new_products(client: Client, world: World) -> dict[str, str]:
    made = {}
    for sku, name in (("FW-100", "Firewall 100"), ("AN-1", "Analytics")):
        body = {"sku": sku, "name": name, "list_price_minor": 100_00, "currency": "USD"}
        reply = await client.post(f"{API}/products", json=body, headers=world.admin.headers)
        assert reply.status_code == 201, reply.text
        made[sku] = str(reply.json()["id"])
    return made


async def certified(client: Client, world: World, partner_id: uuid.UUID) -> list[str]:
    path = f"{DIST}/partners/{partner_id}/certified-products"
    reply = await client.get(path, headers=world.admin.headers)
    assert reply.status_code == 200, reply.text
    return sorted(reply.json()["product_ids"])


async def test_set_and_clear_certifications(sign_in: SignIn, world: World, client: Client) -> None:
    products = await new_products(client, world)
    await sign_in(world.admin)
    page = f"/partners/{world.partner_a}"
    action = f"{page}/certifications"
    shown = (await client.get(page)).text
    assert "Firewall 100 (FW-100)" in shown
    assert "Analytics (AN-1)" in shown

    both = {"product_ids": [products["FW-100"], products["AN-1"]]}
    assert done_of(await post_form(client, action, both, page=page)) == f"{page}?done=certifications"
    assert await certified(client, world, world.partner_a) == sorted(both["product_ids"])
    assert await certified(client, world, world.partner_b) == []
    after = (await client.get(f"{page}?done=certifications")).text
    assert "Certifications saved" in after
    for product_id in both["product_ids"]:
        assert re.search(rf'name="product_ids" value="{product_id}" checked', after)

    # A product no longer active stays listed and checked, so saving keeps it.
    read = (await client.get(f"{API}/products/{products['AN-1']}", headers=world.admin.headers)).json()
    off = {"expected_version": read["version"], "active": False}
    patched = await client.patch(f"{API}/products/{products['AN-1']}", json=off, headers=world.admin.headers)
    assert patched.status_code == 200, patched.text
    assert "Analytics (AN-1), no longer active" in (await client.get(page)).text

    assert done_of(await post_form(client, action, {}, page=page)).endswith("done=certifications")
    assert await certified(client, world, world.partner_a) == []
    assert 'name="product_ids" value' in (await client.get(page)).text  # the active one is still offered


async def test_bad_certification_is_shown_and_nothing_is_written(sign_in: SignIn, world: World, client: Client) -> None:
    products = await new_products(client, world)
    await sign_in(world.admin)
    page = f"/partners/{world.partner_a}"
    for chosen, status in (([products["FW-100"], str(uuid.UUID(int=9))], 422), ([products["FW-100"], "nope"], 400)):
        reply = await post_form(client, f"{page}/certifications", {"product_ids": chosen}, page=page)
        assert reply.status_code == status
        found = re.search(r'id="product_ids-error">([^<]*)<', reply.text)
        assert found
        assert ("not found" if status == 422 else "Choose products from the list") in found.group(1)
        assert re.search(rf'name="product_ids" value="{products["FW-100"]}" checked', reply.text)  # as sent
        assert await certified(client, world, world.partner_a) == []


async def test_channel_manager_reads_certifications_but_cannot_change_them(
    sign_in: SignIn, world: World, client: Client
) -> None:
    products = await new_products(client, world)
    path = f"{DIST}/partners/{world.partner_a}/certified-products"
    body = {"product_ids": [products["FW-100"]]}
    assert (await client.put(path, json=body, headers=world.admin.headers)).status_code == 200

    for reader in (world.cm_a, world.leader):
        await sign_in(reader)
        page = f"/partners/{world.partner_a}"
        shown = await client.get(page)
        assert shown.status_code == 200
        assert "Firewall 100 (FW-100)" in shown.text
        assert "Analytics" not in shown.text
        assert "/certifications" not in shown.text  # no form
        assert 'name="product_ids"' not in shown.text
        assert f'action="{page}"' not in shown.text  # nor the partner's own forms
        listed = (await client.get("/partners")).text
        assert "Acme Resellers" in listed
        assert 'aria-labelledby="add-title"' not in listed
        forged = await post_form(client, f"{page}/certifications", {"product_ids": []}, page="/", any_form=True)
        assert forged.status_code == 403
        assert await certified(client, world, world.partner_a) == [products["FW-100"]]

    await sign_in(world.cm_a)
    assert (await client.get(f"/partners/{world.partner_b}")).status_code == 404  # not one of theirs
    assert "Globex" not in (await client.get("/partners")).text
