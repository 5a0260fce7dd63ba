"""What the README says about settings, lists and histories is what the code does.

- Its settings table names every field of `Settings`, each with its real default (so a setting
  added without documenting it fails here).
- Walking the OpenAPI document over the demo data: every GET list answers the paged envelope
  (except the short lists the README names), and every record has `/{id}/history` (except the ones
  the README names), each answering the envelope with the record's entries.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from prm.credits.service import record_credit
from prm.demo import DEMO_PASSWORD, load_demo
from prm.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
PAGE_PARAMETERS = {"limit", "cursor", "sort"}


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _settings_table() -> dict[str, str]:
    """{PRM_NAME: default cell} from the README's settings table."""
    section = _readme().split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`PRM_"):
            assert cells[0].count("`") == 2, f"one variable per row: {line}"
            rows[cells[0].strip("`")] = cells[2]
    return rows


def _documented_default(value: Any) -> str:
    """How the table writes a default: none for an empty one, else the value as it is typed."""
    if value == "":
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _good_environment(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "key.pem"
    key.write_text("not read at load time")
    return {"PRM_JWT_PRIVATE_KEY_FILE": str(key), "PRM_SECRET_KEY": "s" * 40}


def test_the_settings_table_has_every_setting_with_its_real_default(tmp_path: Path) -> None:
    table = _settings_table()
    fields = {f"PRM_{field.name.upper()}": field.default for field in msgspec.structs.fields(Settings)}
    assert sorted(table) == sorted(fields), "the README's settings table and prm/settings.py differ"
    good = _good_environment(tmp_path)
    for variable, cell in table.items():
        if cell == "required":
            without = {k: v for k, v in good.items() if k != variable}
            with pytest.raises(SettingsError, match=f"^{variable}:"):
                load_settings(without)
        else:
            assert cell == _documented_default(fields[variable]), variable


def _bullet(starting: str) -> str:
    """One bullet of the README's API section, its continuation lines joined."""
    section = _readme().split("## The API", 1)[1].split("\n## ", 1)[0]
    bullets = [" ".join(part.split()) for part in section.split("\n- ")]
    [found] = [b for b in bullets if b.lstrip("- ").startswith(starting)]
    return found


def _named(text: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", text))


def _without_history() -> set[str]:
    return {f"{API}/{name}" for name in _named(_bullet("Every record has its history").split("except", 1)[1])}


def _whole_lists() -> set[str]:
    return {f"{API}/{name}" for name in _named(_bullet("Lists are keyset-paged").split("come whole", 1)[1])}


def _generic(path: str) -> str:
    return re.sub(r"\{\w+\}", "{id}", path)


def _is_list(operation: dict[str, Any]) -> bool:
    content = operation["responses"].get("200", {}).get("content", {})
    schema = next(iter(content.values()), {}).get("schema", {})
    return schema.get("type") == "array" or schema.get("$ref", "").startswith("#/components/schemas/Page_")


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(0)], path)


