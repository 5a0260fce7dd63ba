"""Intake through HTTP: the API with scoring and duplicate flags, merging, and the public web form."""

from __future__ import annotations

import httpx
from litestar import Litestar

from tests.conftest import World
from tests.lead_distribution.conftest import API, emails_to, lead_body, lead_of, new_lead, ok

FORM = f"{API}/web-to-lead"


async def test_api_intake_scores_and_flags_possible_duplicates(client: httpx.AsyncClient, world: World) -> None:
    hot = await new_lead(
        client,
        world.cm_a,
        time_frame="immediate",
        budget_minor=10_000_000,
        employees=2000,
        current_situation="Replacing 40 branch firewalls",
        currency="USD",
    )
    assert hot["status"] == "new"
    assert hot["score"] == 30 + 20 + 10 + 10 + 5 + 10
    assert hot["band"] == "hot"
    assert hot["size_band"] == "enterprise"
    assert hot["possible_duplicates"] == []

    same_email = await new_lead(client, world.cm_a, first_name="Pete", email="PETER@initech.example")
    assert same_email["possible_duplicates"] == [{"lead_id": hot["id"], "matched_on": ["email"]}]
    same_person = await new_lead(client, world.admin, company="INITECH, Inc.", email="pg@elsewhere.example")
    assert same_person["possible_duplicates"] == [{"lead_id": hot["id"], "matched_on": ["company_and_name"]}]
    colleague = await new_lead(client, world.admin, first_name="Samir", email="samir@initech.example")
    assert colleague["possible_duplicates"] == []
    # The earlier lead shows the pairs too.
    flagged = await lead_of(client, world.cm_a, hot)
    assert sorted(d["lead_id"] for d in flagged["possible_duplicates"]) == sorted([same_email["id"], same_person["id"]])

    for actor in (world.pa_admin, world.pa_user, world.leader):
        reply = await client.post(f"{API}/leads", json=lead_body(), headers=actor.headers)
        assert reply.status_code == 403, actor.email
    headers = world.cm_a.headers | {"Idempotency-Key": "lead-1"}
    first = await ok(await client.post(f"{API}/leads", json=lead_body(company="Hooli"), headers=headers), 201)
    again = await client.post(f"{API}/leads", json=lead_body(company="Hooli"), headers=headers)
    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    assert again.headers["idempotent-replayed"] == "true"


async def test_bad_intake_names_the_field_and_writes_nothing(client: httpx.AsyncClient, world: World) -> None:
    for body, field in (
        (lead_body(email="not-an-email"), "email"),
        (lead_body(time_frame="someday"), "time_frame"),
        (lead_body(budget_minor=-5), "budget_minor"),
        (lead_body(status="converted"), "status"),
    ):
        reply = await client.post(f"{API}/leads", json=body, headers=world.cm_a.headers)
        assert reply.status_code == 400, reply.text
        assert field in reply.json()["detail"]
    unknown_product = await client.post(
        f"{API}/leads", json=lead_body(product_id="0" * 8 + "-0000-7000-8000-" + "0" * 12), headers=world.cm_a.headers
    )
    assert unknown_product.status_code == 422
    assert unknown_product.json()["errors"][0]["field"] == "product_id"
    assert (await ok(await client.get(f"{API}/leads", headers=world.admin.headers)))["items"] == []


async def test_merge_keeps_both_rows_and_histories(client: httpx.AsyncClient, world: World) -> None:
    campaign = await ok(
        await client.post("/api/v1/campaigns", json={"name": "Spring webinar"}, headers=world.admin.headers), 201
    )
    keep = await new_lead(client, world.cm_a, phone=None, title=None)
    duplicate = await new_lead(client, world.cm_a, phone="+1 555 0199", title="CTO", employees=120)
    await ok(
        await client.post(
            f"/api/v1/campaigns/{campaign['id']}/members",
            json={"lead_id": duplicate["id"]},
            headers=world.admin.headers,
        ),
        201,
    )
    assert (await lead_of(client, world.cm_a, keep))["possible_duplicates"][0]["lead_id"] == duplicate["id"]

    url = f"{API}/leads/{keep['id']}/merge"
    stale = await client.post(
        url,
        json={
            "expected_version": keep["version"],
            "duplicate_id": duplicate["id"],
            "duplicate_version": duplicate["version"] + 1,
        },
        headers=world.cm_a.headers,
    )
    assert stale.status_code == 409
    itself = await client.post(
        url,
        json={"expected_version": keep["version"], "duplicate_id": keep["id"], "duplicate_version": 1},
        headers=world.cm_a.headers,
    )
    assert itself.status_code == 422
    merged = await ok(
        await client.post(
            url,
            json={
                "expected_version": keep["version"],
                "duplicate_id": duplicate["id"],
                "duplicate_version": duplicate["version"],
            },
            headers=world.cm_a.headers,
        )
    )
    assert (merged["phone"], merged["title"], merged["employees"]) == ("+1 555 0199", "CTO", 120)
    assert merged["possible_duplicates"] == []
    retired = await lead_of(client, world.cm_a, duplicate)
    assert retired["status"] == "disqualified"
    assert retired["disqualified_reason"] == "duplicate"
    assert retired["merged_into_id"] == keep["id"]
    members = (await ok(await client.get(f"/api/v1/campaigns/{campaign['id']}/members", headers=world.admin.headers)))[
        "items"
    ]
    assert [m["lead_id"] for m in members] == [keep["id"]]

    kept_history = (
        await ok(await client.get(f"/api/v1/leads/{keep['id']}/history?sort=at", headers=world.cm_a.headers))
    )["items"]
    assert [h["action"] for h in kept_history] == ["created", "merged"]
    assert kept_history[1]["changes"]["phone"] == [None, "+1 555 0199"]
    gone_history = (
        await ok(await client.get(f"/api/v1/leads/{duplicate['id']}/history?sort=at", headers=world.cm_a.headers))
    )["items"]
    assert [h["action"] for h in gone_history] == ["created", "merged_into"]
    assert gone_history[1]["actor_id"] == str(world.cm_a.user_id)
    again = await client.post(
        url,
        json={
            "expected_version": merged["version"],
            "duplicate_id": duplicate["id"],
            "duplicate_version": retired["version"],
        },
        headers=world.cm_a.headers,
    )
    assert again.status_code == 409
    assert again.json()["current_state"] == "disqualified"


