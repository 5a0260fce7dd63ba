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


async def test_assign_channel_managers_to_a_partner(sign_in: SignIn, world: World, client: Client) -> None:
    await sign_in(world.admin)
    page = f"/partners/{world.partner_a}"
    managers = f"{API}/partners/{world.partner_a}/channel-managers"
    both = {"channel_manager_ids": [str(world.cm_a.user_id), str(world.cm_b.user_id)]}
    assert (await post_form(client, f"{page}/channel-managers", both, page=page)).status_code == 303
    read = (await client.get(managers, headers=world.admin.headers)).json()
    assert sorted(read["channel_manager_ids"]) == sorted(both["channel_manager_ids"])

    not_a_manager = {"channel_manager_ids": [str(world.pa_user.user_id)]}
    reply = await post_form(client, f"{page}/channel-managers", not_a_manager, page=page)
    assert reply.status_code == 422
    found = re.search(r'id="channel_manager_ids-error">([^<]*)<', reply.text)
    assert found
    assert "Not channel managers" in found.group(1)
    after = (await client.get(managers, headers=world.admin.headers)).json()
    assert sorted(after["channel_manager_ids"]) == sorted(both["channel_manager_ids"])


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


ADMIN_ONLY = ("/programs", "/lead-programs", "/shark-tank", "/webhooks")


async def test_partners_and_channel_managers_cannot_reach_vendor_admin_pages(
    sign_in: SignIn, world: World, client: Client
) -> None:
    home = (await (await sign_in(world.admin)).get("/")).text
    for path in (*ADMIN_ONLY, "/partners"):
        assert f'href="{path}"' in home
    for actor in (world.pa_admin, world.pa_user, world.cm_a, world.leader):
        await sign_in(actor)
        shown = (await client.get("/")).text
        for path in ADMIN_ONLY:
            assert f'href="{path}"' not in shown.split("<main")[0], (actor.email, path)
            assert (await client.get(path)).status_code == 403, (actor.email, path)
    # Partners are read (without their forms) by the other vendor roles, as in the API.
    for actor in (world.pa_admin, world.pa_user):
        await sign_in(actor)
        assert 'href="/partners"' not in (await client.get("/")).text.split("<main")[0]
        for path in ("/partners", f"/partners/{world.partner_b}", f"/partners/{world.partner_a}"):
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


# Users -----------------------------------------------------------------------------------------


def user_rows(page: str) -> list[str]:
    return re.findall(r'<tr id="user-[0-9a-f-]{36}">\s*<td[^>]*>[^<]*</td>\s*<td data-label="Email">([^<]+)</td>', page)


async def test_user_list_pages_with_a_cursor(sign_in: SignIn, world: World, client: Client) -> None:
    for n in range(45):
        body = {"email": f"u{n:02d}@acme.test", "name": f"U {n}", "role": "partner_user", "password": "x" * 12}
        made = await client.post(f"{API}/users", json=body, headers=world.pa_admin.headers)
        assert made.status_code == 201, made.text
    await sign_in(world.admin)
    first = await client.get("/users")
    assert len(user_rows(first.text)) == 50
    cursor = re.search(r'href="/users\?cursor=([^"]+)" rel="next"', first.text)
    assert cursor
    second = user_rows((await client.get(f"/users?cursor={cursor.group(1)}")).text)
    assert len(second) == 3  # 45 + the world's 8
    assert not set(second) & set(user_rows(first.text))