class Walker:
    """Reads the API as the vendor admin, finding real ids in the parent lists."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def get(self, url: str, **params: Any) -> Any:
        reply = await self.client.get(url, params=params, headers=self.headers)
        assert reply.status_code == 200, f"GET {url}: {reply.status_code} {reply.text}"
        return reply.json()

    async def an_id_in(self, collection: str) -> str:
        page = await self.get(collection, limit=1)
        assert page["items"], f"the demo data has nothing in {collection}"
        return str(page["items"][0]["id"])

    async def url_of(self, path: str) -> str:
        """`path` with each {id} taken from the list in front of it (demo data)."""
        ids: dict[str, str] = {}
        for match in re.finditer(r"\{\w+\}", path):
            collection = _fill(path[: match.start()].rstrip("/"), ids)
            # A record's external sharing sits under connect/records/<kind>; its ids are the kind's.
            collection = collection.replace(f"{API}/connect/records/", f"{API}/")
            ids[match.group(0)] = await self.an_id_in(collection)
        return _fill(path, ids)


@pytest.fixture
async def walker(app: Litestar, client: httpx.AsyncClient, settings: Settings) -> Walker:
    """The demo data, plus what it lacks: a credit (the demo closes no deal with proof), a
    web-to-lead form, a referral and a connection invitation."""
    await load_demo(settings)
    walker = Walker(client, await _headers(client, "admin@northwind.example"))
    registration = (await walker.get(f"{API}/deal-registrations", limit=1))["items"][0]
    async with app.state.db.unit_of_work() as session:
        await record_credit(
            session,
            partner_id=uuid.UUID(registration["partner_id"]),
            source_type="deal_registration",
            source_id=uuid.UUID(registration["id"]),
            description="Proof of a won deal",
            basis_minor=100_000_00,
            rate_bps=500,
            amount_minor=5_000_00,
            currency="EUR",
        )
    campaign = (await walker.get(f"{API}/campaigns", limit=1))["items"][0]
    form = {"name": "Contact us", "campaign_id": campaign["id"]}
    made = await client.post(f"{API}/distribution/web-forms", json=form, headers=walker.headers)
    assert made.status_code == 201, made.text
    await _a_referral(walker)
    invitation = {"peer_url": "http://127.0.0.1:9/", "contact_email": "admin@partner.example"}
    made = await client.post(f"{API}/connect/connections", json=invitation, headers=walker.headers)
    assert made.status_code == 201, made.text
    hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}  # its own creation is its first delivery
    made = await client.post(f"{API}/webhooks", json=hook, headers=walker.headers)
    assert made.status_code == 201, made.text
    return walker


async def _headers(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    token = await client.post("/api/v1/auth/token", data={"username": email, "password": DEMO_PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def _a_referral(walker: Walker) -> None:
    """Acme applies to the referral program, is approved, and its seller refers a lead."""
    client = walker.client
    program = (await walker.get(f"{API}/distribution/referral-programs", limit=1))["items"][0]
    acme_admin = await _headers(client, "admin@acme.example")
    applied = await client.post(
        f"{API}/distribution/referral-programs/{program['id']}/applications", json={}, headers=acme_admin
    )
    assert applied.status_code == 201, applied.text
    approved = await client.post(
        f"{API}/distribution/referral-memberships/{applied.json()['id']}/decision",
        json={"expected_version": applied.json()["version"], "approve": True},
        headers=walker.headers,
    )
    assert approved.status_code in (200, 201), approved.text
    lead = {"program_id": program["id"], "first_name": "Bill", "last_name": "Lumbergh", "company": "Initrode"}
    referred = await client.post(
        f"{API}/distribution/referrals", json=lead, headers=await _headers(client, "seller@acme.example")
    )
    assert referred.status_code == 201, referred.text


async def test_every_list_is_keyset_paged(walker: Walker) -> None:
    paths = (await walker.get("/schema/openapi.json"))["paths"]
    lists = {path: item["get"] for path, item in paths.items() if "get" in item and _is_list(item["get"])}
    whole = {path for path in lists if _generic(path) in _whole_lists()}
    assert {_generic(path) for path in whole} == _whole_lists(), "the README names a list that is not there"
    assert f"{API}/distribution/routing-rules" in lists
    for path, operation in lists.items():
        url = await walker.url_of(path)
        reply = await walker.get(url, limit=1)
        if path in whole:
            assert isinstance(reply, list), path
            continue
        assert {p["name"] for p in operation.get("parameters", [])} >= PAGE_PARAMETERS, path
        assert set(reply) == {"items", "next_cursor"}, path
        if reply["next_cursor"]:
            following = await walker.get(url, limit=1, cursor=reply["next_cursor"])
            assert following["items"] != reply["items"], path


async def test_every_record_has_its_history(walker: Walker) -> None:
    paths = (await walker.get("/schema/openapi.json"))["paths"]
    records = [path for path, item in paths.items() if "get" in item and re.fullmatch(r".*/\{\w+\}", path)]
    exempt = {path for path in records if path.rsplit("/", 1)[0] in _without_history()}
    assert {path.rsplit("/", 1)[0] for path in exempt} == _without_history(), "the README names what is not there"
    assert f"{API}/deal-programs/{{program_id}}" in records
    for path in records:
        if path in exempt:
            assert f"{path}/history" not in paths, f"{path} has a history after all: take it off the README's list"
            continue
        assert f"{path}/history" in paths, f"{path} has no /history"
        url = await walker.url_of(path)
        history = await walker.get(f"{url}/history")
        assert set(history) == {"items", "next_cursor"}, path
        assert history["items"], f"{url}/history is empty"
        assert {entry["entity_id"] for entry in history["items"]} == {url.rsplit("/", 1)[1]}