async def _form(client: httpx.AsyncClient, world: World) -> dict[str, str]:
    campaign = await ok(
        await client.post("/api/v1/campaigns", json={"name": "Website"}, headers=world.admin.headers), 201
    )
    return dict(
        await ok(
            await client.post(
                f"{API}/web-forms",
                json={
                    "name": "Contact us",
                    "campaign_id": campaign["id"],
                    "auto_response_subject": "We got your request",
                    "auto_response_text": "A specialist will call you within one business day.",
                },
                headers=world.cm_a.headers,
            ),
            201,
        )
    )


FIELDS = {
    "first_name": "Joanna",
    "last_name": "Smith",
    "email": "Joanna@Chotchkies.example",
    "company": "Chotchkie's",
    "country": "US",
    "phone": "",
    "message": "We need SD-WAN for 12 restaurants",
    "homepage": "",
    "submit": "Send",
}


async def test_web_form_takes_a_lead_and_answers_it(client: httpx.AsyncClient, world: World, app: Litestar) -> None:
    form = await _form(client, world)
    assert form["key"]
    assert form["campaign_id"]
    reply = await client.post(f"{FORM}/{form['key']}", data=FIELDS)  # no token: a public page posts it
    assert reply.status_code == 202, reply.text
    assert reply.json() == {"received": True}
    [lead] = (await ok(await client.get(f"{API}/leads", headers=world.cm_a.headers)))["items"]
    assert (lead["source"], lead["campaign_id"], lead["email"]) == (
        "web",
        form["campaign_id"],
        "joanna@chotchkies.example",
    )
    assert lead["current_situation"] == "We need SD-WAN for 12 restaurants"
    assert lead["phone"] is None  # an empty input is no value
    [mail] = await emails_to(app, "joanna@chotchkies.example")
    assert mail["subject"] == "We got your request"
    assert "Dear Joanna" in mail["text"]
    assert "one business day" in mail["text"]
    history = (await ok(await client.get(f"/api/v1/leads/{lead['id']}/history", headers=world.cm_a.headers)))["items"]
    assert history[0]["actor_id"] is None


async def test_web_form_turns_away_bots_bad_input_and_floods(
    client: httpx.AsyncClient, world: World, app: Litestar
) -> None:
    form = await _form(client, world)
    url = f"{FORM}/{form['key']}"
    bot = await client.post(url, data=FIELDS | {"homepage": "http://spam.example", "email": "bot@spam.example"})
    assert bot.status_code == 202
    assert bot.json() == {"received": True}
    assert await emails_to(app, "bot@spam.example") == []
    assert (await client.post(f"{FORM}/no-such-key", data=FIELDS)).status_code == 404
    bad_email = await client.post(url, data=FIELDS | {"email": "joanna"})
    assert bad_email.status_code == 400
    assert bad_email.json()["errors"][0]["field"] == "email"
    missing = await client.post(url, data={k: v for k, v in FIELDS.items() if k != "last_name"})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "last_name"
    formula = await client.post(url, data=FIELDS | {"company": '=HYPERLINK("http://evil")'})
    assert formula.status_code == 422
    assert formula.json()["errors"][0]["field"] == "company"
    assert (await ok(await client.get(f"{API}/leads", headers=world.cm_a.headers)))["items"] == []
    # Five requests so far from this address; the limit is ten a minute.
    replies = [await client.post(url, data=FIELDS | {"email": f"p{i}@ok.example"}) for i in range(6)]
    assert [r.status_code for r in replies] == [202, 202, 202, 202, 202, 429]
    assert replies[-1].headers["content-type"].startswith("application/problem+json")
    paused = await client.patch(
        f"{API}/web-forms/{form['id']}",
        json={"expected_version": form["version"], "active": False},
        headers=world.cm_a.headers,
    )
    assert paused.json()["active"] is False


async def test_crm_patch_can_no_longer_move_the_status(client: httpx.AsyncClient, world: World) -> None:
    lead = await new_lead(client, world.cm_a)
    for status in ("converted", "accepted", "routed"):
        reply = await client.patch(
            f"/api/v1/leads/{lead['id']}",
            json={"expected_version": lead["version"], "status": status},
            headers=world.admin.headers,
        )
        assert reply.status_code == 400, reply.text
        assert "unknown field `status`" in reply.json()["detail"]
    assert (await lead_of(client, world.cm_a, lead))["status"] == "new"