async def test_vendor_admin_creates_a_partner_user_and_changes_its_role(
    sign_in: SignIn, world: World, client: Client
) -> None:
    await sign_in(world.admin)
    form = {
        "name": "New Seller",
        "email": "new@globex.test",
        "role": "partner_user",
        "partner_id": str(world.partner_b),
        "password": "a-first-password",
    }
    made = await post_form(client, "/users", form, page="/users")
    assert made.status_code == 303, made.text
    users = await api_items(client, world, f"users?partner_id={world.partner_b}")
    new = next(u for u in users if u["email"] == "new@globex.test")
    assert (new["role"], new["partner_id"]) == ("partner_user", str(world.partner_b))

    role = {"role": "partner_admin", "expected_version": str(new["version"])}
    assert (await post_form(client, f"/users/{new['id']}/role", role, page="/users")).status_code == 303
    after = (await client.get(f"{API}/users/{new['id']}", headers=world.admin.headers)).json()
    assert after["role"] == "partner_admin"
    off = {"active": "false", "expected_version": str(after["version"])}
    assert (await post_form(client, f"/users/{new['id']}/active", off, page="/users")).status_code == 303
    assert (await client.get(f"{API}/users/{new['id']}", headers=world.admin.headers)).json()["active"] is False


@pytest.mark.parametrize(
    ("change", "field", "words", "status"),
    [
        ({"email": "not-an-email"}, "email", "valid email", 400),
        ({"password": "short"}, "password", "10 to 200", 400),
        ({"partner_id": ""}, "partner_id", "need a partner_id", 422),
        ({"email": "seller@acme.test"}, "email", "already exists", 409),
    ],
)
async def test_bad_user_field_is_shown_next_to_it_and_nothing_is_written(
    sign_in: SignIn, world: World, client: Client, change: dict[str, str], field: str, words: str, status: int
) -> None:
    await sign_in(world.admin)
    form = {"name": "N", "email": "n@acme.test", "role": "partner_user", "partner_id": str(world.partner_a)}
    reply = await post_form(client, "/users", {**form, "password": "long-enough-1", **change}, page="/users")
    assert reply.status_code == status
    assert words in field_error(reply.text, field)
    assert "long-enough" not in reply.text  # a password is never echoed
    assert len(await api_items(client, world, "users")) == 8


async def test_partner_admin_manages_only_its_own_partner_roles(sign_in: SignIn, world: World, client: Client) -> None:
    await sign_in(world.pa_admin)
    page = (await client.get("/users")).text
    assert 'href="/users"' in page.split("<main")[0]
    assert set(user_rows(page)) == {"admin@acme.test", "seller@acme.test"}
    assert "globex" not in page
    assert '<option value="vendor_admin"' not in page
    assert 'name="partner_id"' not in page
    assert "Globex" not in (await client.get(f"/users?partner_id={world.partner_b}")).text

    form = {"name": "Acme Two", "email": "two@acme.test", "role": "partner_user", "password": "a-first-password"}
    assert (await post_form(client, "/users", form, page="/users")).status_code == 303
    made = next(u for u in await api_items(client, world, "users") if u["email"] == "two@acme.test")
    assert made["partner_id"] == str(world.partner_a)

    # A vendor role is refused, and another partner's user is not there to change.
    vendor = {**form, "email": "three@acme.test", "role": "vendor_admin"}
    assert (await post_form(client, "/users", vendor, page="/users")).status_code == 403
    theirs = {"active": "false", "expected_version": "1"}
    reply = await post_form(client, f"/users/{world.pb_user.user_id}/active", theirs, page="/users", any_form=True)
    assert reply.status_code == 404
    assert "globex" not in reply.text
    assert len(await api_items(client, world, "users")) == 9


async def test_partner_user_cannot_reach_the_users_page(sign_in: SignIn, world: World, client: Client) -> None:
    await sign_in(world.pa_user)
    assert 'href="/users"' not in (await client.get("/")).text
    assert (await client.get("/users")).status_code == 403
    form = {"name": "X", "email": "x@acme.test", "role": "partner_user", "password": "a-first-password"}
    assert (await post_form(client, "/users", form, page="/", any_form=True)).status_code == 403
    assert len(await api_items(client, world, "users")) == 8


# Shark-tank groups -----------------------------------------------------------------------------


