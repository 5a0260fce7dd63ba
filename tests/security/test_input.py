"""Input no database can keep is refused at the edge: the NUL character, in any field.

PostgreSQL refuses NUL in text and JSON columns; before the check, a NUL in a JSON field, a query
parameter or a form field came back as a 500 there (found by the Schemathesis run). Now it is a
400 naming the field, on both databases, and nothing is written.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PASSWORD, World

Client = httpx.AsyncClient


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Acme\u0000"}, "name"),
        ({"name": "Acme", "industry": "\u0000"}, "industry"),
        ({"name": "Acme", "\u0000": "x"}, ""),
    ],
)
async def test_nul_in_a_json_field_is_a_400_naming_it(client: Client, world: World, body: dict, field: str) -> None:
    reply = await client.post("/api/v1/accounts", json=body, headers=world.pa_user.headers)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["errors"][0]["field"] == (field or "body")
    assert (await client.get("/api/v1/accounts", headers=world.admin.headers)).json()["items"] == []


async def test_nul_nested_in_a_list_is_named_with_its_place(client: Client, world: World) -> None:
    body = {"url": "https://hooks.example/in", "event_types": ["account.created", "x\u0000"]}
    reply = await client.post("/api/v1/webhooks", json=body, headers=world.admin.headers)
    assert reply.status_code == 400, reply.text
    assert reply.json()["errors"][0]["field"] == "event_types[1]"


async def test_nul_in_a_query_parameter_is_a_400(client: Client, world: World) -> None:
    reply = await client.get("/api/v1/accounts", params={"q": "Ac\u0000me"}, headers=world.pa_user.headers)
    assert reply.status_code == 400, reply.text
    assert reply.json()["errors"][0]["field"] == "q"


async def test_nul_in_a_form_field_is_a_400(client: Client, world: World) -> None:
    form = {"username": world.pa_user.email + "\u0000", "password": PASSWORD}
    reply = await client.post("/api/v1/auth/token", data=form)
    assert reply.status_code == 400, reply.text
    assert reply.json()["errors"][0]["field"] == "username"


async def test_text_without_nul_still_goes_through(client: Client, world: World) -> None:
    """The control: the same requests without the NUL (and an escaped backslash-u text) succeed."""
    body = {"name": "Acme \\u0000 Holdings", "industry": "Widgets"}
    created = await client.post("/api/v1/accounts", json=body, headers=world.pa_user.headers)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Acme \\u0000 Holdings"
    found = await client.get("/api/v1/accounts", params={"q": "Acme"}, headers=world.pa_user.headers)
    assert [a["id"] for a in found.json()["items"]] == [created.json()["id"]]
    signed_in = await client.post("/api/v1/auth/token", data={"username": world.pa_user.email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
