"""Pages over HTTP: what each role's home page shows, and the vendor admins' mailbox."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from prm.core.clock import ManualClock
from prm.core.outbox import enqueue_email
from prm.crm.models import Account
from tests.conftest import World
from tests.portal.conftest import SignIn

_NEXT_LINK = re.compile(r'href="(/mailbox\?cursor=[^"]+)" rel="next"')


async def test_partner_home_shows_its_organisation_and_only_its_counts(sign_in: SignIn, world: World) -> None:
    async with world.db.unit_of_work() as session:
        session.add_all(
            [
                Account(name="Initrode", normalized_name="initrode", partner_id=world.partner_a),
                Account(name="Umbrella", normalized_name="umbrella", partner_id=world.partner_a),
                Account(name="Hooli", normalized_name="hooli", partner_id=world.partner_b),
                Account(name="Vendor direct", normalized_name="vendor direct", partner_id=None),
            ]
        )

    client = await sign_in(world.pb_user)
    page = (await client.get("/")).text
    assert "<h1>Globex Integrators</h1>" in page
    assert "Acme" not in page
    assert _fact(page, "Accounts") == 1
    for link in ('href="/deals/new"', 'href="/deals"', 'href="/leads"'):
        assert link in page

    client = await sign_in(world.pa_admin)
    page = (await client.get("/")).text
    assert "<h1>Acme Resellers</h1>" in page
    assert _fact(page, "Accounts") == 2
    assert _fact(page, "Opportunities") == 0


async def test_channel_manager_home_lists_only_their_partners(sign_in: SignIn, world: World) -> None:
    page = (await (await sign_in(world.cm_b)).get("/")).text
    assert "Globex Integrators" in page
    assert "Acme Resellers" not in page
    assert 'href="/reviews"' in page


async def test_vendor_admin_home_counts_partners_mail_and_dead_letters(sign_in: SignIn, world: World) -> None:
    async with world.db.unit_of_work() as session:
        for n in range(3):
            enqueue_email(session, to=f"p{n}@acme.test", subject="Hello", text="Hi")
    page = (await (await sign_in(world.admin)).get("/")).text
    assert _fact(page, "Partners") == 2
    assert _fact(page, "Emails in the mailbox") == 3
    assert _fact(page, "Outbox dead letters") == 0
    for link in ('href="/partners"', 'href="/mailbox"', 'href="/outbox/dead"', 'href="/webhooks"'):
        assert link in page


async def test_leadership_home_links_the_dashboard(sign_in: SignIn, world: World) -> None:
    page = (await (await sign_in(world.leader)).get("/")).text
    assert "<h1>Leadership</h1>" in page
    assert 'href="/dashboard"' in page
    assert _fact(page, "Partners") == 2


async def test_mailbox_pages_newest_first_with_a_cursor(sign_in: SignIn, world: World, clock: ManualClock) -> None:
    for n in range(25):
        async with world.db.unit_of_work() as session:
            enqueue_email(session, to=f"user{n}@acme.test", subject=f"Message {n:02d}", text=f"Body <{n}>")
        clock.advance(timedelta(minutes=1))
    client = await sign_in(world.admin)

    first = (await client.get("/mailbox")).text
    subjects = re.findall(r'class="mail-subject">Message (\d+)<', first)
    assert subjects == [f"{n:02d}" for n in range(24, 4, -1)]
    assert "Body &lt;24&gt;" in first  # bodies are text, escaped, never HTML
    assert '<time datetime="2026-03-02T09:24:00Z" title="2 Mar 2026, 09:24 UTC">' in first
    next_link = _NEXT_LINK.search(first)
    assert next_link

    second = (await client.get(html.unescape(next_link.group(1)))).text
    assert re.findall(r'class="mail-subject">Message (\d+)<', second) == ["04", "03", "02", "01", "00"]
    assert _NEXT_LINK.search(second) is None


async def test_mailbox_is_for_vendor_admins_only(sign_in: SignIn, world: World) -> None:
    for actor in (world.pa_admin, world.pa_user, world.cm_a, world.leader):
        reply = await (await sign_in(actor)).get("/mailbox")
        assert reply.status_code == 403, actor.email
        assert reply.headers["content-type"].startswith("text/html")


async def test_bad_mailbox_cursor_is_a_400_page(sign_in: SignIn, world: World) -> None:
    reply = await (await sign_in(world.admin)).get("/mailbox?cursor=not-a-cursor")
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("text/html")
    assert "The cursor is not valid for this list." in reply.text


def _fact(page: str, label: str) -> int:
    found = re.search(rf'fact-value">(\d+)</span>\s*<span class="fact-label">{re.escape(label)}<', page)
    assert found, f"no fact {label!r} on the page"
    return int(found.group(1))