async def test_create_a_group_and_set_its_members(sign_in: SignIn, world: World, client: Client) -> None:
    await sign_in(world.admin)
    form = {"name": "Americas tank", "partner_ids": [str(world.partner_a)], "max_open_claims_per_partner": "2"}
    group_id = created_id(await post_form(client, "/shark-tank", form, page="/shark-tank"), "/shark-tank")
    read = (await client.get(f"{API}/distribution/groups/{group_id}", headers=world.admin.headers)).json()
    assert (read["partner_ids"], read["max_open_claims_per_partner"]) == ([str(world.partner_a)], 2)
    assert "Acme Resellers" in (await client.get("/shark-tank")).text

    page = f"/shark-tank/{group_id}"
    both = {"partner_ids": [str(world.partner_a), str(world.partner_b)]}
    assert (await post_form(client, f"{page}/members", both, page=page)).status_code == 303
    read = (await client.get(f"{API}/distribution/groups/{group_id}", headers=world.admin.headers)).json()
    assert sorted(read["partner_ids"]) == sorted([str(world.partner_a), str(world.partner_b)])
    off = {"active": "false", "expected_version": str(read["version"])}
    assert (await post_form(client, f"{page}/active", off, page=page)).status_code == 303


@pytest.mark.parametrize(
    ("change", "field", "words", "status"),
    [
        ({"name": ""}, "name", "at most 200", 400),
        ({"max_open_claims_per_partner": "0"}, "max_open_claims_per_partner", "from 1", 400),
        ({"partner_ids": [str(uuid.UUID(int=7))]}, "partner_ids", "not found", 422),
    ],
)
async def test_bad_group_field_is_shown_next_to_it_and_nothing_is_written(
    sign_in: SignIn, world: World, client: Client, change: dict[str, object], field: str, words: str, status: int
) -> None:
    await sign_in(world.admin)
    form = {"name": "Tank", "partner_ids": [str(world.partner_a)], "max_open_claims_per_partner": "3"}
    reply = await post_form(client, "/shark-tank", {**form, **change}, page="/shark-tank")
    assert reply.status_code == status
    if field == "partner_ids":
        found = re.search(r'id="partner_ids-error">([^<]*)<', reply.text)
        assert found
        assert words in found.group(1)
    else:
        assert words in field_error(reply.text, field)
    assert await api_items(client, world, "distribution/groups") == []


# Webhooks --------------------------------------------------------------------------------------


async def test_register_list_and_delete_a_webhook(sign_in: SignIn, world: World, client: Client) -> None:
    await sign_in(world.admin)
    form = {"url": "https://hooks.example/prm", "event_types": "registration.approved, partner.created"}
    made = await post_form(client, "/webhooks", form, page="/webhooks")
    assert made.status_code == 201
    secret = re.search(r'<code class="secret">(whsec_[^<]+)</code>', made.text)
    assert secret
    hooks = await api_items(client, world, "webhooks")
    assert [(h["url"], h["event_types"]) for h in hooks] == [
        ("https://hooks.example/prm", ["registration.approved", "partner.created"])
    ]
    listing = (await client.get("/webhooks")).text
    assert "https://hooks.example/prm" in listing
    assert secret.group(1) not in listing  # shown once only

    deleted = await post_form(client, f"/webhooks/{hooks[0]['id']}/delete", {}, page="/webhooks")
    assert deleted.status_code == 303
    assert await api_items(client, world, "webhooks") == []


async def test_bad_webhook_url_is_shown_next_to_it_and_nothing_is_written(
    sign_in: SignIn, world: World, client: Client
) -> None:
    await sign_in(world.admin)
    reply = await post_form(client, "/webhooks", {"url": "hooks.example", "event_types": "*"}, page="/webhooks")
    assert reply.status_code == 400
    assert "http://" in field_error(reply.text, "url")
    empty = await post_form(client, "/webhooks", {"url": "https://h.example", "event_types": " , "}, page="/webhooks")
    assert "event types" in field_error(empty.text, "event_types")
    assert await api_items(client, world, "webhooks") == []


