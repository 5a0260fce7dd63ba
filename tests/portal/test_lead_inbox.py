"""The partner's leads inbox at volume: a paged table of offers (not a card per offer with a full
decline form each), filtered by status, lead program and the day they came in, with the decline
form opened in one row at a time; another partner sees none of it."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.portal.conftest import SignIn
from tests.portal.forms import csrf_token
from tests.portal.lead_data import API, LeadScene, lead_scene, ok, qualified_lead, route_via_api

ROW = re.compile(r'<tr id="lead-([0-9a-f-]+)" class="lead-row[^"]*" data-offer="([0-9a-f-]+)"')
DECLINE_FORM = re.compile(r'<form method="post" action="/leads/offers/([0-9a-f-]+)/decline"')


def rows(page: str) -> list[str]:
    """The offer ids of the table's rows, in order."""
    return [offer_id for _, offer_id in ROW.findall(page)]


def link(page: str, pattern: str) -> str:
    found = re.search(rf'href="(/leads\?[^"]*{pattern}[^"]*)"', page)
    assert found, f"no link matching {pattern}"
    return html.unescape(found.group(1))


async def offers_for_acme(client: httpx.AsyncClient, world: World, clock: ManualClock) -> tuple[LeadScene, str]:
    """13 leads routed to Acme: 8 on 2 March, 5 on 3 March; the last 3 through a second program."""
    scene = await lead_scene(client, world)
    admin = world.admin.headers
    referrals = await ok(await client.post(f"{API}/programs", json={"name": "Referral leads"}, headers=admin), 201)
    await ok(await client.put(f"{API}/programs/{referrals['id']}/members/{world.partner_a}", json={}, headers=admin))
    for i in range(13):
        if i == 8:
            clock.advance(timedelta(days=1))
        lead = await qualified_lead(client, world, scene, company=f"Company {i:02d}", email=f"buyer@c{i}.example")
        program = referrals["id"] if i >= 10 else scene.program_id
        await route_via_api(
            client, world, lead, target_kind="partner", partner_id=str(world.partner_a), program_id=program
        )
    return scene, str(referrals["id"])


async def test_thirteen_offers_are_a_paged_filtered_table_with_one_decline_form_in_the_opened_row(
    client: httpx.AsyncClient, world: World, sign_in: SignIn, clock: ManualClock
) -> None:
    scene, referrals = await offers_for_acme(client, world, clock)
    await sign_in(world.pa_user)
    reply = await client.get("/leads")
    assert reply.status_code == 200
    first = reply.text
    assert len(rows(first)) == 10
    assert DECLINE_FORM.findall(first) == []  # no row opened: no decline form at all
    assert "Company 00" in first  # the most pressing deadline first
    second = (await client.get(link(first, "cursor="))).text
    assert len(rows(second)) == 3
    assert set(rows(first)).isdisjoint(rows(second))
    assert 'rel="next"' not in second

    # The buttons are the offers' allowed actions, as the API states them.
    listed = await ok(await client.get(f"{API}/offers", params={"limit": 20}, headers=world.pa_user.headers))
    assert {tuple(offer["allowed_actions"]) for offer in listed["items"]} == {("accept", "decline")}
    assert first.count(">Accept</button>") == first.count(">Decline…</a>") == 10
    staff = await ok(await client.get(f"{API}/offers", headers=world.cm_a.headers))
    assert {tuple(offer["allowed_actions"]) for offer in staff["items"]} == {()}

    # Opening a row's decline form: that row's form only, its reason chosen first with the keyboard.
    offer_id = rows(first)[4]
    opened = (await client.get(link(first, f"decline={offer_id}"))).text
    assert DECLINE_FORM.findall(opened) == [offer_id]
    assert re.search(rf'<select id="reason-{offer_id}" name="reason" autofocus', opened)
    assert len(rows(opened)) == 10
    token = await csrf_token(client, "/leads")
    reply = await client.post(f"/leads/offers/{offer_id}/decline", data={"_csrf_token": token, "reason": ""})
    assert reply.status_code == 400
    assert DECLINE_FORM.findall(reply.text) == [offer_id]  # refused: the form stays open with its message
    assert "Choose why you decline." in reply.text

    by_program = (await client.get(f"/leads?program={referrals}")).text
    assert len(rows(by_program)) == 3
    assert all(f"Company {i:02d}" in by_program for i in (10, 11, 12))
    assert "Referral leads" in by_program
    later = (await client.get("/leads?received_from=2026-03-03")).text
    assert len(rows(later)) == 5
    assert all(f"Company {i:02d}" in later for i in range(8, 13))
    earlier = (await client.get("/leads?received_to=2026-03-02&program=" + scene.program_id)).text
    assert len(rows(earlier)) == 8
    assert "Company 08" not in earlier
    reply = await client.get("/leads?received_from=03/03/2026")
    assert reply.status_code == 400
    assert 'id="filter-from-error">Enter a date like 2026-03-01.' in reply.text
    assert (await client.get("/leads?status=declined")).text.count("lead-row") == 0

    # Accepting from a filtered page lands on the accepted lead, filters kept.
    token = await csrf_token(client, f"/leads?program={referrals}")
    target = rows(by_program)[0]
    reply = await client.post(f"/leads/offers/{target}/accept", data={"_csrf_token": token, "program": referrals})
    assert reply.status_code == 303
    assert reply.headers["location"].startswith(f"/leads?status=accepted&program={referrals}&done=accepted#lead-")
    accepted = (await client.get(reply.headers["location"])).text
    assert rows(accepted) == [target]
    assert re.search(r"buyer@c1[012]\.example", accepted)  # the contact, now that it is accepted

    # Globex sees none of Acme's offers, not by status, program, page or an opened row.
    await sign_in(world.pb_admin)
    for path in ("/leads", "/leads?status=all", f"/leads?decline={offer_id}", "/leads?status=accepted"):
        page = (await client.get(path)).text
        assert rows(page) == [], path
        assert "Company" not in page, path
        assert offer_id not in page, path
    reply = await client.get(f"/leads?program={referrals}")  # not Globex's program: refused by name
    assert reply.status_code == 400
    assert "Choose one of your lead programs." in reply.text
    assert rows(reply.text) == []