async def test_webhook_list_pages_with_a_cursor(sign_in: SignIn, world: World, client: Client) -> None:
    for n in range(52):
        body = {"url": f"https://hooks.example/{n}"}
        assert (await client.post(f"{API}/webhooks", json=body, headers=world.admin.headers)).status_code == 201
    await sign_in(world.admin)
    first = (await client.get("/webhooks")).text
    assert first.count('<tr id="webhook-') == 50
    cursor = re.search(r'href="/webhooks\?cursor=([^"]+)" rel="next"', first)
    assert cursor
    assert (await client.get(f"/webhooks?cursor={cursor.group(1)}")).text.count('<tr id="webhook-') == 2


# Routing rules: the nearest-partners target ----------------------------------------------------


async def test_rule_form_offers_nearest_partners_of_a_program(sign_in: SignIn, world: World, client: Client) -> None:
    made = await client.post(f"{API}/distribution/programs", json={"name": "Leads EU"}, headers=world.admin.headers)
    assert made.status_code == 201, made.text
    program_id = made.json()["id"]
    await sign_in(world.admin)
    form = (await client.get("/lead-rules")).text
    assert f'<option value="nearest_partners:{program_id}">Nearest to the lead in Leads EU</option>' in form
    rule = {"name": "Near EU", "countries": "DE", "target": f"nearest_partners:{program_id}"}
    assert (await post_form(client, "/lead-rules", rule, page="/lead-rules")).status_code == 303
    rules = await api_items(client, world, "distribution/routing-rules")
    assert [(r["name"], r["target_kind"], r["program_id"]) for r in rules] == [
        ("Near EU", "nearest_partners", program_id)
    ]
    assert "nearest partners: Leads EU" in (await client.get("/lead-rules")).text


# Lead programs ---------------------------------------------------------------------------------


LEAD_PROGRAM = {
    "name": "Leads Americas",
    "response_hours": "24",
    "hot_response_hours": "2",
    "claim_window_hours": "12",
    "max_open_leads": "10",
    "min_acceptance_pct": "",
    "eligible_tiers": ["gold"],
    "auto_qualify_bands": ["hot", "warm"],
}


async def test_create_and_edit_a_lead_program_with_its_auto_qualify_bands(
    sign_in: SignIn, world: World, client: Client
) -> None:
    await sign_in(world.admin)
    made = await post_form(client, "/lead-programs", LEAD_PROGRAM, page="/lead-programs")
    program_id = created_id(made, "/lead-programs")
    read = (await client.get(f"{API}/distribution/programs/{program_id}", headers=world.admin.headers)).json()
    assert (sorted(read["auto_qualify_bands"]), read["response_hours"], read["min_acceptance_pct"]) == (
        ["hot", "warm"],
        24,
        None,
    )
    assert "hot, warm" in (await client.get("/lead-programs")).text

    page = f"/lead-programs/{program_id}"
    edit = {**LEAD_PROGRAM, "auto_qualify_bands": ["hot"], "min_acceptance_pct": "60"}
    edit["expected_version"] = str(read["version"])
    assert (await post_form(client, page, edit, page=page)).status_code == 303
    read = (await client.get(f"{API}/distribution/programs/{program_id}", headers=world.admin.headers)).json()
    assert (read["auto_qualify_bands"], read["min_acceptance_pct"]) == (["hot"], 60)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"response_hours": "0"}, "response_hours", "1 to 1440"),
        ({"min_acceptance_pct": "120"}, "min_acceptance_pct", "0 to 100"),
        ({"name": ""}, "name", "at most 200"),
    ],
)
async def test_bad_lead_program_field_is_shown_next_to_it_and_nothing_is_written(
    sign_in: SignIn, world: World, client: Client, change: dict[str, str], field: str, words: str
) -> None:
    await sign_in(world.admin)
    reply = await post_form(client, "/lead-programs", {**LEAD_PROGRAM, **change}, page="/lead-programs")
    assert reply.status_code == 400
    assert words in field_error(reply.text, field)
    assert await api_items(client, world, "distribution/programs") == []
